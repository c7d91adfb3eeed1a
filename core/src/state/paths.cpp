#include "state/paths.h"

#include <unistd.h>

#include "util/fs.h"

extern char** environ;

namespace livepatch {

namespace {
std::string envOr(const std::map<std::string, std::string>& env, const std::string& key, const std::string& fallback) {
    auto it = env.find(key);
    return it != env.end() && !it->second.empty() ? it->second : fallback;
}
}  // namespace

Paths Paths::resolve(const std::map<std::string, std::string>& env, const std::optional<std::string>& rootOverride) {
    Paths p;
    std::string root = rootOverride ? *rootOverride : envOr(env, "LIVEPATCH_AGENT_ROOT", "");
    if (!root.empty()) {
        p.stateDir = fs::join(root, "state");
        p.cacheDir = fs::join(root, "cache");
        p.runDir = fs::join(root, "run");
    } else if (!envOr(env, "SNAP_COMMON", "").empty()) {
        // $SNAP_COMMON, not the revisioned $SNAP_DATA: `snap revert` must not
        // roll back the applied version, rollback floor and crash guard while
        // the kernel still runs the newer patch.
        p.stateDir = env.at("SNAP_COMMON");
        p.cacheDir = fs::join(p.stateDir, "cache");
        p.runDir = fs::join(p.stateDir, "run");
    } else {
        p.stateDir = "/var/lib/livepatch-agent";
        p.cacheDir = "/var/cache/livepatch-agent";
        p.runDir = "/run/livepatch-agent";
    }
    p.stateDir = envOr(env, "LIVEPATCH_AGENT_STATE_DIR", p.stateDir);
    p.cacheDir = envOr(env, "LIVEPATCH_AGENT_CACHE_DIR", p.cacheDir);
    p.runDir = envOr(env, "LIVEPATCH_AGENT_RUN_DIR", p.runDir);
    p.hostRoot = envOr(env, "LIVEPATCH_AGENT_HOST_ROOT", "/");
    return p;
}

std::map<std::string, std::string> Paths::processEnvironment() {
    std::map<std::string, std::string> env;
    for (char** e = environ; e && *e; ++e) {
        std::string kv = *e;
        auto eq = kv.find('=');
        if (eq != std::string::npos) env[kv.substr(0, eq)] = kv.substr(eq + 1);
    }
    return env;
}

Status Paths::ensure() const {
    LP_TRY(fs::ensurePrivateDir(stateDir));
    LP_TRY(fs::ensurePrivateDir(cacheDir));
    LP_TRY(fs::ensurePrivateDir(runDir));
    return {};
}

}  // namespace livepatch
