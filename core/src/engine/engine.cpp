#include "engine/engine.h"

#include <Poco/JSON/Object.h>
#include <Poco/URI.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <sstream>

#include "protocol/api_client.h"
#include "identity/host_facts.h"
#include "identity/machine_id.h"
#include "state/emergency_stop.h"
#include "state/credential_store.h"
#include "state/state_file.h"
#include "package/module_identity.h"
#include "util/fs.h"
#include "crypto/sha256.h"
#include "util/timeutil.h"

namespace livepatch {

namespace {

std::string oneLine(const Error& e) {
    std::string s = e.message();
    for (auto& c : s)
        if (c == '\n' || c == '\r') c = ' ';
    if (s.size() > 300) s = s.substr(0, 297) + "...";
    return s;
}

// Prefix of the patch error reconcile() writes when the kernel disagrees
// with the record; replaced at each reconciliation.
constexpr const char* kKernelNote = "the kernel holds ";

std::string schemeOf(const std::string& url) {
    auto pos = url.find("://");
    return pos == std::string::npos ? "" : url.substr(0, pos);
}

// PluginHost seen through the Engine's seam.
class HostDirectory : public PluginDirectory {
public:
    explicit HostDirectory(PluginHost* host) : host_(host) {}
    Transport* transportFor(const std::string& scheme) const override { return host_ ? host_->transportFor(scheme) : nullptr; }
    std::vector<Auth*> auths() const override { return host_ ? host_->auths() : std::vector<Auth*>{}; }
    Verifier* verifier(const std::string& name) const override { return host_ ? host_->verifier(name) : nullptr; }
    Loader* loader(const std::string& name) const override { return host_ ? host_->loader(name) : nullptr; }

private:
    PluginHost* host_;
};

std::atomic<int> kernelOperations{0};

}  // namespace

KernelOperation::KernelOperation() noexcept { kernelOperations.fetch_add(1); }
KernelOperation::~KernelOperation() { kernelOperations.fetch_sub(1); }
bool KernelOperation::inProgress() noexcept { return kernelOperations.load() > 0; }

struct Engine::Impl {
    EngineDeps d;
    HostDirectory hostDirectory;
    PluginDirectory* plugins;
    StateFile stateFile;
    CredentialStore creds;
    bool allowRollback = false;

    explicit Impl(EngineDeps deps)
        : d(std::move(deps)),
          hostDirectory(d.host),
          plugins(d.plugins ? d.plugins : &hostDirectory),
          stateFile(d.paths.stateFile()),
          creds(d.paths.credentialFile()) {}

    std::string now() const { return timeutil::formatRfc3339(d.clock->now()); }

    Result<AgentState> load() const { return AgentState::load(stateFile.path()); }
    Status save(const AgentState& s) const { return stateFile.save(s.toJson()); }

    std::string serverUrl() const { return d.config->getOr("remote-server", ""); }

    Result<Transport*> transport(const std::string& url) const {
        const std::string scheme = schemeOf(url);
        if (scheme == "http" && !d.config->allowInsecureHttp())
            return Error(ErrorCode::InsecureRefused,
                         "plain http to " + ApiClient::displayUrl(url) + " is refused; set allow-insecure-http=true to allow it");
        Transport* t = plugins->transportFor(scheme);
        if (!t) return Error(ErrorCode::PluginInvalid, "no transport plugin handles \"" + scheme + "\" URLs");
        return t;
    }

    Result<Loader*> loader() const {
        const std::string name = d.config->getOr("loader", "loader-klp");
        Loader* l = plugins->loader(name);
        if (!l) return Error(ErrorCode::PluginInvalid, "loader plugin \"" + name + "\" is not loaded (see `livepatch-agent plugins`)");
        return l;
    }

    Result<ApiClient> api(const std::string& server) const {
        auto t = transport(server);
        if (!t) return t.error();
        auto id = appSpecificMachineId(d.paths.hostRoot, server);
        if (!id) return id.error().wrap("cannot derive the machine id");
        return ApiClient(*t, server, *id);
    }

    Auth* authFor(const std::string& kind) const {
        for (Auth* a : plugins->auths())
            if (a->info().name == kind) return a;
        return nullptr;
    }

    Result<std::string> authorization(const AgentState& st) const {
        auto c = creds.load();
        if (!c) return c.error();
        if (!c->has_value()) return Error(ErrorCode::NotEnabled, "no credential stored; enable the machine again");
        Auth* a = authFor(st.tokenKind);
        if (!a) return Error(ErrorCode::PluginInvalid, "auth plugin \"" + st.tokenKind + "\" is not loaded");
        return a->requestAuthorization(**c);
    }

    std::string report(const AgentState& st, const KernelInfo& k, const std::string& checkState) const {
        Poco::JSON::Object o(Poco::JSON_PRESERVE_KEY_ORDER);
        auto facts = readHostFacts(d.paths.hostRoot, std::chrono::duration_cast<std::chrono::seconds>(
                                                         d.clock->now().time_since_epoch()).count());
        o.set("kernel", k.versionSignature);
        o.set("architecture", k.architecture);
        if (!facts.bootTime.empty()) o.set("boot-time", facts.bootTime);
        o.set("uptime", facts.uptimeSeconds);
        o.set("client-version", std::string(LIVEPATCH_AGENT_VERSION));
        if (st.applied && st.applied->kernel == k.versionSignature) o.set("patch-version", st.applied->version);
        o.set("patch-state", st.patchState);
        o.set("check-state", checkState);
        auto cutoff = d.config->getOr("cutoff-date", "");
        if (!cutoff.empty()) o.set("cutoff-date", cutoff);
        auto delay = d.config->getOr("patch-delay", "");
        if (!delay.empty()) o.set("patch-delay", delay);
        Poco::JSON::Object::Ptr h(new Poco::JSON::Object);
        h->set("taint", st.healthTaint);
        h->set("oops", st.healthOops);
        o.set("health", h);
        std::ostringstream out;
        o.stringify(out);
        return out.str();
    }

