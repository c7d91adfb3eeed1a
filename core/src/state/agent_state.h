// The agent's persisted view of the world: what `status` shows and what the
// daemon needs after a restart. Stored as JSON inside a StateFile (0600,
// atomic, integrity-checked) at Paths::stateFile().
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "livepatch/error.h"
#include "package/patch_package.h"
#include "util/spelling.h"

namespace livepatch {

// The states, spelled as in the Canonical client's status output (the state
// file, the server report and `status` all use these words).

// The last conversation with the server.
// Stale: the signed catalogue (TUF timestamp) has expired, a freeze attack
// or an unmaintained mirror; never shown as "nothing to apply".
enum class CheckState { NeedsCheck, Checked, CheckFailed, Stale };
// Where the patch decision came from: the server's unsigned answer, or the
// TUF-signed catalogue under the pinned trust root.
enum class CatalogueKind { Unsigned, Signed };

// Our live patch for the running kernel.
enum class PatchState {
    Unapplied,
    Applying,
    Applied,
    AppliedWithBug,
    ApplyFailed,
    NothingToApply,
    KernelUpgradeRequired,
    Unknown
};

// What the server says of the running kernel ("supported" in its answer).
enum class KernelSupport { Supported, KernelUpgradeRequired, KernelEndOfLife, Unsupported, Unknown };

template <>
struct Spellings<CheckState> {
    static constexpr std::pair<CheckState, const char*> table[] = {{CheckState::NeedsCheck, "needs-check"},
                                                                   {CheckState::Checked, "checked"},
                                                                   {CheckState::CheckFailed, "check-failed"},
                                                                   {CheckState::Stale, "stale"}};
};
template <>
struct Spellings<CatalogueKind> {
    static constexpr std::pair<CatalogueKind, const char*> table[] = {{CatalogueKind::Unsigned, "unsigned"},
                                                                      {CatalogueKind::Signed, "signed"}};
};

template <>
struct Spellings<PatchState> {
    static constexpr std::pair<PatchState, const char*> table[] = {
        {PatchState::Unapplied, "unapplied"},
        {PatchState::Applying, "applying"},
        {PatchState::Applied, "applied"},
        {PatchState::AppliedWithBug, "applied-with-bug"},
        {PatchState::ApplyFailed, "apply-failed"},
        {PatchState::NothingToApply, "nothing-to-apply"},
        {PatchState::KernelUpgradeRequired, "kernel-upgrade-required"},
        {PatchState::Unknown, "unknown"}};
};

template <>
struct Spellings<KernelSupport> {
    static constexpr std::pair<KernelSupport, const char*> table[] = {
        {KernelSupport::Supported, "supported"},
        {KernelSupport::KernelUpgradeRequired, "kernel-upgrade-required"},
        {KernelSupport::KernelEndOfLife, "kernel-end-of-life"},
        {KernelSupport::Unsupported, "unsupported"},
        {KernelSupport::Unknown, "unknown"}};
};

struct AppliedPatchRecord {
    std::string kernel;  // version signature it was applied to
    std::string name;    // livepatch name
    std::string version;
    std::string tarballSha256;
    std::string moduleSha256;
    std::string cachePath;  // verified tarball kept in the cache dir
    std::string appliedAt;  // RFC 3339
    std::string bootId;     // boot id of the kernel it was (last) loaded into
    std::vector<PatchFix> fixes;
};

// What the kernel held for our livepatch name when the state was last
// reconciled with it (Loader::list()). `version` is what the loaded module
// declares in its signed .modinfo; "" means it declares none, so the version
// in the kernel is unknown (never assumed to be the recorded one).
struct KernelPatchView {
    std::string name;
    std::string version;
    bool enabled = false;
    bool transitioning = false;
};

struct AgentState {
    int format = 1;
    bool enabled = false;
    std::string serverUrl;  // server the machine is registered with
    std::string tier;
    // Name of the auth plugin that accepted the enable token (e.g. auth-token,
    // auth-resource-token): it makes every later request's authorization.
    // Stored, and shown by `status --verbose`, as "token-kind" (unchanged
    // wire name).
    std::string authPlugin;
    std::string tokenDigest;       // SHA-256 of the enable token (idempotent re-enable)
    std::string availableVersion;  // newest offer not applied (no-apply mode, policy)

    std::string kernel;        // running kernel (version signature) at the last check
    std::string architecture;  // its architecture
    std::string lastCheck;     // RFC 3339, "" if never
    CheckState checkState = CheckState::NeedsCheck;
    std::string checkError;                             // one line, no server HTML, no secrets
    CatalogueKind catalogue = CatalogueKind::Unsigned;  // at the last check
    std::string catalogueExpires;    // signed: timestamp.json's expiry (RFC 3339) at the last good check
    long long catalogueVersion = 0;  // signed: timestamp.json's version
    std::string etag;                // for If-None-Match
    std::string etagPolicy;          // fingerprint of the policy config the etag was taken under

    KernelSupport supported = KernelSupport::Unknown;
    std::string upgradeRequiredDate;

    PatchState patchState = PatchState::Unapplied;
    std::string patchError;                     // one line
    std::optional<AppliedPatchRecord> applied;  // for the running kernel
    std::vector<PatchFix> fixes;                // of the applied patch
    std::optional<KernelPatchView> inKernel;    // our patch as the kernel shows it; none = not loaded

    // Crash-safety guard: set just before a load, cleared after success.
    std::string loadingPatch;   // "name version", "" if none
    std::string loadingBootId;  // boot id at the time of the load
    std::string loadingAt;      // RFC 3339
    // The verified patch being put into the kernel, recorded before the
    // kernel is touched: if the process dies after the kernel took it, the
    // next reconciliation adopts it as applied (its tarball is in the cache).
    std::optional<AppliedPatchRecord> loadingRecord;
    bool crashGuard = false;  // set when a crash after load was detected

    // Kernel health snapshot taken right after the last load.
    unsigned long long healthTaint = 0;
    unsigned long long healthOops = 0;

    std::string toJson() const;
    static Result<AgentState> fromJson(const std::string& json);
    // From the StateFile at `path`: never-enabled defaults if there is none;
    // a damaged file is StateCorrupt naming it (never reset).
    static Result<AgentState> load(const std::string& path);
};

}  // namespace livepatch
