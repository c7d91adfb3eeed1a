#include "engine/engine.h"

#include <Poco/JSON/Object.h>

#include <atomic>
#include <chrono>
#include <sstream>

#include "crypto/sha256.h"
#include "engine/check_in_report.h"
#include "engine/crash_guard.h"
#include "engine/patch_cache.h"
#include "engine/policy.h"
#include "engine/signed_catalogue.h"
#include "engine/state_changes.h"
#include "identity/machine_id.h"
#include "package/module_identity.h"
#include "protocol/api_client.h"
#include "state/credential_store.h"
#include "state/emergency_stop.h"
#include "state/state_file.h"
#include "util/digest.h"
#include "util/fs.h"
#include "util/timeutil.h"

namespace livepatch {

namespace {

std::string schemeOf(const std::string& url) {
    auto pos = url.find("://");
    return pos == std::string::npos ? "" : url.substr(0, pos);
}

std::atomic<int> kernelOperations{0};

// A folder removed with everything in it when its owner goes.
class WorkDir {
public:
    explicit WorkDir(std::string path) : path_(std::move(path)) {}
    WorkDir(WorkDir&& other) noexcept : path_(std::move(other.path_)) { other.path_.clear(); }
    WorkDir(const WorkDir&) = delete;
    WorkDir& operator=(const WorkDir&) = delete;
    WorkDir& operator=(WorkDir&&) = delete;
    ~WorkDir() {
        if (!path_.empty()) (void)fs::removeTree(path_);
    }
    const std::string& path() const { return path_; }

private:
    std::string path_;
};

// A patch that passed every check: the module bytes the verifiers accepted
// (the very bytes the kernel gets), what to load them as, and the record to
// keep once loaded. Its unpacked files live as long as it does.
struct VerifiedPatch {
    WorkDir work;
    std::string modulePath;
    std::string bytes;
    PatchSpec spec;
    AppliedPatchRecord record;
    ModuleImage image() const { return ModuleImage{spec.name, modulePath, bytes}; }
};

Error cancelled(const std::string& what) { return Error(ErrorCode::Cancelled, what); }

}  // namespace

KernelOperation::KernelOperation() noexcept { kernelOperations.fetch_add(1); }
KernelOperation::~KernelOperation() { kernelOperations.fetch_sub(1); }
bool KernelOperation::inProgress() noexcept { return kernelOperations.load() > 0; }

struct Engine::Impl {
    EngineDeps d;
    PluginHost* plugins;
    StateFile stateFile;
    CredentialStore creds;
    PatchCache cache;
    bool allowRollback = false;

    explicit Impl(EngineDeps deps)
        : d(std::move(deps)),
          plugins(d.host),
          stateFile(d.paths.stateFile()),
          creds(d.paths.credentialFile()),
          cache(d.paths.cacheDir) {}

    // What every engine operation starts from: the cycle lock held and the
    // recorded state; after attachKernel(), the loader and the kernel it
    // runs.
    struct Session {
        fs::FileLock lock;
        AgentState st;
        Loader* loader = nullptr;
        KernelInfo kernel;
    };
    struct Cycle;

    Result<Session> begin(bool wait = true) const {
        auto lock = fs::FileLock::acquire(d.paths.cycleLockFile(), wait);
        if (!lock) return lock.error();
        auto st = load();
        if (!st) return st.error();
        Session s;
        s.lock = std::move(*lock);
        s.st = std::move(*st);
        return s;
    }

    Status attachKernel(Session& s) const {
        auto l = loader();
        if (!l) return l.error();
        auto kernel = (*l)->probe();
        if (!kernel) return kernel.error();
        s.loader = *l;
        s.kernel = std::move(*kernel);
        return {};
    }

    std::string now() const { return timeutil::formatRfc3339(d.clock->now()); }

    Result<AgentState> load() const { return AgentState::load(stateFile.path()); }
    Status save(const AgentState& s) const { return stateFile.save(s.toJson()); }

    std::string serverUrl() const { return d.config->getOr("remote-server", ""); }
    // A pinned TUF root: signed metadata decides which patch is current.
    bool signedCatalogue() const { return trustRootConfigured(*d.config); }
    // A plain directory: nobody to register with or report to.
    bool staticMirror() const { return staticSource(*d.config); }
    std::int64_t nowSeconds() const {
        return std::chrono::duration_cast<std::chrono::seconds>(d.clock->now().time_since_epoch()).count();
    }

    Result<Transport*> transport(const std::string& url) const {
        const std::string scheme = schemeOf(url);
        if (scheme == "http" && !d.config->allowInsecureHttp())
            return Error(ErrorCode::InsecureRefused, "plain http to " + ApiClient::displayUrl(url) +
                                                         " is refused; set allow-insecure-http=true to allow it");
        Transport* t = plugins->transportFor(scheme);
        if (!t) return Error(ErrorCode::PluginInvalid, "no transport plugin handles \"" + scheme + "\" URLs");
        return t;
    }

    Result<Loader*> loader() const {
        const std::string name = d.config->getOr("loader", "loader-klp");
        Loader* l = plugins->loader(name);
        if (!l)
            return Error(ErrorCode::PluginInvalid,
                         "loader plugin \"" + name + "\" is not loaded (see `livepatch-agent plugins`)");
        return l;
    }