    // A 304 is only meaningful if we would decide the same way as when the
    // ETag was taken: any change to the policy keys invalidates it.
    std::string policyFingerprint() const {
        std::string f;
        for (const char* k : {"cutoff-date", "patch-delay", "run-mode", "verifiers", "signature-hashes", "loader", "keyring-dir",
                              "remote-server", "allow-unversioned-modules"})
            f += std::string(k) + "=" + d.config->getOr(k, "") + "\n";
        return sha256Hex(f).substr(0, 16);
    }

    // Policy: may this offer be applied now?
    Status policyAllows(const PatchOffer& offer) const {
        auto cutoff = d.config->getOr("cutoff-date", "");
        auto delay = d.config->getOr("patch-delay", "");
        if (cutoff.empty() && delay.empty()) return {};
        auto published = timeutil::parseRfc3339(offer.published);
        if (!published)
            return Error(ErrorCode::PolicyRefused, "patch " + offer.version + " has no valid publish date; cutoff-date/patch-delay cannot be checked");
        if (!cutoff.empty()) {
            auto c = timeutil::parseRfc3339(cutoff);
            if (c && *published > *c) return Error(ErrorCode::PolicyRefused, "patch " + offer.version + " was published after cutoff-date " + cutoff);
        }
        if (!delay.empty()) {
            auto dd = timeutil::parseDuration(delay);
            if (dd && *published + *dd > d.clock->now())
                return Error(ErrorCode::PolicyRefused, "patch " + offer.version + " is newer than patch-delay " + delay);
        }
        return {};
    }

    // unpack -> metadata checks -> verifier chain -> crash guard -> load.
    Result<AppliedPatchRecord> verifyAndLoad(const std::string& tarball, const std::string& tarballSha256,
                                             const std::string& expectedName, const std::string& expectedVersion,
                                             const KernelInfo& kernel,
                                             Loader* loader, AgentState& st, const PhaseCallback& progress,
                                             const CancelToken* cancel) {
        const std::string work = fs::join(d.paths.cacheDir, "work-" + sha256Hex(tarball + now()).substr(0, 12));
        struct Cleanup {
            std::string dir;
            ~Cleanup() { (void)fs::removeTree(dir); }
        } cleanup{work};
        if (progress) progress("unpack", 0, 0);
        UnpackLimits limits;
        limits.maxEntries = static_cast<std::uint64_t>(d.config->number("unpack-max-entries"));
        limits.maxTotalBytes = static_cast<std::uint64_t>(d.config->number("unpack-max-bytes"));
        auto pkg = openPatchPackage(tarball, work, limits);
        if (!pkg) return pkg.error();
        const auto& md = pkg->metadata;
        if (md.name != expectedName || md.version != expectedVersion)
            return Error(ErrorCode::Protocol, "patch metadata (" + md.name + " " + md.version + ") does not match the server's offer (" +
                                                  expectedName + " " + expectedVersion + ")");
        if (!md.kernel.empty() && md.kernel != kernel.versionSignature)
            return Error(ErrorCode::Unsupported, "patch is built for kernel " + md.kernel + ", running " + kernel.versionSignature);
        if (!md.architecture.empty() && md.architecture != kernel.architecture)
            return Error(ErrorCode::Unsupported, "patch is built for " + md.architecture + ", running " + kernel.architecture);
        if (cancel && cancel->cancelled()) return Error(ErrorCode::Cancelled, "cancelled");

        if (progress) progress("verify", 0, 0);
        auto bytes = fs::readFile(pkg->modulePath, 512u << 20);
        if (!bytes) return bytes.error();
        ModuleImage image{md.name, pkg->modulePath, *bytes};
        auto names = d.config->list("verifiers");
        if (names.empty()) return Error(ErrorCode::PolicyRefused, "no verifier configured; refusing to load an unverified patch");
        for (const auto& n : names) {
            Verifier* v = plugins->verifier(n);
            if (!v) return Error(ErrorCode::PluginInvalid, "verifier plugin \"" + n + "\" is not loaded; refusing to load");
            auto r = v->verify(image);
            if (!r) return r.error().wrap("verification by " + n + " failed");
            d.logger->info("patch " + md.name + " " + md.version + " verified by " + n + ": " + r->detail);
        }
        // Only the module bytes are signed: its .modinfo, not livepatch.json
        // or the offer, says what is being loaded and which version it is.
        IdentityPolicy identityPolicy;
        identityPolicy.kernelRelease = kernel.release;
        identityPolicy.allowUnversioned = d.config->getOr("allow-unversioned-modules", "false") == "true";
        if (st.applied && st.applied->kernel == kernel.versionSignature) identityPolicy.appliedVersion = st.applied->version;
        identityPolicy.allowRollback = allowRollback;
        auto identity = checkModuleIdentity(*bytes, md, identityPolicy);
        if (!identity) return identity.error();
        if (identity->version.empty())
            d.logger->warning("patch " + md.name + " " + md.version + ": the module declares no signed version; accepted because "
                              "allow-unversioned-modules=true, so rollback protection rests on unsigned metadata");
        if (cancel && cancel->cancelled()) return Error(ErrorCode::Cancelled, "cancelled");

        AppliedPatchRecord rec;
        rec.kernel = kernel.versionSignature;
        rec.name = md.name;
        rec.version = md.version;
        rec.tarballSha256 = tarballSha256;
        rec.moduleSha256 = sha256Hex(*bytes);
        rec.cachePath = tarball;
        rec.fixes = md.fixes;
        PatchSpec spec{md.name, md.version, md.replace};
        return putIntoKernel(image, spec, rec, kernel, loader, st, progress, cancel);
    }

