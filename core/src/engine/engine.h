// The patch lifecycle: check -> decide -> fetch -> verify -> install -> report.
//
// The Engine is the only place that knows the protocol, the state model
// and the policy. Each concern has its own file beside this one: policy.h
// (run mode, cutoff-date, patch-delay, the ETag's policy fingerprint),
// crash_guard.h, patch_cache.h (the cache directory), check_in_report.h
// (what the server is told), state_changes.h (every change to the recorded
// state, reconciliation with the kernel included); engine.cpp runs the
// phases. Everything with side effects is injected: plugins (network,
// kernel) via PluginHost, the clock, and the paths (filesystem root).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "config/config.h"
#include "host/plugin_host.h"
#include "livepatch/error.h"
#include "livepatch/plugin.h"
#include "state/agent_state.h"
#include "state/paths.h"

namespace livepatch {

struct EngineDeps {
    Paths paths;
    const Config* config = nullptr;
    // Already loaded and configured. Tests register the fakes of
    // livepatch/testing/plugins.h in it (PluginHost::add).
    PluginHost* host = nullptr;
    Clock* clock = nullptr;
    Logger* logger = nullptr;
};

// Marks, for the length of a scope, a kernel operation (a load, a revert, the
// restore of a reverted version) that this process must not be stopped in
// the middle of: the engine binary's signal handling waits for it (bounded
// by transition-timeout) before it ends the process.
class KernelOperation {
public:
    KernelOperation() noexcept;
    ~KernelOperation();
    KernelOperation(const KernelOperation&) = delete;
    KernelOperation& operator=(const KernelOperation&) = delete;
    static bool inProgress() noexcept;
};

struct CycleResult {
    bool contacted = false;    // reached the server
    bool notModified = false;  // 304
    bool applied = false;      // a new patch was loaded
    std::string summary;       // one line for the CLI
};

// Progress for `refresh`: phase ("check", "download", "unpack", "verify",
// "revert" (the old version of a same-name upgrade), "load", "report") and
// byte counts for downloads.
using PhaseCallback = std::function<void(const std::string& phase, std::uint64_t done, std::uint64_t total)>;

class Engine {
public:
    explicit Engine(EngineDeps deps);
    ~Engine();

    // Validate the token locally (auth plugins), register, persist the
    // credential (0600) and state. AlreadyEnabled (with the fix in the
    // message) if enabled with a different credential; enabling again with
    // the same token and server changes nothing and says so.
    enum class EnableOutcome { Enabled, AlreadyEnabled };
    Result<EnableOutcome> enable(const std::string& token);

    // Revert applied patches (loader), deregister (best effort), delete the
    // credential, mark disabled.
    Status disable(const CancelToken* cancel);

    // One full cycle under the cycle lock.
    Result<CycleResult> runCycle(const PhaseCallback& progress, const CancelToken* cancel);

    // At daemon start: re-apply, from the verified local cache and without
    // the network, the patch recorded as applied for the running kernel
    // (unless the crash guard is set).
    Status reapplyFromCache(const CancelToken* cancel);

    // Post-apply health report (called by the daemon 1, 5, 15 min after load).
    Status healthPing(const CancelToken* cancel);

    // Clear the crash-safety guard (`livepatch-agent clear-lock`).
    Status clearCrashGuard();

    Result<AgentState> loadState() const;

    // The recorded state made to say what the kernel holds now (under the
    // cycle lock; Busy when `wait` is false and a cycle runs), saved and
    // returned: `status` after an interrupted cycle.
    Result<AgentState> reconcileWithKernel(bool wait);

    // Operator override for the next cycle only: allow a lower version than
    // the applied one (`refresh --allow-rollback`).
    void allowRollbackOnce() noexcept;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace livepatch