    Result<ApiClient> api(const std::string& server) const {
        auto t = transport(server);
        if (!t) return t.error();
        auto id = appSpecificMachineId(d.paths.hostRoot, server);
        if (!id) return id.error().wrap("cannot derive the machine id");
        return ApiClient(*t, server, *id);
    }

    Auth* authFor(const std::string& pluginName) const {
        for (Auth* a : plugins->auths())
            if (a->info().name == pluginName) return a;
        return nullptr;
    }

    Result<std::string> authorization(const AgentState& st) const {
        auto c = creds.load();
        if (!c) return c.error();
        if (!c->has_value()) return Error(ErrorCode::NotEnabled, "no credential stored; enable the machine again");
        Auth* a = authFor(st.authPlugin);
        if (!a) return Error(ErrorCode::PluginInvalid, "auth plugin \"" + st.authPlugin + "\" is not loaded");
        return a->requestAuthorization(**c);
    }

    std::string report(const AgentState& st, const KernelInfo& kernel) const {
        return checkInReport(st, kernel, *d.config, d.paths.hostRoot, d.clock->now());
    }

    bool crashGuarded(Session& s) const {
        return crashGuardHolds(s.st, s.kernel, d.clock->now(), d.paths.hostRoot, *d.logger);
    }

    Status reconcile(AgentState& st, const KernelInfo& kernel, Loader* l) const {
        return livepatch::reconcile(st, kernel, *l, now(), *d.logger);
    }
    Status reconcile(Session& s) const { return reconcile(s.st, s.kernel, s.loader); }

    // A static mirror has no server: enabling checks that the catalogue can
    // be trusted and records the source; no token is needed or kept.
    Result<Engine::EnableOutcome> enableStatic(Session& s) const {
        const std::string source = serverUrl();
        if (s.st.enabled && s.st.serverUrl == source) return Engine::EnableOutcome::AlreadyEnabled;
        if (s.st.enabled)
            return Error(ErrorCode::AlreadyEnabled,
                         "this machine is already enabled with another source; run `livepatch-agent disable` first, "
                         "then enable again");
        if (!signedCatalogue())
            return Error(
                ErrorCode::ConfigInvalid,
                "source-type=static needs a trust root: `livepatch-agent config trust-root=@stdin < root.json`");
        LP_TRY(attachKernel(s));
        AgentState next;
        next.enabled = true;
        next.serverUrl = source;
        next.kernel = s.kernel.versionSignature;
        next.architecture = s.kernel.architecture;
        next.catalogue = CatalogueKind::Signed;
        LP_TRY(save(next));
        d.logger->info("machine enabled for the static mirror " + ApiClient::displayUrl(source) +
                       " (no registration; the token is not used)");
        return Engine::EnableOutcome::Enabled;
    }

    // verify: unpack -> metadata matches the offer -> every configured
    // verifier -> the module's signed identity. Nothing is loaded.
    Result<VerifiedPatch> verify(const std::string& tarball, const std::string& tarballSha256,
                                 const std::string& expectedName, const std::string& expectedVersion,
                                 const KernelInfo& kernel, const AgentState& st, const PhaseCallback& progress,
                                 const CancelToken* cancel) const {
        WorkDir work(cache.workDir(tarball + now()));
        if (progress) progress("unpack", 0, 0);
        UnpackLimits limits;
        limits.maxEntries = static_cast<std::uint64_t>(d.config->number("unpack-max-entries"));
        limits.maxTotalBytes = static_cast<std::uint64_t>(d.config->number("unpack-max-bytes"));
        auto pkg = openPatchPackage(tarball, work.path(), limits);
        if (!pkg) return pkg.error();
        const auto& md = pkg->metadata;
        if (md.name != expectedName || md.version != expectedVersion)
            return Error(ErrorCode::Protocol, "patch metadata (" + md.name + " " + md.version +
                                                  ") does not match the server's offer (" + expectedName + " " +
                                                  expectedVersion + ")");
        if (!md.kernel.empty() && md.kernel != kernel.versionSignature)
            return Error(ErrorCode::Unsupported,
                         "patch is built for kernel " + md.kernel + ", running " + kernel.versionSignature);
        if (!md.architecture.empty() && md.architecture != kernel.architecture)
            return Error(ErrorCode::Unsupported,
                         "patch is built for " + md.architecture + ", running " + kernel.architecture);
        if (cancel && cancel->cancelled()) return cancelled("cancelled");

        if (progress) progress("verify", 0, 0);
        auto bytes = fs::readFile(pkg->modulePath, 512u << 20);
        if (!bytes) return bytes.error();
        ModuleImage image{md.name, pkg->modulePath, *bytes};
        auto names = d.config->list("verifiers");
        if (names.empty())
            return Error(ErrorCode::PolicyRefused, "no verifier configured; refusing to load an unverified patch");
        for (const auto& n : names) {
            Verifier* v = plugins->verifier(n);
            if (!v)
                return Error(ErrorCode::PluginInvalid, "verifier plugin \"" + n + "\" is not loaded; refusing to load");
            auto r = v->verify(image);
            if (!r) return r.error().wrap("verification by " + n + " failed");
            d.logger->info("patch " + md.name + " " + md.version + " verified by " + n + ": " + r->detail);
        }
        // Only the module bytes are signed: its .modinfo, not livepatch.json
        // or the offer, says what is being loaded and which version it is.
        IdentityPolicy identityPolicy;
        identityPolicy.kernelRelease = kernel.release;
        identityPolicy.allowUnversioned = d.config->getOr("allow-unversioned-modules", "false") == "true";
        if (appliedToKernel(st, kernel)) identityPolicy.appliedVersion = st.applied->version;
        identityPolicy.allowRollback = allowRollback;
        auto identity = checkModuleIdentity(*bytes, md, identityPolicy);
        if (!identity) return identity.error();
        if (identity->version.empty())
            d.logger->warning("patch " + md.name + " " + md.version +
                              ": the module declares no signed version; accepted because "
                              "allow-unversioned-modules=true, so rollback protection rests on unsigned metadata");
        if (cancel && cancel->cancelled()) return cancelled("cancelled");

        AppliedPatchRecord rec;
        rec.kernel = kernel.versionSignature;
        rec.name = md.name;
        rec.version = md.version;
        rec.tarballSha256 = tarballSha256;
        rec.moduleSha256 = sha256Hex(*bytes);
        rec.cachePath = tarball;
        rec.fixes = md.fixes;
        PatchSpec spec{md.name, md.version, md.replace};
        const std::string modulePath = pkg->modulePath;
        return VerifiedPatch{std::move(work), modulePath, std::move(*bytes), spec, rec};
    }