    // Our livepatch `name` as the kernel shows it now.
    std::optional<LoadedPatch> inKernelNow(Loader* loader, const std::string& name) const {
        auto list = loader->list();
        if (!list) return std::nullopt;
        for (const auto& p : *list)
            if (p.name == name) return p;
        return std::nullopt;
    }

    // The verified module into the kernel. The intent, with the whole record,
    // is saved before the kernel is touched: whatever happens after that (a
    // failure, a cancel, SIGKILL), reconcile() can tell from the kernel
    // whether the new version took and adopt it, or keep the old one.
    //
    // A new version under the livepatch name already in the kernel: the
    // kernel cannot hold two modules of one name, so there is no atomic
    // replace. The old version is reverted first (a short window without
    // either, logged), and on every failure after that it is loaded again
    // from the cache. Patches with a new name per version (as kpatch and
    // Canonical build them) are replaced atomically instead.
    Result<AppliedPatchRecord> putIntoKernel(const ModuleImage& image, const PatchSpec& spec, AppliedPatchRecord rec,
                                             const KernelInfo& kernel, Loader* loader, AgentState& st, const PhaseCallback& progress,
                                             const CancelToken* cancel) {
        std::optional<AppliedPatchRecord> sameName;
        if (st.applied && st.applied->name == spec.name && st.applied->version != spec.version &&
            st.applied->kernel == kernel.versionSignature) {
            auto current = inKernelNow(loader, spec.name);
            if (current && current->enabled && (current->version.empty() || current->version != spec.version)) sameName = *st.applied;
        }
        st.loadingPatch = spec.name + " " + spec.version;
        st.loadingBootId = kernel.bootId;
        st.loadingAt = now();
        st.loadingRecord = rec;
        st.patchState = "applying";
        LP_TRY(save(st));
        Status loaded;
        {
            KernelOperation op;
            if (sameName) {
                d.logger->warning("patch " + spec.name + " version " + spec.version + " has the same livepatch name as the applied version " +
                                  sameName->version + "; the kernel cannot hold both, so version " + sameName->version +
                                  " is reverted first (give each version its own name for an atomic replace)");
                if (progress) progress("revert", 0, 0);
                auto u = loader->unload(spec.name, cancel);
                if (!u) loaded = u.error().wrap("reverting " + spec.name + " version " + sameName->version + " before loading version " + spec.version);
            }
            if (loaded && progress) progress("load", 0, 0);
            if (loaded) loaded = loader->load(image, spec, cancel);
        }
        // On failure the markers stay: the caller's reconcile() finds out
        // what the kernel holds (a cancel mid-transition leaves the new
        // version in it) and clears them.
        if (!loaded && sameName) {
            // Not cancellable: even when stopping, put the old version back.
            KernelOperation critical;
            auto back = loadFromCache(*sameName, kernel, loader, st, nullptr, nullptr);
            if (back) {
                st.applied->appliedAt = back->appliedAt;
                st.applied->bootId = back->bootId;
                return loaded.error().wrap("version " + sameName->version + " restored; loading version " + spec.version + " failed");
            }
            return loaded.error().wrap("loading version " + spec.version + " failed and version " + sameName->version +
                                       " could not be restored (" + back.error().message() + "); the next check retries");
        }
        if (!loaded) return loaded.error();
        st.loadingPatch.clear();
        st.loadingBootId.clear();
        st.loadingAt.clear();
        st.loadingRecord.reset();
        if (auto h = loader->health()) {
            st.healthTaint = h->taintMask;
            st.healthOops = h->oopsCount;
        }
        rec.appliedAt = now();
        rec.bootId = kernel.bootId;
        return rec;
    }

