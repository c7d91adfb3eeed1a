#include "engine/state_changes.h"

#include <optional>

#include "livepatch/text.h"
#include "util/fs.h"

namespace livepatch {

namespace {

// Prefix of the patch error reconcile() writes when the kernel disagrees
// with the record; replaced at each reconciliation.
constexpr const char* kKernelNote = "the kernel holds ";

// A load interrupted on this boot (the process was killed or stopped): did
// the kernel take the new version? Adopted if so, forgotten (with its
// tarball) if not.
void settleInterruptedLoad(AgentState& st, const KernelInfo& kernel, const std::optional<LoadedPatch>& inKernel,
                           const std::string& now, Logger& logger) {
    const AppliedPatchRecord& pending = *st.loadingRecord;
    const bool oldOfSameName =
        st.applied && st.applied->name == pending.name && st.applied->kernel == kernel.versionSignature;
    const bool tookIt = inKernel && inKernel->enabled &&
                        (inKernel->version.empty() ? !oldOfSameName : inKernel->version == pending.version);
    if (tookIt) {
        if (st.applied && st.applied->cachePath != pending.cachePath) (void)fs::removeFile(st.applied->cachePath);
        st.applied = pending;
        st.applied->appliedAt = st.loadingAt.empty() ? now : st.loadingAt;
        st.applied->bootId = kernel.bootId;
        st.fixes = pending.fixes;
        st.etag.clear();  // our report changes
        logger.warning("an interrupted load of patch " + pending.name + " " + pending.version +
                       " reached the kernel; recorded as applied");
    } else if (!st.applied || st.applied->cachePath != pending.cachePath) {
        (void)fs::removeFile(pending.cachePath);  // never loaded: not worth keeping
    }
    st.loadingRecord.reset();
}

}  // namespace

Status reconcile(AgentState& st, const KernelInfo& kernel, Loader& loader, const std::string& now, Logger& logger) {
    auto listed = loader.list();
    if (!listed) return listed.error().wrap("cannot read the live patches in the kernel");
    auto find = [&](const std::string& name) -> std::optional<LoadedPatch> {
        for (const auto& p : *listed)
            if (p.name == name) return p;
        return std::nullopt;
    };
    if (st.loadingRecord && st.loadingBootId == kernel.bootId)
        settleInterruptedLoad(st, kernel, find(st.loadingRecord->name), now, logger);
    if (!st.loadingPatch.empty() && st.loadingBootId == kernel.bootId) clearLoadingMarkers(st);
    st.inKernel.reset();
    std::optional<LoadedPatch> p = appliedToKernel(st, kernel) ? find(st.applied->name) : std::nullopt;
    if (p) st.inKernel = KernelPatchView{p->name, p->version, p->enabled, p->transitioning};
    // A note of an earlier reconciliation is replaced by this one's.
    if (st.patchError.rfind(kKernelNote, 0) == 0) st.patchError.clear();
    const bool failed = st.patchState == PatchState::ApplyFailed;
    if (!p || (!p->enabled && !p->transitioning)) {
        // Nothing of ours in the kernel (a reboot, a revert, an
        // interrupted same-name upgrade): the next cycle loads it again.
        for (PatchState claimed :
             {PatchState::Applied, PatchState::Applying, PatchState::AppliedWithBug, PatchState::Unknown})
            if (st.patchState == claimed) st.patchState = PatchState::Unapplied;
    } else if (p->transitioning && !p->enabled) {
        st.patchState = PatchState::Unknown;
        st.patchError = std::string(kKernelNote) + p->name + " in a transition to unpatched";
    } else if (!p->version.empty() && p->version != st.applied->version) {
        st.patchState = PatchState::Unknown;
        st.patchError = std::string(kKernelNote) + p->name + " version " + p->version + ", not the recorded version " +
                        st.applied->version + "; the next check loads the right one";
        st.etag.clear();
    } else if (p->transitioning) {
        if (!failed) st.patchState = PatchState::Applying;
    } else if (!failed && st.patchState != PatchState::AppliedWithBug) {
        st.patchState = PatchState::Applied;
    }
    return {};
}

bool appliedIsInKernel(const AgentState& st) {
    return st.applied && st.inKernel && st.inKernel->enabled && !st.inKernel->transitioning &&
           (st.inKernel->version.empty() || st.inKernel->version == st.applied->version);
}

bool appliedToKernel(const AgentState& st, const KernelInfo& kernel) {
    return st.applied && st.applied->kernel == kernel.versionSignature;
}

void markLoading(AgentState& st, const AppliedPatchRecord& rec, const KernelInfo& kernel, const std::string& now) {
    st.loadingPatch = rec.name + " " + rec.version;
    st.loadingBootId = kernel.bootId;
    st.loadingAt = now;
    st.loadingRecord = rec;
    st.patchState = PatchState::Applying;
}

void clearLoadingMarkers(AgentState& st) {
    st.loadingPatch.clear();
    st.loadingBootId.clear();
    st.loadingAt.clear();
}

void markApplied(AgentState& st, const AppliedPatchRecord& rec) {
    st.applied = rec;
    st.fixes = rec.fixes;
    st.patchState = PatchState::Applied;
    st.patchError.clear();
    st.availableVersion.clear();
    st.etag.clear();
}

void markChecked(AgentState& st, const std::string& now) {
    st.lastCheck = now;
    st.checkState = CheckState::Checked;
    st.checkError.clear();
}

void markCheckFailed(AgentState& st, const Error& error, const std::string& now) {
    st.lastCheck = now;
    // An expired signed catalogue is its own state: the message says since when.
    st.checkState = error.code() == ErrorCode::Stale ? CheckState::Stale : CheckState::CheckFailed;
    st.checkError = oneLine(error.message());
}

void markFailed(AgentState& st, const Error& error) {
    st.etag.clear();
    if (error.code() == ErrorCode::Cancelled) {
        st.patchError = "the last update was cancelled (" + oneLine(error.message()) + ")";
        return;
    }
    st.patchState = PatchState::ApplyFailed;
    st.patchError = oneLine(error.message());
}

}  // namespace livepatch