    Result<AppliedPatchRecord> verifyAndInstall(const std::string& tarball, const std::string& tarballSha256,
                                                const std::string& name, const std::string& version,
                                                const KernelInfo& kernel, Loader* l, AgentState& st,
                                                const PhaseCallback& progress, const CancelToken* cancel) {
        auto patch = verify(tarball, tarballSha256, name, version, kernel, st, progress, cancel);
        if (!patch) return patch.error();
        return install(*patch, kernel, l, st, progress, cancel);
    }

    // Our livepatch `name` as the kernel shows it now.
    static std::optional<LoadedPatch> inKernelNow(Loader* l, const std::string& name) {
        auto list = l->list();
        if (!list) return std::nullopt;
        for (const auto& p : *list)
            if (p.name == name) return p;
        return std::nullopt;
    }

    // install: the verified module into the kernel. The intent, with the
    // whole record, is saved before the kernel is touched: whatever happens
    // after that (a failure, a cancel, SIGKILL), reconcile() can tell from
    // the kernel whether the new version took and adopt it, or keep the old
    // one.
    //
    // A new version under the livepatch name already in the kernel: the
    // kernel cannot hold two modules of one name, so there is no atomic
    // replace. The old version is reverted first (a short window without
    // either, logged), and on every failure after that it is loaded again
    // from the cache. Patches with a new name per version (as kpatch and
    // Canonical build them) are replaced atomically instead.
    Result<AppliedPatchRecord> install(const VerifiedPatch& patch, const KernelInfo& kernel, Loader* l, AgentState& st,
                                       const PhaseCallback& progress, const CancelToken* cancel) {
        const PatchSpec& spec = patch.spec;
        std::optional<AppliedPatchRecord> sameName;
        if (appliedToKernel(st, kernel) && st.applied->name == spec.name && st.applied->version != spec.version) {
            auto current = inKernelNow(l, spec.name);
            if (current && current->enabled && (current->version.empty() || current->version != spec.version))
                sameName = *st.applied;
        }
        markLoading(st, patch.record, kernel, now());
        LP_TRY(save(st));
        Status loaded;
        {
            KernelOperation op;
            if (sameName) {
                d.logger->warning("patch " + spec.name + " version " + spec.version +
                                  " has the same livepatch name as the applied version " + sameName->version +
                                  "; the kernel cannot hold both, so version " + sameName->version +
                                  " is reverted first (give each version its own name for an atomic replace)");
                if (progress) progress("revert", 0, 0);
                auto u = l->unload(spec.name, cancel);
                if (!u)
                    loaded = u.error().wrap("reverting " + spec.name + " version " + sameName->version +
                                            " before loading version " + spec.version);
            }
            if (loaded && progress) progress("load", 0, 0);
            if (loaded) loaded = l->load(patch.image(), spec, cancel);
        }
        // On failure the markers stay: the caller's reconcile() finds out
        // what the kernel holds (a cancel mid-transition leaves the new
        // version in it) and clears them.
        if (!loaded && sameName) {
            // Not cancellable: even when stopping, put the old version back.
            KernelOperation critical;
            auto back = loadFromCache(*sameName, kernel, l, st, nullptr, nullptr);
            if (back) {
                st.applied->appliedAt = back->appliedAt;
                st.applied->bootId = back->bootId;
                return loaded.error().wrap("version " + sameName->version + " restored; loading version " +
                                           spec.version + " failed");
            }
            return loaded.error().wrap("loading version " + spec.version + " failed and version " + sameName->version +
                                       " could not be restored (" + back.error().message() +
                                       "); the next check retries");
        }
        if (!loaded) return loaded.error();
        clearLoadingMarkers(st);
        st.loadingRecord.reset();
        if (auto h = l->health()) {
            st.healthTaint = h->taintMask;
            st.healthOops = h->oopsCount;
        }
        AppliedPatchRecord rec = patch.record;
        rec.appliedAt = now();
        rec.bootId = kernel.bootId;
        return rec;
    }