    // The kernel is the truth: make `st` say what it holds now, with the
    // version the loaded module itself declares. Called under the cycle lock
    // at the start of every cycle, before every status decision (health,
    // clear-lock, `status` after an interrupted cycle) and after every failed
    // or interrupted load. Markers of another boot are left to the crash
    // guard, which runs first.
    Status reconcile(AgentState& st, const KernelInfo& kernel, Loader* loader) {
        auto listed = loader->list();
        if (!listed) return listed.error().wrap("cannot read the live patches in the kernel");
        auto find = [&](const std::string& name) -> std::optional<LoadedPatch> {
            for (const auto& p : *listed)
                if (p.name == name) return p;
            return std::nullopt;
        };
        if (st.loadingRecord && st.loadingBootId == kernel.bootId) {
            // A load was interrupted on this boot (the process was killed or
            // stopped): did the kernel take the new version?
            const AppliedPatchRecord& pending = *st.loadingRecord;
            auto p = find(pending.name);
            const bool oldOfSameName = st.applied && st.applied->name == pending.name && st.applied->kernel == kernel.versionSignature;
            const bool tookIt = p && p->enabled &&
                                (p->version.empty() ? !oldOfSameName : p->version == pending.version);
            if (tookIt) {
                if (st.applied && st.applied->cachePath != pending.cachePath) (void)fs::removeFile(st.applied->cachePath);
                st.applied = pending;
                st.applied->appliedAt = st.loadingAt.empty() ? now() : st.loadingAt;
                st.applied->bootId = kernel.bootId;
                st.fixes = pending.fixes;
                st.etag.clear();  // our report changes
                d.logger->warning("an interrupted load of patch " + pending.name + " " + pending.version +
                                  " reached the kernel; recorded as applied");
            } else if (!st.applied || st.applied->cachePath != pending.cachePath) {
                (void)fs::removeFile(pending.cachePath);  // never loaded: not worth keeping
            }
            st.loadingRecord.reset();
        }
        if (!st.loadingPatch.empty() && st.loadingBootId == kernel.bootId) {
            st.loadingPatch.clear();
            st.loadingBootId.clear();
            st.loadingAt.clear();
        }
        st.inKernel.reset();
        const bool ours = st.applied && st.applied->kernel == kernel.versionSignature;
        std::optional<LoadedPatch> p = ours ? find(st.applied->name) : std::nullopt;
        if (p) st.inKernel = KernelPatchView{p->name, p->version, p->enabled, p->transitioning};
        // A note of an earlier reconciliation is replaced by this one's.
        if (st.patchError.rfind(kKernelNote, 0) == 0) st.patchError.clear();
        const bool failed = st.patchState == "apply-failed";
        if (!p || (!p->enabled && !p->transitioning)) {
            // Nothing of ours in the kernel (a reboot, a revert, an
            // interrupted same-name upgrade): the next cycle loads it again.
            for (const char* claimed : {"applied", "applying", "applied-with-bug", "unknown"})
                if (st.patchState == claimed) st.patchState = "unapplied";
        } else if (p->transitioning && !p->enabled) {
            st.patchState = "unknown";
            st.patchError = std::string(kKernelNote) + p->name + " in a transition to unpatched";
        } else if (!p->version.empty() && p->version != st.applied->version) {
            st.patchState = "unknown";
            st.patchError = std::string(kKernelNote) + p->name + " version " + p->version + ", not the recorded version " +
                            st.applied->version + "; the next check loads the right one";
            st.etag.clear();
        } else if (p->transitioning) {
            if (!failed) st.patchState = "applying";
        } else if (!failed && st.patchState != "applied-with-bug") {
            st.patchState = "applied";
        }
        return {};
    }

    // Is our applied patch in the running kernel, enabled, its transition
    // done, with the recorded version (or one the module does not declare)?
    // From the reconciled view. A transition still running (an agent was
    // killed while waiting for it) counts as not yet: loading the same
    // version again waits for it.
    static bool appliedIsInKernel(const AgentState& st) {
        return st.applied && st.inKernel && st.inKernel->enabled && !st.inKernel->transitioning &&
               (st.inKernel->version.empty() || st.inKernel->version == st.applied->version);
    }

    // The crash-safety guard. True (and st updated with the reason) if
    // automatic loading must not happen on this boot.
    bool crashGuardActive(AgentState& st, const KernelInfo& kernel) const {
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
            const auto nowTp = d.clock->now();
            auto facts = readHostFacts(d.paths.hostRoot,
                                       std::chrono::duration_cast<std::chrono::seconds>(nowTp.time_since_epoch()).count());
            auto appliedAt = timeutil::parseRfc3339(st.applied->appliedAt);
            auto bootedAt = timeutil::parseRfc3339(facts.bootTime);
            if (appliedAt && bootedAt && *bootedAt >= *appliedAt && *bootedAt <= *appliedAt + kCrashGuardWindow)
                why = "the machine restarted less than " + std::to_string(kCrashGuardWindow.count()) +
                      " minutes after patch " + st.applied->name + " " + st.applied->version + " was loaded (possible crash)";
        }
        if (why.empty()) return false;
        st.crashGuard = true;
        st.patchState = "apply-failed";
        st.patchError = why + "; automatic loading is off until `livepatch-agent clear-lock`";
        d.logger->error(st.patchError);
        return true;
    }

    Error crashGuardError(const AgentState& st) const {
        return Error(ErrorCode::CrashGuard,
                     (st.patchError.empty() ? std::string("the crash-safety guard is set") : st.patchError) +
                         (st.patchError.find("clear-lock") == std::string::npos
                              ? "; not loading automatically. Run `livepatch-agent clear-lock` after checking the kernel log"
                              : ""));
    }

    // The verified tarball kept for `rec`, loaded again: its SHA-256 must
    // still be the recorded one, then it is unpacked and verified by the whole
    // chain as if just downloaded. No network.
    Result<AppliedPatchRecord> loadFromCache(const AppliedPatchRecord& rec, const KernelInfo& kernel, Loader* loader,
                                             AgentState& st, const PhaseCallback& progress, const CancelToken* cancel) {
        auto digest = sha256FileHex(rec.cachePath);
        if (!digest || !digestEquals(*digest, rec.tarballSha256))
            return Error(ErrorCode::ChecksumMismatch,
                         "cached patch " + rec.cachePath + " no longer matches its recorded SHA-256; not loading");
        return verifyAndLoad(rec.cachePath, rec.tarballSha256, rec.name, rec.version, kernel, loader, st, progress, cancel);
    }

    // The applied patch, loaded again from the cache and recorded as applied
    // (or the failure recorded).
    Result<bool> reloadCached(AgentState& st, const KernelInfo& kernel, Loader* loader, const PhaseCallback& progress,
                              const CancelToken* cancel) {
        AppliedPatchRecord prev = *st.applied;
        auto rec = loadFromCache(prev, kernel, loader, st, progress, cancel);
        if (!rec) {
            recordFailure(st, rec.error(), kernel, loader);
            return rec.error();
        }
        st.applied->appliedAt = rec->appliedAt;
        st.applied->bootId = rec->bootId;
        st.applied->moduleSha256 = rec->moduleSha256;
        st.patchState = "applied";
        st.patchError.clear();
        st.etag.clear();  // our report changed: the next check must not be a 304
        (void)reconcile(st, kernel, loader);
        LP_TRY(save(st));
        d.logger->info("re-applied cached patch " + prev.name + " version " + prev.version);
        return true;
    }

