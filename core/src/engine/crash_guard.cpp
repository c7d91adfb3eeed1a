#include "engine/crash_guard.h"

#include "engine/state_changes.h"
#include "identity/host_facts.h"
#include "util/fs.h"
#include "util/timeutil.h"

namespace livepatch {

bool crashGuardHolds(AgentState& st, const KernelInfo& kernel, std::chrono::system_clock::time_point now,
                     const std::string& hostRoot, Logger& logger) {
    if (st.crashGuard) return true;
    std::string why;
    if (!st.loadingPatch.empty()) {
        // On the same boot an agent process was stopped mid-load (not a
        // crash of the machine): reconcile() finds out what the kernel took.
        if (st.loadingBootId != kernel.bootId)
            why = "the machine restarted while patch " + st.loadingPatch + " was being loaded";
    } else if (st.applied && st.applied->kernel == kernel.versionSignature && !st.applied->bootId.empty() &&
               st.applied->bootId != kernel.bootId) {
        // Same kernel, new boot: did the previous boot end within the
        // window after the load? The current boot began at now - uptime.
        auto facts =
            readHostFacts(hostRoot, std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count());
        auto appliedAt = timeutil::parseRfc3339(st.applied->appliedAt);
        auto bootedAt = timeutil::parseRfc3339(facts.bootTime);
        if (appliedAt && bootedAt && *bootedAt >= *appliedAt && *bootedAt <= *appliedAt + kCrashGuardWindow)
            why = "the machine restarted less than " + std::to_string(kCrashGuardWindow.count()) +
                  " minutes after patch " + st.applied->name + " " + st.applied->version +
                  " was loaded (possible crash)";
    }
    if (why.empty()) return false;
    st.crashGuard = true;
    st.patchState = PatchState::ApplyFailed;
    st.patchError = why + "; automatic loading is off until `livepatch-agent clear-lock`";
    logger.error(st.patchError);
    return true;
}

Error crashGuardError(const AgentState& st) {
    return Error(
        ErrorCode::CrashGuard,
        (st.patchError.empty() ? std::string("the crash-safety guard is set") : st.patchError) +
            (st.patchError.find("clear-lock") == std::string::npos
                 ? "; not loading automatically. Run `livepatch-agent clear-lock` after checking the kernel log"
                 : ""));
}

void liftCrashGuard(AgentState& st) {
    st.crashGuard = false;
    clearLoadingMarkers(st);
    if (st.loadingRecord && (!st.applied || st.applied->cachePath != st.loadingRecord->cachePath))
        (void)fs::removeFile(st.loadingRecord->cachePath);
    st.loadingRecord.reset();
    // The restart that raised the guard must not raise it again.
    if (st.applied) st.applied->bootId.clear();
    if (st.patchState == PatchState::ApplyFailed)
        st.patchState = st.applied ? PatchState::Applied : PatchState::Unapplied;
    st.patchError.clear();
}

}  // namespace livepatch