    // The verified tarball kept for `rec`, loaded again: its SHA-256 must
    // still be the recorded one, then it is unpacked and verified by the whole
    // chain as if just downloaded. No network.
    Result<AppliedPatchRecord> loadFromCache(const AppliedPatchRecord& rec, const KernelInfo& kernel, Loader* l,
                                             AgentState& st, const PhaseCallback& progress, const CancelToken* cancel) {
        auto digest = sha256FileHex(rec.cachePath);
        if (!digest || !digestEquals(*digest, rec.tarballSha256))
            return Error(ErrorCode::ChecksumMismatch,
                         "cached patch " + rec.cachePath + " no longer matches its recorded SHA-256; not loading");
        return verifyAndInstall(rec.cachePath, rec.tarballSha256, rec.name, rec.version, kernel, l, st, progress,
                                cancel);
    }

    // The applied patch, loaded again from the cache and recorded as applied
    // (or the failure recorded).
    Result<bool> reloadCached(AgentState& st, const KernelInfo& kernel, Loader* l, const PhaseCallback& progress,
                              const CancelToken* cancel) {
        AppliedPatchRecord again = *st.applied;
        auto rec = loadFromCache(again, kernel, l, st, progress, cancel);
        if (!rec) {
            recordFailure(st, rec.error(), kernel, l);
            return rec.error();
        }
        again.appliedAt = rec->appliedAt;
        again.bootId = rec->bootId;
        again.moduleSha256 = rec->moduleSha256;
        markApplied(st, again);
        (void)reconcile(st, kernel, l);
        LP_TRY(save(st));
        d.logger->info("re-applied cached patch " + again.name + " version " + again.version);
        return true;
    }

    // A failed or cancelled attempt: the state is first reconciled with the
    // kernel (a cancel mid-transition may have left the new version in it),
    // then the failure is recorded.
    void recordFailure(AgentState& st, const Error& e, const KernelInfo& kernel, Loader* l) {
        if (auto r = reconcile(st, kernel, l); !r) d.logger->warning(r.error().message());
        markFailed(st, e);
        (void)save(st);
        if (e.code() == ErrorCode::Cancelled) d.logger->warning("update cancelled: " + e.message());
        else d.logger->error("apply failed: " + e.describe());
    }
};

// One check with the server and what follows from its answer, phase by
// phase: check -> decide -> fetch -> verify + install -> report.
struct Engine::Impl::Cycle {
    Cycle(Impl& impl, Session& session, RunMode runMode, const PhaseCallback& onPhase, const CancelToken* cancelToken)
        : e(impl), s(session), mode(runMode), progress(onPhase), cancel(cancelToken) {}

    Impl& e;
    Session& s;
    const RunMode mode;
    const PhaseCallback& progress;
    const CancelToken* cancel;

    CycleResult result;
    std::optional<ApiClient> api;
    std::string auth;
    const std::string fingerprint = policyFingerprint(*e.d.config);
    bool guarded = false;                   // the crash guard holds: check in, load nothing
    std::vector<SignedOffer> signedOffers;  // with a trust root: the patches for this kernel, as signed
    bool missingFromKernel = false;         // recorded as applied here, not in the kernel now

    Result<CycleResult> run() {
        LP_TRY(prepare());
        auto answer = check();
        if (!answer) return answer.error();
        if (answer->notModified) return unchanged();
        auto offer = decide(*answer);
        if (!offer) return offer.error();
        if (!*offer) return result;
        auto tarball = fetch(**offer);
        if (!tarball) return tarball.error();
        auto rec = e.verifyAndInstall(*tarball, (*offer)->sha256, (*offer)->name, (*offer)->version, s.kernel, s.loader,
                                      s.st, progress, cancel);
        if (!rec) {
            e.recordFailure(s.st, rec.error(), s.kernel, s.loader);
            if (!s.st.applied || s.st.applied->cachePath != *tarball) (void)fs::removeFile(*tarball);
            return rec.error();
        }
        LP_TRY(recordApplied(**offer, *rec));
        report();
        return result;
    }

    // Start from what the kernel holds, whatever an earlier cycle left
    // (killed, cancelled, failed). The guard is looked at first: a check-in
    // happens even when it is set (the server learns the state and status
    // stays current), but nothing is loaded.
    Status prepare() {
        s.st.kernel = s.kernel.versionSignature;
        s.st.architecture = s.kernel.architecture;
        guarded = e.crashGuarded(s);
        LP_TRY(e.reconcile(s));
        e.cache.cleanInterrupted(s.st, s.kernel.versionSignature, std::nullopt);
        return e.save(s.st);
    }