    // A failed or cancelled attempt: the state is first reconciled with the
    // kernel (a cancel mid-transition may have left the new version in it),
    // then the failure is recorded. A cancel is the operator's choice, not
    // a failure: the reconciled state stays, with a note.
    void recordFailure(AgentState& st, const Error& e, const KernelInfo& kernel, Loader* loader) {
        st.etag.clear();  // the next check must fetch the offer again, not get a 304
        if (auto r = reconcile(st, kernel, loader); !r) d.logger->warning(r.error().message());
        if (e.code() == ErrorCode::Cancelled) {
            st.patchError = "the last update was cancelled (" + oneLine(e) + ")";
            (void)save(st);
            d.logger->warning("update cancelled: " + e.message());
            return;
        }
        st.patchState = "apply-failed";
        st.patchError = oneLine(e);
        (void)save(st);
        d.logger->error("apply failed: " + e.describe());
    }

    // What interrupted cycles leave behind: unpack work directories, partial
    // downloads of offers that are no longer current (`keepPart` is the one
    // still offered, kept to resume), and tarballs moved into the cache for a
    // load that never got recorded. Runs under the cycle lock.
    void cleanInterrupted(const AgentState& st, const KernelInfo& kernel, const std::optional<std::string>& keepPart) const {
        if (auto entries = fs::listDir(d.paths.cacheDir))
            for (const auto& e : *entries)
                if (e.rfind("work-", 0) == 0) (void)fs::removeTree(fs::join(d.paths.cacheDir, e));
        const std::string keepDir = fs::join(d.paths.cacheDir, kernel.versionSignature);
        if (auto entries = fs::listDir(keepDir))
            for (const auto& e : *entries) {
                const std::string path = fs::join(keepDir, e);
                if ((st.applied && st.applied->cachePath == path) || (st.loadingRecord && st.loadingRecord->cachePath == path)) continue;
                (void)fs::removeFile(path);
            }
        if (!keepPart) return;  // the current offer is not known yet
        const std::string dlDir = fs::join(d.paths.cacheDir, "downloads");
        if (auto entries = fs::listDir(dlDir))
            for (const auto& e : *entries)
                if (e != *keepPart) (void)fs::removeFile(fs::join(dlDir, e));
    }
};

Engine::Engine(EngineDeps deps) : impl_(new Impl(std::move(deps))) {}
Engine::~Engine() = default;

Result<AgentState> Engine::loadState() const { return impl_->load(); }

Result<Engine::EnableOutcome> Engine::enable(const std::string& token) {
    auto& d = impl_->d;
    auto lock = fs::FileLock::acquire(d.paths.pluginLockFile(), true);
    if (!lock) return lock.error();
    auto st = impl_->load();
    if (!st) return st.error();
    const std::string digest = sha256Hex(token);
    Auth* chosen = nullptr;
    TokenInfo info;
    std::optional<Error> specific;  // a plugin's kind of token, but bad (e.g. expired)
    for (Auth* a : impl_->plugins->auths()) {
        auto r = a->inspect(token);
        if (!r) {
            if (!specific) specific = r.error();
            continue;
        }
        if (r->verdict == TokenInspection::Verdict::Mine) {
            chosen = a;
            info = r->info;
            break;
        }
    }
    if (!chosen) {
        if (impl_->plugins->auths().empty()) return Error(ErrorCode::PluginInvalid, "no auth plugin is loaded (see `livepatch-agent plugins`)");
        if (specific) return *specific;
        return Error(ErrorCode::TokenInvalid,
                     "the token is neither an auth token (a UUID) nor a valid resource token (a macaroon)");
    }
    if (st->enabled) {
        if (digestEquals(st->tokenDigest, digest) && st->serverUrl == impl_->serverUrl()) return EnableOutcome::AlreadyEnabled;
        return Error(ErrorCode::AlreadyEnabled,
                     "this machine is already enabled with another token or server; run `livepatch-agent disable` first, then enable again");
    }
    const std::string server = impl_->serverUrl();
    auto api = impl_->api(server);
    if (!api) return api.error();
    auto loader = impl_->loader();
    if (!loader) return loader.error();
    auto kernel = (*loader)->probe();
    if (!kernel) return kernel.error();
    auto header = chosen->registrationAuthorization(token);
    if (!header) return header.error();
    Poco::JSON::Object body(Poco::JSON_PRESERVE_KEY_ORDER);
    body.set("architecture", kernel->architecture);
    body.set("kernel", kernel->versionSignature);
    body.set("client-version", std::string(LIVEPATCH_AGENT_VERSION));
    std::ostringstream out;
    body.stringify(out);
    auto reg = api->registerMachine(*header, out.str(), nullptr);
    if (!reg) return reg.error().wrap("registration failed");
    auto cred = chosen->credentialFromRegistration(token, *reg);
    if (!cred) return cred.error();
    LP_TRY(impl_->creds.save(*cred));
    AgentState next;
    next.enabled = true;
    next.serverUrl = server;
    next.tier = reg->tier;
    next.tokenKind = chosen->info().name;
    next.tokenDigest = digest;
    next.kernel = kernel->versionSignature;
    next.architecture = kernel->architecture;
    LP_TRY(impl_->save(next));
    d.logger->info("machine enabled with " + info.kind + " (tier " + reg->tier + ")");
    return EnableOutcome::Enabled;
}

