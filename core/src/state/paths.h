// Where the agent keeps things.
//
//   snap (SNAP_COMMON set): config/state $SNAP_COMMON, cache $SNAP_COMMON/cache,
//                          run $SNAP_COMMON/run (never the revisioned
//                          $SNAP_DATA: `snap revert` must not roll state back)
//   otherwise:             state /var/lib/livepatch-agent,
//                          cache /var/cache/livepatch-agent,
//                          run /run/livepatch-agent
//   LIVEPATCH_AGENT_ROOT=<dir> (or --root-dir): everything under <dir>/{state,cache,run}
//   LIVEPATCH_AGENT_STATE_DIR / _CACHE_DIR / _RUN_DIR override one each.
//   LIVEPATCH_AGENT_HOST_ROOT (or --host-root): where host files such as
//   /etc/machine-id and /proc are read from (default "/").
#pragma once

#include <map>
#include <optional>
#include <string>

#include "livepatch/error.h"

namespace livepatch {

struct Paths {
    std::string stateDir;  // 0700
    std::string cacheDir;  // 0700: verified patches, downloads
    std::string runDir;    // 0700: socket, locks
    std::string hostRoot = "/";

    std::string configFile() const { return stateDir + "/config.yaml"; }
    std::string credentialFile() const { return stateDir + "/credential"; }
    std::string stateFile() const { return stateDir + "/state"; }
    std::string emergencyStopFile() const { return stateDir + "/emergency-stop"; }  // see emergency_stop.h
    std::string socketPath() const { return runDir + "/agent.sock"; }
    // Held for the length of every engine operation (a cycle, enable, disable,
    // clear-lock, reconciliation); `status` probes it to say "in progress".
    std::string cycleLockFile() const { return runDir + "/cycle.lock"; }

    // Resolve from an environment map (tests pass their own) and an optional
    // --root-dir override.
    static Paths resolve(const std::map<std::string, std::string>& env,
                         const std::optional<std::string>& rootOverride = std::nullopt);
    // Current process environment.
    static std::map<std::string, std::string> processEnvironment();

    // Create every directory 0700 (refusing symlinks).
    Status ensure() const;
};

}  // namespace livepatch