    // check: the updates call, with our report and the ETag of the last
    // settled answer taken under the same policy.
    Result<UpdatesAnswer> check() {
        if (progress) progress("check", 0, 0);
        Result<UpdatesAnswer> answer = e.staticMirror() ? staticAnswer() : serverAnswer();
        if (answer && e.signedCatalogue()) answer = signedAnswer(*answer);
        if (!answer) {
            markCheckFailed(s.st, answer.error(), e.now());
            (void)e.save(s.st);
            return answer.error();
        }
        s.st.catalogue = e.signedCatalogue() ? CatalogueKind::Signed : CatalogueKind::Unsigned;
        markChecked(s.st, e.now());
        result.contacted = true;
        missingFromKernel = appliedToKernel(s.st, s.kernel) && !appliedIsInKernel(s.st);
        return answer;
    }

    Result<UpdatesAnswer> serverAnswer() {
        auto client = e.api(s.st.serverUrl);
        auto authorization = client ? e.authorization(s.st) : Result<std::string>(client.error());
        const std::string etag = s.st.etagPolicy == fingerprint ? s.st.etag : std::string();
        Result<UpdatesAnswer> answer = authorization
                                           ? client->updates(*authorization, e.report(s.st, s.kernel), etag, cancel)
                                           : Result<UpdatesAnswer>(authorization.error());
        if (!answer) return answer;
        api = *client;
        auth = *authorization;
        return answer;
    }

    // A static mirror has no server to answer: only its signed metadata.
    Result<UpdatesAnswer> staticAnswer() const {
        if (!e.signedCatalogue())
            return Error(ErrorCode::ConfigInvalid,
                         "source-type=static needs a trust root: a plain directory proves nothing "
                         "by itself (`livepatch-agent config trust-root=@stdin < root.json`)");
        UpdatesAnswer a;
        a.supported = s.st.supported;
        return a;
    }

    // The signed catalogue replaces the server's list of patches: the
    // server's answer is only a hint (and carries the report); what is
    // offered, at which version, length and hashes, is what the targets
    // metadata signs. The server's kernel support, tier and ETag stay.
    Result<UpdatesAnswer> signedAnswer(UpdatesAnswer answer) {
        auto transport = e.transport(catalogueBaseUrl(*e.d.config));
        if (!transport) return transport.error();
        auto catalogue = readSignedCatalogue(e.d.paths, *e.d.config, **transport, s.kernel.versionSignature,
                                             s.kernel.architecture, cancel, e.nowSeconds());
        if (!catalogue) return catalogue.error().wrap("signed catalogue");
        if (answer.notModified) {  // the hint has not changed since the last full answer
            answer.notModified = false;
            answer.supported = s.st.supported;
            answer.tier = s.st.tier;
            answer.upgradeRequiredDate = s.st.upgradeRequiredDate;
            answer.etag = s.st.etag;
        }
        answer.patches.clear();
        signedOffers = std::move(catalogue->offers);
        for (const auto& o : signedOffers) answer.patches.push_back(o.offer);
        s.st.catalogueExpires = catalogue->expires;
        s.st.catalogueVersion = catalogue->timestampVersion;
        return answer;
    }

    const SignedOffer* signedEntryOf(const PatchOffer& offer) const {
        for (const auto& o : signedOffers)
            if (o.offer.url == offer.url) return &o;
        return nullptr;
    }

    // 304: the same offer as before. Our patch is loaded again from the
    // cache if it is missing from the kernel (a restart without the daemon).
    Result<CycleResult> unchanged() {
        result.notModified = true;
        e.cache.cleanInterrupted(s.st, s.kernel.versionSignature, std::string());  // nothing is on offer to resume
        LP_TRY(e.save(s.st));
        result.summary = "no change on the server";
        if (!missingFromKernel || mode == RunMode::NoApply) return result;
        if (guarded) return crashGuardError(s.st);
        return reapplied();
    }

    Result<CycleResult> reapplied() {
        auto r = e.reloadCached(s.st, s.kernel, s.loader, progress, cancel);
        if (!r) return r.error();
        result.applied = true;
        result.summary =
            "re-applied patch " + s.st.applied->name + " version " + s.st.applied->version + " from the cache";
        return result;
    }

    // The answer's ETag is saved only together with the outcome it describes
    // (nothing to do, or already applied): a cycle that fails, is cancelled
    // or killed before that asks again in full next time, so a published
    // patch can never hide behind a 304.
    Status settled(const std::string& answerEtag, const std::string& summary) {
        s.st.etag = answerEtag;
        s.st.etagPolicy = fingerprint;
        result.summary = summary;
        return e.save(s.st);
    }