Status Engine::disable(const CancelToken* cancel) {
    auto& d = impl_->d;
    auto lock = fs::FileLock::acquire(d.paths.pluginLockFile(), true);
    if (!lock) return lock.error();
    auto st = impl_->load();
    if (!st) return st.error();
    if (!st->enabled) return Error(ErrorCode::NotEnabled, "this machine is not enabled");
    if (st->applied) {
        auto loader = impl_->loader();
        if (!loader) return loader.error();
        auto s = (*loader)->unload(st->applied->name, cancel);
        if (!s) return s.error().wrap("cannot revert patch " + st->applied->name);
        (void)fs::removeTree(fs::join(d.paths.cacheDir, st->applied->kernel));
    }
    if (auto api = impl_->api(st->serverUrl.empty() ? impl_->serverUrl() : st->serverUrl)) {
        auto auth = impl_->authorization(*st);
        if (auth) {
            auto s = api->deregister(*auth, cancel);
            if (!s) d.logger->warning("could not deregister from the server: " + s.error().message());
        }
    }
    LP_TRY(impl_->creds.remove());
    AgentState next;
    LP_TRY(impl_->save(next));
    d.logger->info("machine disabled; live patches reverted");
    return {};
}

void Engine::allowRollbackOnce() noexcept { impl_->allowRollback = true; }