    // decide: the newest offer the policy allows, and whether to download
    // it. None when the cycle ends here (`result` says why).
    Result<const PatchOffer*> decide(const UpdatesAnswer& answer) {
        s.st.supported = answer.supported;
        s.st.upgradeRequiredDate = answer.upgradeRequiredDate;
        if (!answer.tier.empty()) s.st.tier = answer.tier;
        const OfferChoice choice = chooseOffer(answer.patches, *e.d.config, e.d.clock->now());
        const PatchOffer* best = choice.best;
        e.cache.cleanInterrupted(s.st, s.kernel.versionSignature,
                                 best ? PatchCache::partialName(best->filename) : std::string());
        if (!best) {
            if (!s.st.applied)
                s.st.patchState =
                    (s.st.supported == KernelSupport::Supported || s.st.supported == KernelSupport::Unknown)
                        ? PatchState::NothingToApply
                        : PatchState::KernelUpgradeRequired;
            if (!choice.refusal.empty()) s.st.patchError = choice.refusal;
            LP_TRY(
                settled(answer.etag, choice.refusal.empty() ? "no patch available for this kernel" : choice.refusal));
            return nullptr;
        }
        if (appliedToKernel(s.st, s.kernel)) {
            const int cmp = compareVersions(best->version, s.st.applied->version);
            // Recorded as applied but not in the kernel (e.g. rebooted into
            // the same kernel without the daemon): load it again, verified as
            // new.
            if (cmp == 0 && !missingFromKernel) {
                LP_TRY(settled(answer.etag, "patch " + best->version + " is already applied"));
                return nullptr;
            }
            if (cmp == 0 && guarded) {
                LP_TRY(e.save(s.st));
                return crashGuardError(s.st);
            }
            if (cmp == 0 && mode != RunMode::NoApply) {
                // In the cache already: no need to download it again.
                auto r = reapplied();
                if (r) return nullptr;
                if (r.error().code() == ErrorCode::Cancelled) return r.error();
                e.d.logger->warning("cached patch unusable, downloading it again: " + r.error().message());
            }
            if (cmp < 0 && e.allowRollback) {
                e.d.logger->warning("operator allowed rollback from " + s.st.applied->version + " to " + best->version);
            } else if (cmp < 0) {
                s.st.patchError = std::string(e.signedCatalogue() ? "the signed catalogue offers" : "server offers") +
                                  " patch " + best->version + ", lower than applied " + s.st.applied->version +
                                  ": rollback refused (use `refresh --allow-rollback` to accept it)";
                s.st.etag.clear();  // so an operator override is not answered with a 304
                LP_TRY(e.save(s.st));
                return Error(ErrorCode::Rollback, s.st.patchError);
            }
        }
        if (mode == RunMode::NoApply) {
            s.st.availableVersion = best->version;
            LP_TRY(settled(answer.etag,
                           "run-mode is \"no-apply\": patch " + best->version + " is available, not applied"));
            return nullptr;
        }
        if (guarded) {
            s.st.availableVersion = best->version;
            LP_TRY(e.save(s.st));
            return crashGuardError(s.st);
        }
        LP_TRY(e.save(s.st));
        if (cancel && cancel->cancelled())
            return failed(cancelled("cancelled before the download of patch " + best->version));
        return best;
    }

    // fetch: the offer downloaded (resumable) and its SHA-256 checked, then
    // moved into the cache under its final name before it is verified and
    // loaded, so that a load the process does not live to record can be
    // adopted from the kernel with its tarball (reconcile()). Anything not
    // loaded is removed again.
    Result<std::string> fetch(const PatchOffer& offer) {
        auto part = e.cache.partialDownload(offer.filename);
        if (!part) return part.error();
        const SignedOffer* signedEntry = e.signedCatalogue() ? signedEntryOf(offer) : nullptr;
        if (e.signedCatalogue() && !signedEntry)
            return failed(Error(ErrorCode::Internal, "offer " + offer.filename + " is not in the signed catalogue"));
        // Signed: the signed length is the limit (endless data), within max-download-size.
        std::uint64_t limit = static_cast<std::uint64_t>(e.d.config->number("max-download-size"));
        if (signedEntry && signedEntry->target.length > limit)
            return failed(Error(ErrorCode::TooLarge, offer.filename + ": the signed length " +
                                                         std::to_string(signedEntry->target.length) +
                                                         " is over max-download-size (" + std::to_string(limit) + ")"));
        if (signedEntry) limit = signedEntry->target.length;
        // Announced before the first byte: a slow server's wait belongs to
        // the download, not to the check before it.
        if (progress) progress("download", 0, offer.size);
        auto dl = download(offer, *part, limit);
        if (!dl) {
            if (dl.error().code() != ErrorCode::Cancelled) (void)fs::removeFile(*part);
            return failed(dl.error());
        }
        if (signedEntry) {
            // Length and every signed hash, before anything unpacks it (arbitrary install).
            auto v = verifyDownloadedTarget(signedEntry->target, *part);
            if (!v) {
                (void)fs::removeFile(*part);
                return failed(v.error().wrap(offer.filename +
                                             ": the download does not match the signed catalogue; download deleted"));
            }
        } else {
            auto digest = sha256FileHex(*part);
            if (!digest || !digestEquals(*digest, offer.sha256)) {
                (void)fs::removeFile(*part);
                return failed(digest
                                  ? Error(ErrorCode::ChecksumMismatch,
                                          offer.filename +
                                              ": SHA-256 of the download does not match the server's; download deleted")
                                  : digest.error());
            }
        }
        auto kept = e.cache.keep(*part, s.kernel.versionSignature, offer.filename);
        if (!kept) return failed(kept.error());
        return kept;
    }

    // Through the server's client when there is one (its credential goes
    // only to its own origin), else straight through the transport.
    Result<DownloadResult> download(const PatchOffer& offer, const std::string& part, std::uint64_t limit) {
        auto onBytes = [&](std::uint64_t done, std::uint64_t total) {
            if (progress) progress("download", done, total);
        };
        if (api) return api->download(offer, auth, part, limit, onBytes, cancel);
        auto transport = e.transport(offer.url);
        if (!transport) return transport.error();
        DownloadRequest req;
        req.url = offer.url;
        req.destinationPath = part;
        req.expectedSize = offer.size;
        req.maxBytes = limit;
        return (*transport)->download(req, onBytes, cancel);
    }

    Error failed(const Error& error) {
        e.recordFailure(s.st, error, s.kernel, s.loader);
        return error;
    }

    // The new patch is in the kernel: the one it replaced leaves the cache.
    Status recordApplied(const PatchOffer& offer, AppliedPatchRecord rec) {
        if (s.st.applied && s.st.applied->cachePath != rec.cachePath) (void)fs::removeFile(s.st.applied->cachePath);
        if (!offer.fixes.empty()) rec.fixes = offer.fixes;
        markApplied(s.st, rec);
        s.st.availableVersion.clear();
        (void)e.reconcile(s);
        LP_TRY(e.save(s.st));
        result.applied = true;
        result.summary = "applied patch " + rec.name + " version " + rec.version;
        e.d.logger->info(result.summary);
        return {};
    }

    // report: the server learns at once what was applied (best effort: the
    // next check carries it too).
    void report() {
        if (!api) return;  // a static mirror takes no reports
        if (progress) progress("report", 0, 0);
        auto rep = api->updates(auth, e.report(s.st, s.kernel), "", cancel);
        if (!rep) e.d.logger->warning("status report failed: " + rep.error().message());
    }
};

Engine::Engine(EngineDeps deps) : impl_(new Impl(std::move(deps))) {}
Engine::~Engine() = default;

Result<AgentState> Engine::loadState() const { return impl_->load(); }

Result<Engine::EnableOutcome> Engine::enable(const std::string& token) {
    auto& d = impl_->d;
    auto session = impl_->begin();
    if (!session) return session.error();
    const AgentState& st = session->st;
    if (impl_->staticMirror()) return impl_->enableStatic(*session);
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
        if (impl_->plugins->auths().empty())
            return Error(ErrorCode::PluginInvalid, "no auth plugin is loaded (see `livepatch-agent plugins`)");
        if (specific) return *specific;
        return Error(ErrorCode::TokenInvalid,
                     "the token is neither an auth token (a UUID) nor a valid resource token (a macaroon)");
    }
    if (st.enabled) {
        if (digestEquals(st.tokenDigest, digest) && st.serverUrl == impl_->serverUrl())
            return EnableOutcome::AlreadyEnabled;
        return Error(ErrorCode::AlreadyEnabled,
                     "this machine is already enabled with another token or server; run `livepatch-agent disable` "
                     "first, then enable again");
    }
    const std::string server = impl_->serverUrl();
    auto api = impl_->api(server);
    if (!api) return api.error();
    LP_TRY(impl_->attachKernel(*session));
    const KernelInfo& kernel = session->kernel;
    auto header = chosen->registrationAuthorization(token);
    if (!header) return header.error();
    Poco::JSON::Object body(Poco::JSON_PRESERVE_KEY_ORDER);
    body.set("architecture", kernel.architecture);
    body.set("kernel", kernel.versionSignature);
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
    next.authPlugin = chosen->info().name;
    next.tokenDigest = digest;
    next.kernel = kernel.versionSignature;
    next.architecture = kernel.architecture;
    LP_TRY(impl_->save(next));
    d.logger->info("machine enabled with " + info.kind + " (tier " + reg->tier + ")");
    return EnableOutcome::Enabled;
}

Status Engine::disable(const CancelToken* cancel) {
    auto& d = impl_->d;
    auto session = impl_->begin();
    if (!session) return session.error();
    const AgentState& st = session->st;
    if (!st.enabled) return Error(ErrorCode::NotEnabled, "this machine is not enabled");
    if (st.applied) {
        auto loader = impl_->loader();
        if (!loader) return loader.error();
        auto s = (*loader)->unload(st.applied->name, cancel);
        if (!s) return s.error().wrap("cannot revert patch " + st.applied->name);
        impl_->cache.forgetKernel(st.applied->kernel);
    }
    if (auto api = impl_->api(st.serverUrl.empty() ? impl_->serverUrl() : st.serverUrl)) {
        auto auth = impl_->authorization(st);
        if (auth) {
            auto s = api->deregister(*auth, cancel);
            if (!s) d.logger->warning("could not deregister from the server: " + s.error().message());
        }
    }
    LP_TRY(impl_->creds.remove());
    LP_TRY(impl_->save(AgentState{}));
    d.logger->info("machine disabled; live patches reverted");
    return {};
}

void Engine::allowRollbackOnce() noexcept { impl_->allowRollback = true; }