Result<CycleResult> Engine::runCycle(CycleKind kind, const PhaseCallback& progress, const CancelToken* cancel) {
    auto& d = impl_->d;
    struct ResetRollback {
        bool& flag;
        ~ResetRollback() { flag = false; }
    } resetRollback{impl_->allowRollback};
    auto lock = fs::FileLock::acquire(d.paths.pluginLockFile(), true);
    if (!lock) return lock.error();
    auto loaded = impl_->load();
    if (!loaded) return loaded.error();
    AgentState st = *loaded;
    if (!st.enabled) return Error(ErrorCode::NotEnabled, "this machine is not enabled; run `livepatch-agent enable <token>`");
    CycleResult result;
    if (auto why = emergencyStopReason(d.paths)) {
        result.summary = *why + "; no check, nothing applied";
        return result;
    }
    const std::string mode = d.config->getOr("run-mode", "normal");
    if (mode == "stop") {
        result.summary = "run-mode is \"stop\": no check, nothing applied";
        return result;
    }
    auto loader = impl_->loader();
    if (!loader) return loader.error();
    auto kernel = (*loader)->probe();
    if (!kernel) return kernel.error();
    if (!kernel->livepatchSupported) {
        st.patchState = "unknown";
        st.patchError = kernel->unsupportedReason;
        (void)impl_->save(st);
        return Error(ErrorCode::Unsupported, "this kernel cannot be live patched: " + kernel->unsupportedReason);
    }
    if (mode == "no-refresh") {
        { fs::FileLock release = std::move(*lock); }  // reapplyFromCache takes the lock itself
        auto s = reapplyFromCache(cancel);
        if (!s) return s.error();
        result.summary = "run-mode is \"no-refresh\": cached patches re-applied, server not contacted";
        return result;
    }

    st.kernel = kernel->versionSignature;
    st.architecture = kernel->architecture;
    // Check in even when the guard is set (the server learns the state and
    // status stays current), but load nothing.
    const bool guarded = impl_->crashGuardActive(st, *kernel);
    // Whatever an earlier cycle left (killed, cancelled, failed), start from
    // what the kernel holds.
    LP_TRY(impl_->reconcile(st, *kernel, *loader));
    impl_->cleanInterrupted(st, *kernel, std::nullopt);
    LP_TRY(impl_->save(st));
    if (progress) progress("check", 0, 0);
    auto api = impl_->api(st.serverUrl);
    auto auth = api ? impl_->authorization(st) : Result<std::string>(api.error());
    const std::string fingerprint = impl_->policyFingerprint();
    const std::string etag = st.etagPolicy == fingerprint ? st.etag : std::string();
    Result<UpdatesAnswer> answer = auth ? api->updates(*auth, impl_->report(st, *kernel, st.checkState), etag, cancel)
                                        : Result<UpdatesAnswer>(auth.error());
    st.lastCheck = impl_->now();
    if (!answer) {
        st.checkState = "check-failed";
        st.checkError = oneLine(answer.error());
        (void)impl_->save(st);
        return answer.error();
    }
    result.contacted = true;
    st.checkState = "checked";
    st.checkError.clear();
    const bool missingFromKernel = st.applied && st.applied->kernel == kernel->versionSignature && !Impl::appliedIsInKernel(st);
    if (answer->notModified) {
        result.notModified = true;
        impl_->cleanInterrupted(st, *kernel, std::string());  // nothing is on offer to resume
        LP_TRY(impl_->save(st));
        result.summary = "no change on the server";
        if (!missingFromKernel || mode == "no-apply") return result;
        if (guarded) return impl_->crashGuardError(st);
        // Same offer as before, but our patch is not in the kernel (a
        // restart without the daemon): load it again from the cache.
        auto r = impl_->reloadCached(st, *kernel, *loader, progress, cancel);
        if (!r) return r.error();
        result.applied = true;
        result.summary = "re-applied patch " + st.applied->name + " version " + st.applied->version + " from the cache";
        return result;
    }
    // The answer's ETag is saved only together with the outcome it
    // describes (nothing to do, or already applied): a cycle that fails, is
    // cancelled or killed before that asks again in full next time, so a
    // published patch can never hide behind a 304.
    const std::string answerEtag = answer->etag;
    auto settled = [&] {
        st.etag = answerEtag;
        st.etagPolicy = fingerprint;
    };
    st.supported = answer->supported;
    st.upgradeRequiredDate = answer->upgradeRequiredDate;
    if (!answer->tier.empty()) st.tier = answer->tier;

    // Choose the newest offer that passes policy.
    const PatchOffer* best = nullptr;
    std::string policyNote;
    for (const auto& offer : answer->patches) {
        auto ok = impl_->policyAllows(offer);
        if (!ok) {
            policyNote = ok.error().message();
            continue;
        }
        if (!best || compareVersions(offer.version, best->version) > 0) best = &offer;
    }
    impl_->cleanInterrupted(st, *kernel, best ? best->filename + ".part" : std::string());
    if (!best) {
        if (!st.applied)
            st.patchState = (st.supported == "supported" || st.supported == "unknown") ? "nothing-to-apply" : "kernel-upgrade-required";
        if (!policyNote.empty()) st.patchError = policyNote;
        settled();
        LP_TRY(impl_->save(st));
        result.summary = policyNote.empty() ? "no patch available for this kernel" : policyNote;
        return result;
    }
    if (st.applied && st.applied->kernel == kernel->versionSignature) {
        int cmp = compareVersions(best->version, st.applied->version);
        // Recorded as applied but not in the kernel (e.g. rebooted into the
        // same kernel without the daemon): load it again, verified as new.
        if (cmp == 0 && !missingFromKernel) {
            settled();
            LP_TRY(impl_->save(st));
            result.summary = "patch " + best->version + " is already applied";
            return result;
        }
        if (cmp == 0 && guarded) {
            LP_TRY(impl_->save(st));
            return impl_->crashGuardError(st);
        }
        if (cmp == 0 && mode != "no-apply") {
            // In the cache already: no need to download it again.
            auto r = impl_->reloadCached(st, *kernel, *loader, progress, cancel);
            if (r) {
                result.applied = true;
                result.summary = "re-applied patch " + st.applied->name + " version " + st.applied->version + " from the cache";
                return result;
            }
            if (r.error().code() == ErrorCode::Cancelled) return r.error();
            d.logger->warning("cached patch unusable, downloading it again: " + r.error().message());
        }
        if (cmp < 0 && impl_->allowRollback) {
            d.logger->warning("operator allowed rollback from " + st.applied->version + " to " + best->version);
        } else if (cmp < 0) {
            st.patchError = "server offers patch " + best->version + ", lower than applied " + st.applied->version +
                            ": rollback refused (use `refresh --allow-rollback` to accept it)";
            st.etag.clear();  // so an operator override is not answered with a 304
            LP_TRY(impl_->save(st));
            return Error(ErrorCode::Rollback, st.patchError);
        }
    }
    if (mode == "no-apply") {
        st.availableVersion = best->version;
        settled();
        LP_TRY(impl_->save(st));
        result.summary = "run-mode is \"no-apply\": patch " + best->version + " is available, not applied";
        return result;
    }
    if (guarded) {
        st.availableVersion = best->version;
        LP_TRY(impl_->save(st));
        return impl_->crashGuardError(st);
    }
    LP_TRY(impl_->save(st));
    if (cancel && cancel->cancelled()) {
        Error e(ErrorCode::Cancelled, "cancelled before the download of patch " + best->version);
        impl_->recordFailure(st, e, *kernel, *loader);
        return e;
    }

    // Download and check integrity.
    const std::string dlDir = fs::join(d.paths.cacheDir, "downloads");
    LP_TRY(fs::ensurePrivateDir(dlDir));
    const std::string part = fs::join(dlDir, best->filename + ".part");
    // Announced before the first byte: a slow server's wait belongs to the
    // download, not to the check before it.
    if (progress) progress("download", 0, best->size);
    auto dl = api->download(*best, *auth, part, static_cast<std::uint64_t>(d.config->number("max-download-size")),
                            [&](std::uint64_t done, std::uint64_t total) { if (progress) progress("download", done, total); },
                            cancel);
    if (!dl) {
        if (dl.error().code() != ErrorCode::Cancelled) (void)fs::removeFile(part);
        impl_->recordFailure(st, dl.error(), *kernel, *loader);
        return dl.error();
    }
    auto digest = sha256FileHex(part);
    if (!digest || !digestEquals(*digest, best->sha256)) {
        (void)fs::removeFile(part);
        Error e = digest ? Error(ErrorCode::ChecksumMismatch, best->filename + ": SHA-256 of the download does not match the server's; download deleted")
                         : digest.error();
        impl_->recordFailure(st, e, *kernel, *loader);
        return e;
    }

    // Intact: into the cache under its final name before it is verified and
    // loaded, so that a load the process does not live to record can be
    // adopted from the kernel with its tarball (reconcile()). Anything not
    // loaded is removed again.
    const std::string keepDir = fs::join(d.paths.cacheDir, kernel->versionSignature);
    LP_TRY(fs::ensurePrivateDir(keepDir));
    const std::string keep = fs::join(keepDir, best->filename);
    if (::rename(part.c_str(), keep.c_str()) != 0) {
        Error e(ErrorCode::Io, "cannot move the downloaded patch into " + keepDir + ": " + std::strerror(errno));
        impl_->recordFailure(st, e, *kernel, *loader);
        return e;
    }
    auto rec = impl_->verifyAndLoad(keep, best->sha256, best->name, best->version, *kernel, *loader, st, progress, cancel);
    if (!rec) {
        impl_->recordFailure(st, rec.error(), *kernel, *loader);
        if (!st.applied || st.applied->cachePath != keep) (void)fs::removeFile(keep);
        return rec.error();
    }
    if (st.applied && st.applied->cachePath != keep) (void)fs::removeFile(st.applied->cachePath);
    rec->fixes = best->fixes.empty() ? rec->fixes : best->fixes;
    st.applied = *rec;
    st.fixes = rec->fixes;
    st.patchState = "applied";
    st.patchError.clear();
    st.availableVersion.clear();
    st.etag.clear();  // our report changed: the next check must not be a 304
    (void)impl_->reconcile(st, *kernel, *loader);
    LP_TRY(impl_->save(st));
    result.applied = true;
    result.summary = "applied patch " + rec->name + " version " + rec->version;
    d.logger->info(result.summary);

    if (progress) progress("report", 0, 0);
    auto rep = api->updates(*auth, impl_->report(st, *kernel, st.checkState), "", cancel);
    if (!rep) d.logger->warning("status report failed: " + rep.error().message());
    return result;
}

Status Engine::reapplyFromCache(const CancelToken* cancel) {
    auto& d = impl_->d;
    auto lock = fs::FileLock::acquire(d.paths.pluginLockFile(), true);
    if (!lock) return lock.error();
    auto loaded = impl_->load();
    if (!loaded) return loaded.error();
    AgentState st = *loaded;
    if (!st.enabled) return {};
    if (auto why = emergencyStopReason(d.paths)) {
        d.logger->warning(*why + "; cached patches not re-applied");
        return {};
    }
    auto loader = impl_->loader();
    if (!loader) return loader.error();
    auto kernel = (*loader)->probe();
    if (!kernel) return kernel.error();
    if (impl_->crashGuardActive(st, *kernel)) {
        (void)impl_->reconcile(st, *kernel, *loader);
        LP_TRY(impl_->save(st));
        return impl_->crashGuardError(st);
    }
    LP_TRY(impl_->reconcile(st, *kernel, *loader));
    impl_->cleanInterrupted(st, *kernel, std::nullopt);
    LP_TRY(impl_->save(st));
    if (!st.applied || st.applied->kernel != kernel->versionSignature) return {};
    if (Impl::appliedIsInKernel(st)) return {};
    auto r = impl_->reloadCached(st, *kernel, *loader, nullptr, cancel);
    return r ? Status{} : Status(r.error());
}

Result<AgentState> Engine::reconcileWithKernel(bool wait) {
    auto& d = impl_->d;
    auto lock = fs::FileLock::acquire(d.paths.pluginLockFile(), wait);
    if (!lock) return lock.error();
    auto loaded = impl_->load();
    if (!loaded) return loaded.error();
    AgentState st = *loaded;
    if (!st.enabled) return st;
    auto loader = impl_->loader();
    if (!loader) return loader.error();
    auto kernel = (*loader)->probe();
    if (!kernel) return kernel.error();
    if (!kernel->livepatchSupported) return st;
    (void)impl_->crashGuardActive(st, *kernel);
    LP_TRY(impl_->reconcile(st, *kernel, *loader));
    LP_TRY(impl_->save(st));
    return st;
}

Status Engine::healthPing(const CancelToken* cancel) {
    auto& d = impl_->d;
    auto lock = fs::FileLock::acquire(d.paths.pluginLockFile(), true);
    if (!lock) return lock.error();
    auto loaded = impl_->load();
    if (!loaded) return loaded.error();
    AgentState st = *loaded;
    if (!st.enabled || !st.applied) return {};
    auto loader = impl_->loader();
    if (!loader) return loader.error();
    auto kernel = (*loader)->probe();
    if (!kernel) return kernel.error();
    if (st.applied->kernel != kernel->versionSignature) return {};  // nothing of ours in this kernel
    LP_TRY(impl_->reconcile(st, *kernel, *loader));
    LP_TRY(impl_->save(st));
    if (!Impl::appliedIsInKernel(st)) return {};  // a health report is about a patch in the kernel
    auto h = (*loader)->health();
    if (!h) return h.error();
    // New taint bits or new oops/BUG/WARN lines since the snapshot taken
    // right after the load.
    if ((h->taintMask & ~st.healthTaint) != 0 || h->oopsCount > st.healthOops) {
        d.logger->warning("kernel health changed since patch " + st.applied->version + " was applied (taint " +
                          std::to_string(h->taintMask) + ", oops " + std::to_string(h->oopsCount) + ")");
        if (st.patchState != "applied-with-bug") {
            st.patchState = "applied-with-bug";
            LP_TRY(impl_->save(st));
        }
    }
    auto api = impl_->api(st.serverUrl);
    if (!api) return api.error();
    auto auth = impl_->authorization(st);
    if (!auth) return auth.error();
    AgentState reportState = st;
    reportState.healthTaint = h->taintMask;
    reportState.healthOops = h->oopsCount;
    auto r = api->updates(*auth, impl_->report(reportState, *kernel, st.checkState), "", cancel);
    return r ? Status{} : Status(r.error());
}

Status Engine::clearCrashGuard() {
    auto lock = fs::FileLock::acquire(impl_->d.paths.pluginLockFile(), true);
    if (!lock) return lock.error();
    auto st = impl_->load();
    if (!st) return st.error();
    st->crashGuard = false;
    st->loadingPatch.clear();
    st->loadingBootId.clear();
    st->loadingAt.clear();
    if (st->loadingRecord && (!st->applied || st->applied->cachePath != st->loadingRecord->cachePath))
        (void)fs::removeFile(st->loadingRecord->cachePath);
    st->loadingRecord.reset();
    // The restart that raised the guard must not raise it again.
    if (st->applied) st->applied->bootId.clear();
    if (st->patchState == "apply-failed") st->patchState = st->applied ? "applied" : "unapplied";
    st->patchError.clear();
    // Say what the kernel holds, not what was recorded before the restart.
    if (st->enabled) {
        auto loader = impl_->loader();
        if (!loader) return loader.error();
        auto kernel = (*loader)->probe();
        if (!kernel) return kernel.error();
        if (kernel->livepatchSupported) LP_TRY(impl_->reconcile(*st, *kernel, *loader));
    }
    return impl_->save(*st);
}

}  // namespace livepatch