Result<CycleResult> Engine::runCycle(const PhaseCallback& progress, const CancelToken* cancel) {
    struct ResetRollback {
        bool& flag;
        ~ResetRollback() { flag = false; }
    } resetRollback{impl_->allowRollback};
    auto session = impl_->begin();
    if (!session) return session.error();
    Impl::Session& s = *session;
    if (!s.st.enabled)
        return Error(ErrorCode::NotEnabled, "this machine is not enabled; run `livepatch-agent enable <token>`");
    CycleResult result;
    if (auto why = emergencyStopReason(impl_->d.paths)) {
        result.summary = *why + "; no check, nothing applied";
        return result;
    }
    const RunMode mode = runModeOf(*impl_->d.config);
    if (mode == RunMode::Stop) {
        result.summary = "run-mode is \"stop\": no check, nothing applied";
        return result;
    }
    LP_TRY(impl_->attachKernel(s));
    if (!s.kernel.livepatchSupported) {
        s.st.patchState = PatchState::Unknown;
        s.st.patchError = s.kernel.unsupportedReason;
        (void)impl_->save(s.st);
        return Error(ErrorCode::Unsupported, "this kernel cannot be live patched: " + s.kernel.unsupportedReason);
    }
    if (mode == RunMode::NoRefresh) {
        { fs::FileLock release = std::move(s.lock); }  // reapplyFromCache takes the lock itself
        LP_TRY(reapplyFromCache(cancel));
        result.summary = "run-mode is \"no-refresh\": cached patches re-applied, server not contacted";
        return result;
    }
    return Impl::Cycle(*impl_, s, mode, progress, cancel).run();
}

Status Engine::reapplyFromCache(const CancelToken* cancel) {
    auto session = impl_->begin();
    if (!session) return session.error();
    Impl::Session& s = *session;
    if (!s.st.enabled) return {};
    if (auto why = emergencyStopReason(impl_->d.paths)) {
        impl_->d.logger->warning(*why + "; cached patches not re-applied");
        return {};
    }
    LP_TRY(impl_->attachKernel(s));
    if (impl_->crashGuarded(s)) {
        (void)impl_->reconcile(s);
        LP_TRY(impl_->save(s.st));
        return crashGuardError(s.st);
    }
    LP_TRY(impl_->reconcile(s));
    impl_->cache.cleanInterrupted(s.st, s.kernel.versionSignature, std::nullopt);
    LP_TRY(impl_->save(s.st));
    if (!appliedToKernel(s.st, s.kernel) || appliedIsInKernel(s.st)) return {};
    auto r = impl_->reloadCached(s.st, s.kernel, s.loader, nullptr, cancel);
    return r ? Status{} : Status(r.error());
}

Result<AgentState> Engine::reconcileWithKernel(bool wait) {
    auto session = impl_->begin(wait);
    if (!session) return session.error();
    Impl::Session& s = *session;
    if (!s.st.enabled) return s.st;
    LP_TRY(impl_->attachKernel(s));
    if (!s.kernel.livepatchSupported) return s.st;
    (void)impl_->crashGuarded(s);
    LP_TRY(impl_->reconcile(s));
    LP_TRY(impl_->save(s.st));
    return s.st;
}

Status Engine::healthPing(const CancelToken* cancel) {
    auto& d = impl_->d;
    auto session = impl_->begin();
    if (!session) return session.error();
    Impl::Session& s = *session;
    AgentState& st = s.st;
    if (!st.enabled || !st.applied) return {};
    LP_TRY(impl_->attachKernel(s));
    if (!appliedToKernel(st, s.kernel)) return {};  // nothing of ours in this kernel
    LP_TRY(impl_->reconcile(s));
    LP_TRY(impl_->save(st));
    if (!appliedIsInKernel(st)) return {};  // a health report is about a patch in the kernel
    auto h = s.loader->health();
    if (!h) return h.error();
    // New taint bits or new oops/BUG/WARN lines since the snapshot taken
    // right after the load.
    if ((h->taintMask & ~st.healthTaint) != 0 || h->oopsCount > st.healthOops) {
        d.logger->warning("kernel health changed since patch " + st.applied->version + " was applied (taint " +
                          std::to_string(h->taintMask) + ", oops " + std::to_string(h->oopsCount) + ")");
        if (st.patchState != PatchState::AppliedWithBug) {
            st.patchState = PatchState::AppliedWithBug;
            LP_TRY(impl_->save(st));
        }
    }
    if (impl_->staticMirror()) return {};  // nobody to report to
    auto api = impl_->api(st.serverUrl);
    if (!api) return api.error();
    auto auth = impl_->authorization(st);
    if (!auth) return auth.error();
    AgentState reportState = st;
    reportState.healthTaint = h->taintMask;
    reportState.healthOops = h->oopsCount;
    auto r = api->updates(*auth, impl_->report(reportState, s.kernel), "", cancel);
    return r ? Status{} : Status(r.error());
}

Status Engine::clearCrashGuard() {
    auto session = impl_->begin();
    if (!session) return session.error();
    Impl::Session& s = *session;
    liftCrashGuard(s.st);
    // Say what the kernel holds, not what was recorded before the restart.
    if (s.st.enabled) {
        LP_TRY(impl_->attachKernel(s));
        if (s.kernel.livepatchSupported) LP_TRY(impl_->reconcile(s));
    }
    return impl_->save(s.st);
}

}  // namespace livepatch
