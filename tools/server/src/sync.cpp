#include "sync.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <Poco/JSON/Array.h>
#include <Poco/JSON/Parser.h>
#include <Poco/URI.h>
#include <openssl/rand.h>

#include <algorithm>
#include <iostream>
#include <regex>
#include <set>
#include <sstream>

#include "admin_client.h"
#include "crypto/sha256.h"
#include "input.h"
#include "livepatch/text.h"
#include "package/patch_package.h"
#include "publish.h"
#include "tuf/updater.h"
#include "util/fs.h"
#include "util/timeutil.h"

namespace lpserver {

using livepatch::Error;
using livepatch::ErrorCode;

namespace {

// What the upstream sends is checked before it reaches a path, the
// catalogue or a log: the shapes uploads accept (input.h), and these.
const std::regex kArchRe("^[a-z0-9_]{1,32}$");
const std::regex kFlavourRe("^[a-z0-9_.+~]{1,32}$");  // no '-': a flavour is what follows the last one
const std::regex kSyncTokenNameRe("^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$");

std::int64_t nowMs() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

std::string rfc3339Ms(std::int64_t ms) {
    return livepatch::timeutil::formatRfc3339(std::chrono::system_clock::time_point(std::chrono::milliseconds(ms)));
}

std::string rfc3339S(std::int64_t s) { return rfc3339Ms(s * 1000); }

std::string json(const Poco::JSON::Object& o) {
    std::ostringstream out;
    o.stringify(out);
    return out.str();
}

SyncAnswer errorAnswer(int status, const std::string& code, const std::string& message) {
    Poco::JSON::Object o;
    o.set("error", code);
    o.set("message", message);
    return {status, json(o)};
}

std::string field(const Poco::JSON::Object::Ptr& o, const std::string& name, const std::regex& re,
                  const std::string& what, bool required = true) {
    if (!o->has(name)) {
        if (!required) return "";
        throw BadInput(name + ": missing (expected " + what + ")");
    }
    const Poco::Dynamic::Var v = o->get(name);
    if (!v.isString() || !std::regex_match(v.extract<std::string>(), re)) throw BadInput(name + ": expected " + what);
    return v.extract<std::string>();
}

Poco::JSON::Object reportJson(const SyncReportRow& r) {
    Poco::JSON::Object o(Poco::JSON_PRESERVE_KEY_ORDER);
    o.set("started", rfc3339Ms(r.startedMs));
    o.set("finished", rfc3339Ms(r.finishedMs));
    o.set("result", r.result);
    o.set("added", r.added);
    if (r.error.empty()) o.set("error", Poco::Dynamic::Var());
    else o.set("error", r.error);
    return o;
}

// The upstream's TUF metadata (GET /v1/tuf/metadata/<file>) through the
// sync's own HTTP client: its CA, its sync token, and the Updater's limit
// for each file as the most it reads.
class UpstreamFetcher : public livepatch::tuf::Fetcher {
public:
    UpstreamFetcher(const lpadmin::Session& upstream, const std::string& token) : up_(upstream), token_(token) {}
    livepatch::Result<std::string> fetch(const std::string& relativePath, std::uint64_t maxLength) override {
        if (!livepatch::tuf::isSafeTargetPath(relativePath))
            return Error(ErrorCode::Protocol,
                         "unsafe repository path \"" + livepatch::tuf::printable(relativePath) + "\"");
        const std::string path = "/v1/tuf/metadata/" + relativePath;
        // Role names come from signed metadata, which may still be an
        // attacker's: the path is made printable for the report.
        const std::string shown = "/v1/tuf/metadata/" + livepatch::tuf::printable(relativePath);
        std::string body;
        auto got = lpadmin::fetch(up_, path, "Bearer " + token_, 0, maxLength, [&](const char* b, std::size_t n) {
            body.append(b, n);
            return true;
        });
        if (!got) return Error(got.error().code(), shown + ": " + got.error().message());
        if (got->status == 404) return Error(ErrorCode::NotFound, "the upstream has no " + shown);
        if (got->status != 200)
            return Error(ErrorCode::HttpStatus,
                         "the upstream answered " + std::to_string(got->status) + " to " + shown);
        return body;
    }

private:
    const lpadmin::Session& up_;
    const std::string& token_;
};

}  // namespace

std::string randomUuid() {
    unsigned char r[16];
    if (RAND_bytes(r, sizeof r) != 1) throw std::runtime_error("no randomness");
    r[6] = (r[6] & 0x0F) | 0x40;
    r[8] = (r[8] & 0x3F) | 0x80;
    char buf[40];
    snprintf(buf, sizeof buf, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", r[0], r[1], r[2],
             r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11], r[12], r[13], r[14], r[15]);
    return buf;
}

livepatch::Status parseSyncFilter(const std::string& spec, SyncOptions& into) {
    // Each key, its list and the shape of its words.
    struct Key {
        const char* key;
        std::set<std::string>* list;
        const std::regex* re;
        const char* what;
    };
    const Key keys[] = {{"kernels", &into.kernels, &kKernelRe, "kernel"},
                        {"architectures", &into.architectures, &kArchRe, "architecture"},
                        {"flavours", &into.flavours, &kFlavourRe, "flavour"}};
    const Key* current = nullptr;
    std::stringstream in(spec);
    std::string item;
    while (std::getline(in, item, ',')) {
        auto eq = item.find('=');
        if (eq != std::string::npos) {
            const std::string key = item.substr(0, eq);
            current = nullptr;
            for (const auto& k : keys)
                if (key == k.key) current = &k;
            if (!current)
                return Error(ErrorCode::ConfigInvalid,
                             "--sync-filter: unknown key (expected kernels=, architectures= and flavours=)");
            item = item.substr(eq + 1);
        }
        if (!current)
            return Error(ErrorCode::ConfigInvalid,
                         "--sync-filter: expected kernels=K1,K2,..., architectures=A1,... and/or flavours=F1,...");
        if (item.empty()) continue;
        if (!std::regex_match(item, *current->re))
            return Error(ErrorCode::ConfigInvalid, std::string("--sync-filter: not a ") + current->what + " name");
        current->list->insert(item);
    }
    return {};
}

livepatch::Result<std::string> readSyncTrustRoot(const std::string& path) {
    const livepatch::tuf::MetadataLimits limits;
    auto pin = livepatch::fs::readFile(path, limits.rootMaxLength);
    if (!pin) return Error(ErrorCode::ConfigInvalid, "--upstream-trust-root: cannot read " + path);
    LP_TRY(livepatch::tuf::checkSelfSignedRoot(*pin, "--upstream-trust-root"));
    return pin;
}

std::string kernelFlavour(const std::string& kernel) {
    const auto dash = kernel.rfind('-');
    return dash == std::string::npos ? std::string() : kernel.substr(dash + 1);
}

bool syncFilterAccepts(const SyncOptions& filter, const std::string& kernel, const std::string& architecture) {
    auto allows = [](const std::set<std::string>& list, const std::string& v) { return list.empty() || list.count(v); };
    return allows(filter.kernels, kernel) && allows(filter.architectures, architecture) &&
           allows(filter.flavours, kernelFlavour(kernel));
}

livepatch::Result<std::optional<std::string>> syncTokenTier(Store& store, const std::string& authorization,
                                                            SyncAnswer& refused) {
    if (authorization.rfind("Bearer ", 0) != 0 || !std::regex_match(authorization.substr(7), kTokenRe)) {
        refused = errorAnswer(401, "unauthorized", "a sync token is required (Authorization: Bearer)");
        return std::optional<std::string>();
    }
    auto row = store.syncToken(authorization.substr(7));
    if (!row) return row.error();
    if (!*row) {
        refused = errorAnswer(401, "unauthorized", "unknown or revoked sync token");
        return std::optional<std::string>();
    }
    if ((*row)->validUntil != 0 && nowMs() / 1000 >= (*row)->validUntil) {
        refused = errorAnswer(401, "unauthorized", "sync token expired");
        return std::optional<std::string>();
    }
    return std::optional<std::string>((*row)->tier);
}

SyncAnswer syncListing(CatalogueStore& catalogue, PatchStore& patches,
                       const std::function<bool(const CataloguePatch&)>& visible, const std::string& tier) {
    auto cat = catalogue.snapshot();
    if (!cat && cat.error().code() == ErrorCode::Network)
        return errorAnswer(503, "unavailable", "the server's database is unavailable; try again later");
    if (!cat) return errorAnswer(500, "internal", "catalogue unavailable");
    Poco::JSON::Array list;
    for (const auto& k : (*cat)->kernels)
        for (const auto& p : k.patches) {
            if (!visible(p)) continue;
            auto d = patches.info(p.file);
            if (!d && d.error().code() == ErrorCode::Network)
                return errorAnswer(503, "unavailable", "the server's database is unavailable; try again later");
            if (!d) continue;
            Poco::JSON::Object e(Poco::JSON_PRESERVE_KEY_ORDER);
            e.set("file", p.file);
            e.set("name", p.name);
            e.set("version", p.version);
            e.set("kernel", k.kernel);
            e.set("architecture", k.architecture);
            e.set("sha256", d->sha256);
            e.set("length", d->length);
            list.add(e);
        }
    Poco::JSON::Object out(Poco::JSON_PRESERVE_KEY_ORDER);
    out.set("tier", tier);
    out.set("patches", list);
    return {200, json(out)};
}

Syncer::Syncer(SyncOptions options, std::string dataDir, CatalogueStore& catalogue, std::uint64_t maxPatchBytes,
               Store& store, PatchStore& patches)
    : opt_(std::move(options)),
      dataDir_(std::move(dataDir)),
      catalogue_(catalogue),
      maxPatchBytes_(maxPatchBytes),
      store_(store),
      patches_(patches) {}

Syncer::~Syncer() { stop(); }

void Syncer::start() {
    if (opt_.upstream.empty() || thread_.joinable()) return;
    thread_ = std::thread([this] { loop(); });
}

void Syncer::stop() {
    {
        std::lock_guard<std::mutex> l(loopMu_);
        stopping_ = true;
    }
    wake_.notify_all();
    if (thread_.joinable()) thread_.join();
}

void Syncer::trigger() {
    {
        std::lock_guard<std::mutex> l(loopMu_);
        pending_ = true;
    }
    wake_.notify_all();
}

// A run at start (a new mirror fills at once), then every interval and on
// trigger(); with interval 0 only on trigger().
void Syncer::loop() {
    std::unique_lock<std::mutex> l(loopMu_);
    bool due = opt_.interval.count() > 0;
    for (;;) {
        if (!due) {
            auto ready = [&] { return stopping_ || pending_; };
            if (opt_.interval.count() > 0) wake_.wait_for(l, opt_.interval, ready);
            else wake_.wait(l, ready);
        }
        if (stopping_) return;
        pending_ = false;
        due = false;
        l.unlock();
        runNow();
        l.lock();
    }
}

SyncReportRow Syncer::runNow() {
    std::lock_guard<std::mutex> l(runMu_);
    SyncReportRow r = run();
    if (r.result == "ok") std::cout << "sync: run ok, " << r.added << " patch(es) added" << std::endl;
    else std::cout << "sync: run failed (" << r.added << " added): " << r.error << std::endl;
    auto s = store_.addSyncReport(r);
    if (!s) std::cerr << "sync: the run could not be recorded: the database is unavailable" << std::endl;
    return r;
}

SyncReportRow Syncer::run() {
    SyncReportRow r;
    r.startedMs = nowMs();
    auto done = [&](const std::string& error) {
        r.finishedMs = nowMs();
        r.result = error.empty() ? "ok" : "failed";
        r.error = error;
        return r;
    };
    // A token others can read may have been copied: refused, as
    // livepatch-admin refuses such a session file.
    struct stat st {};
    if (::stat(opt_.tokenFile.c_str(), &st) != 0) return done("cannot read the sync token file");
    if ((st.st_mode & 077) != 0) return done("the sync token file is readable by others: chmod 600 it");
    auto text = livepatch::fs::readFile(opt_.tokenFile, 4096);
    if (!text) return done("cannot read the sync token file");
    std::string token = *text;
    while (!token.empty() && (token.back() == '\n' || token.back() == '\r' || token.back() == ' ')) token.pop_back();
    if (!std::regex_match(token, kTokenRe)) return done("the sync token file holds no sync token");
    auto cat = catalogue_.snapshot();
    if (!cat) return done("this server's catalogue cannot be read");
    const auto tiers = (*cat)->tierNames();
    const lpadmin::Session upstream{opt_.upstream, opt_.caFile, "", ""};
    auto resp = lpadmin::request(upstream, "GET", "/v1/sync/patches", "Bearer " + token);
    if (!resp) return done(resp.error().message());
    if (resp->status == 401) {
        // The upstream's own reason (unknown or revoked, expired): untrusted
        // text, so bounded and made terminal-safe.
        std::string why;
        try {
            why = Poco::JSON::Parser()
                      .parse(resp->body)
                      .extract<Poco::JSON::Object::Ptr>()
                      ->optValue<std::string>("message", "");
        } catch (...) {
        }
        return done("the upstream refused the sync token (401" +
                    (why.empty() ? std::string() : ": " + livepatch::terminalSafe(why, 100)) + ")");
    }
    if (resp->status != 200)
        return done("the upstream answered " + std::to_string(resp->status) + " to the patch listing");
    if (resp->body.size() > (16u << 20)) return done("the upstream's patch listing is larger than 16 MiB");
    Poco::JSON::Array::Ptr patches;
    try {
        patches = Poco::JSON::Parser().parse(resp->body).extract<Poco::JSON::Object::Ptr>()->getArray("patches");
    } catch (...) {
    }
    if (!patches) return done("the upstream's patch listing is not valid JSON with patches");
    // The signed catalogue before any download: a freeze (expired
    // timestamp) or a rollback fails the whole run with the TUF error.
    std::optional<std::vector<SignedTarget>> signedTargets;
    std::string verifiedBy = "listing", withdrawal;
    if (!opt_.trustRoot.empty()) {
        auto targets = signedCatalogue(token);
        if (!targets) return done("the upstream's signed catalogue: " + targets.error().message());
        signedTargets = std::move(*targets);
        auto pin = readSyncTrustRoot(opt_.trustRoot);
        if (!pin) return done(pin.error().message());
        verifiedBy = "signed-catalogue:" + livepatch::sha256Hex(*pin).substr(0, 16);
        auto withdrawn = recheckMirrored(*signedTargets, verifiedBy);
        if (!withdrawn) return done("re-checking the patches mirrored before: " + withdrawn.error().message());
        for (const auto& file : *withdrawn) withdrawal += (withdrawal.empty() ? "" : ", ") + file;
        if (!withdrawal.empty())
            withdrawal = "withdrew " + std::to_string(withdrawn->size()) +
                         " patch(es) mirrored before this trust root was pinned that the upstream's signed catalogue "
                         "does not vouch for: " +
                         withdrawal;
    }
    // Every patch is tried; the run fails with the first error (the others
    // are in the server's log), and with any withdrawal.
    std::string firstError;
    for (std::size_t i = 0; i < patches->size(); ++i) {
        auto entry = patches->getObject(i);
        auto s =
            entry ? syncOne(token, entry, tiers.front(), signedTargets ? &*signedTargets : nullptr, verifiedBy, r.added)
                  : livepatch::Status(Error(ErrorCode::Protocol, "a listing entry is not an object"));
        if (!s) {
            std::cout << "sync: " << s.error().message() << std::endl;
            if (firstError.empty()) firstError = s.error().message();
        }
    }
    if (!withdrawal.empty()) firstError += (firstError.empty() ? "" : "; ") + withdrawal;
    return done(firstError);
}

livepatch::Result<std::vector<Syncer::SignedTarget>> Syncer::signedCatalogue(const std::string& token) {
    // The operator's root.json is pinned into <data-dir>/sync-tuf once; from
    // then on only the Updater replaces it (signed root rotation). A changed
    // file is a new pin, as `config trust-root=` is for the agent.
    auto pin = readSyncTrustRoot(opt_.trustRoot);
    if (!pin) return pin.error();
    const livepatch::tuf::MetadataLimits limits;
    const std::string dir = dataDir_ + "/sync-tuf", pinned = dataDir_ + "/sync-tuf.pinned-root.json";
    // Replicas sharing the data dir take turns: a re-pin empties the directory.
    livepatch::fs::UniqueFd lock(
        ::open((dataDir_ + "/.sync-tuf.lock").c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600));
    if (lock.get() < 0 || ::flock(lock.get(), LOCK_EX) != 0)
        return Error(ErrorCode::Io, "cannot lock " + dataDir_ + "/.sync-tuf.lock");
    auto last = livepatch::fs::readFile(pinned, limits.rootMaxLength);
    if (!last || *last != *pin || !livepatch::fs::exists(dir + "/root.json")) {
        LP_TRY(livepatch::tuf::pinRoot(dir, *pin, "--upstream-trust-root"));
        LP_TRY(livepatch::fs::writeFileAtomic(pinned, *pin, 0600));
    }
    const lpadmin::Session upstream{opt_.upstream, opt_.caFile, "", ""};
    UpstreamFetcher fetcher(upstream, token);
    livepatch::tuf::Updater updater(dir, fetcher);
    LP_TRY(updater.refresh());
    auto targets = updater.allTargets();
    if (!targets) return targets.error();
    std::vector<SignedTarget> out;
    for (const auto& t : *targets) {
        // Only what the filter lets through is read: a malformed entry for a
        // kernel this site does not run does not stop its sync.
        auto p = livepatch::readSignedPatch(
            t, [&](const std::string& k, const std::string& a) { return syncFilterAccepts(opt_, k, a); });
        if (!p) return p.error();
        if (*p) out.push_back({std::move(**p), t});
    }
    return out;
}

// Patches this server mirrored before the current trust root was pinned
// (vouched for by the listing alone, or under another root) are checked
// against the signed catalogue now, as if mirrored today: a match is marked
// verified under this pin; anything else is taken out of the catalogue and
// the patch store (so the signed bytes can be mirrored under the same name).
// Kernels outside --sync-filter are not in signedTargets and are left alone.
livepatch::Result<std::vector<std::string>> Syncer::recheckMirrored(const std::vector<SignedTarget>& signedTargets,
                                                                    const std::string& verifiedBy) {
    auto cat = catalogue_.snapshot();
    if (!cat) return cat.error();
    std::set<std::string> confirmed, withdrawn;
    for (const auto& k : (*cat)->kernels)
        for (const auto& p : k.patches) {
            if (p.source != PatchSource::Upstream || p.verifiedBy == verifiedBy) continue;
            if (!syncFilterAccepts(opt_, k.kernel, k.architecture)) continue;
            auto stored = patches_.info(p.file);
            if (!stored && stored.error().code() == ErrorCode::Network) return stored.error();
            bool vouched = false;
            for (const auto& t : signedTargets) {
                const auto& sp = t.patch;
                vouched = vouched || (stored && sp.name == p.name && sp.version == p.version && sp.kernel == k.kernel &&
                                      sp.architecture == k.architecture && sp.length == stored->length &&
                                      livepatch::digestEquals(sp.sha256, stored->sha256));
            }
            (vouched ? confirmed : withdrawn).insert(p.file);
        }
    if (confirmed.empty() && withdrawn.empty()) return std::vector<std::string>{};
    LP_TRY(catalogue_.edit([&](YAML::Node& root) -> livepatch::Status {
        for (auto k : root["kernels"]) {
            YAML::Node kept(YAML::NodeType::Sequence);
            for (auto p : k["patches"]) {
                const std::string file = p["file"].as<std::string>();
                if (withdrawn.count(file)) continue;
                if (confirmed.count(file)) p["verified-by"] = verifiedBy;
                kept.push_back(p);
            }
            k["patches"] = kept;
        }
        return {};
    }));
    for (const auto& file : confirmed)
        std::cout << "sync: " << file << ": mirrored before this trust root was pinned; the upstream's signed "
                  << "catalogue vouches for it" << std::endl;
    for (const auto& file : withdrawn) {
        auto removed = patches_.remove(file);
        std::cout << "sync: withdrew " << file << ": mirrored before this trust root was pinned, and the upstream's "
                  << "signed catalogue does not vouch for its bytes"
                  << (removed ? "" : " (its file could not be removed: " + removed.error().message() + ")")
                  << std::endl;
    }
    return std::vector<std::string>(withdrawn.begin(), withdrawn.end());
}

livepatch::Status Syncer::syncOne(const std::string& token, const Poco::JSON::Object::Ptr& e,
                                  const std::string& firstTier, const std::vector<SignedTarget>* signedTargets,
                                  const std::string& verifiedBy, int& added) {
    auto str = [&](const char* key, const std::regex& re) -> std::optional<std::string> {
        if (!e->has(key) || !e->get(key).isString()) return std::nullopt;
        std::string v = e->getValue<std::string>(key);
        if (!std::regex_match(v, re)) return std::nullopt;
        return v;
    };
    auto file = str("file", kFileRe), name = str("name", kPatchNameRe), kernel = str("kernel", kKernelRe),
         arch = str("architecture", kArchRe), sha = str("sha256", kSha256Re);
    auto version = str("version", kVersionRe);
    if (!file || !name || !kernel || !arch || !sha || !version || !livepatch::isPatchVersion(*version))
        return Error(ErrorCode::Protocol, "the upstream listed a patch with a missing or malformed field (skipped)");
    if (!e->has("length") || !e->get("length").isInteger())
        return Error(ErrorCode::Protocol, *file + ": no length in the listing");
    const auto lengthSigned = e->get("length").convert<Poco::Int64>();
    if (lengthSigned <= 0 || static_cast<std::uint64_t>(lengthSigned) > maxPatchBytes_)
        return Error(ErrorCode::TooLarge, *file + ": length outside 1 byte to the server's upload limit");
    const auto length = static_cast<std::uint64_t>(lengthSigned);
    if (!syncFilterAccepts(opt_, *kernel, *arch)) return {};
    // Already here (by file, or the same version for the same kernel): nothing to do.
    auto cat = catalogue_.snapshot();
    if (!cat) return Error(cat.error().code(), "this server's catalogue cannot be read");
    for (const auto& k : (*cat)->kernels)
        for (const auto& p : k.patches)
            if (p.file == *file ||
                (k.kernel == *kernel && k.architecture == *arch && p.name == *name && p.version == *version))
                return {};

    // With a pinned upstream root: only a patch a signed target describes
    // exactly, refused before a byte is downloaded.
    const SignedTarget* signedTarget = nullptr;
    if (signedTargets) {
        bool sameIdentity = false;
        for (const auto& t : *signedTargets) {
            const auto& p = t.patch;
            if (p.name != *name || p.version != *version || p.kernel != *kernel || p.architecture != *arch) continue;
            sameIdentity = true;
            if (p.length == length && livepatch::digestEquals(p.sha256, *sha)) signedTarget = &t;
        }
        if (!signedTarget)
            return Error(ErrorCode::SignatureInvalid,
                         *file + ": refused: " +
                             (sameIdentity ? "its length or sha256 differs from the upstream's signed catalogue"
                                           : "the upstream's signed catalogue does not list it"));
    }

    // Download into a .part file, continued with a Range request when an
    // earlier run was interrupted. Dot files are never listed in the
    // catalogue, so nothing serves a partial file.
    const std::string dir = patches_.stagingDir();
    const std::string part = dir + "/.sync-" + *file + ".part";
    livepatch::fs::UniqueFd fd(::open(part.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW | O_CLOEXEC, 0644));
    if (fd.get() < 0) return Error(ErrorCode::Io, *file + ": cannot create the download file");
    // Replicas sharing the data dir may sync at once: one downloads, the
    // others leave this patch to it (publication is idempotent anyway).
    if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) return {};
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) return Error(ErrorCode::Io, *file + ": cannot read the download file");
    std::uint64_t have = static_cast<std::uint64_t>(st.st_size);
    if (have > length) {  // not a prefix of this patch: start again
        if (::ftruncate(fd.get(), 0) != 0) return Error(ErrorCode::Io, *file + ": cannot reset the download file");
        have = 0;
    }
    auto refuse = [&](const std::string& why) {
        ::unlink(part.c_str());
        return Error(ErrorCode::ChecksumMismatch, *file + ": refused: " + why);
    };
    if (have < length) {
        if (have > 0) std::cout << "sync: resuming " << *file << " at byte " << have << std::endl;
        const lpadmin::Session upstream{opt_.upstream, opt_.caFile, "", ""};
        auto got = lpadmin::fetch(upstream, "/v1/sync/files/" + *file, "Bearer " + token, have, length - have,
                                  [&](const char* b, std::size_t n) {
                                      for (std::size_t off = 0; off < n;) {
                                          ssize_t w = ::write(fd.get(), b + off, n - off);
                                          if (w <= 0) return false;
                                          off += static_cast<std::size_t>(w);
                                      }
                                      return true;
                                  });
        if (!got) return Error(got.error().code(), *file + ": " + got.error().message());
        if (got->status == 401)
            return Error(ErrorCode::TokenInvalid, *file + ": the upstream refused the sync token (401)");
        if (got->status == 416) return refuse("the upstream's file is shorter than the resumed download");
        if (got->status != 200 && got->status != 206)
            return Error(ErrorCode::HttpStatus, *file + ": the upstream answered " + std::to_string(got->status));
        // A 200 to a Range request sends the whole file after the part we
        // had: the length check below refuses it and the next run starts over.
        if (have > 0 && got->status == 206 && got->contentRange.rfind("bytes " + std::to_string(have) + "-", 0) != 0)
            return refuse("the upstream answered a different range than asked");
    }
    if (::fsync(fd.get()) != 0 || ::fstat(fd.get(), &st) != 0)
        return Error(ErrorCode::Io, *file + ": cannot store the download");
    fd = livepatch::fs::UniqueFd();
    // The connection closed early: keep the part, the next run resumes it.
    if (static_cast<std::uint64_t>(st.st_size) < length)
        return Error(ErrorCode::Network, *file + ": transfer interrupted at byte " + std::to_string(st.st_size) +
                                             " of " + std::to_string(length) + "; the next sync resumes it");
    // Length and sha256 as the listing announced them, from the bytes on disk.
    auto data = livepatch::fs::readFile(part, length + 1);
    if (!data || data->size() != length) return refuse("its length differs from the upstream's listing");
    if (!livepatch::digestEquals(livepatch::sha256Hex(*data), *sha))
        return refuse("its sha256 differs from the upstream's listing");
    if (signedTarget && !livepatch::tuf::verifyTarget(signedTarget->target, *data))
        return refuse("its hashes differ from the upstream's signed catalogue");
    // The upload path's verifier: safe unpack, metadata, signed module.
    auto md = checkSignedPatch(part, dir);
    if (!md) return refuse(livepatch::terminalSafe(md.error().message(), 200));
    if (md->name != *name || md->version != *version || md->kernel != *kernel || md->architecture != *arch)
        return refuse("its metadata differs from the upstream's listing");
    auto s = publishStagedPatch(patches_, catalogue_, part, *file, firstTier, *md, verifiedBy);
    ::unlink(part.c_str());
    if (!s && s.error().code() != ErrorCode::AlreadyEnabled)
        return Error(s.error().code(), *file + ": " + s.error().message());
    if (s) {
        ++added;
        std::cout << "sync: added " << *file << " (" << *name << " " << *version << ", " << *kernel << " " << *arch
                  << ") to tier " << firstTier << std::endl;
    }
    return {};
}

livepatch::Result<SyncAnswer> Syncer::admin(const std::string& method, const std::string& path,
                                            const std::string& query, const std::string& body) {
    try {
        const Poco::JSON::Object::Ptr o = parseJsonObject(body);
        if (path == "/admin/sync-tokens" && method == "POST") {
            const std::string tier = field(o, "tier", tierNameRe(), "a tier name ([a-z0-9._-], at most 32)");
            auto cat = catalogue_.snapshot();
            if (!cat && cat.error().code() == ErrorCode::Network) return cat.error();
            if (!cat) return errorAnswer(500, "internal", "the catalogue cannot be read");
            const auto tiers = (*cat)->tierNames();
            if (std::find(tiers.begin(), tiers.end(), tier) == tiers.end()) throw BadInput("tier: no such tier");
            const std::string name = field(o, "name", kSyncTokenNameRe, "a name of 1-64 [A-Za-z0-9._-]");
            std::int64_t until = 0;
            if (o->has("valid-until")) {
                auto t = livepatch::timeutil::parseRfc3339(field(o, "valid-until", kRfc3339Re, "an RFC 3339 time"));
                if (!t) throw BadInput("valid-until: expected an RFC 3339 time");
                until = std::chrono::duration_cast<std::chrono::seconds>(t->time_since_epoch()).count();
            }
            const std::string token = randomUuid();
            auto s = store_.addSyncToken(name, token, tier, until);
            if (!s && s.error().code() == ErrorCode::AlreadyEnabled)
                return errorAnswer(409, "conflict", s.error().message());
            if (!s) return s.error();
            Poco::JSON::Object out(Poco::JSON_PRESERVE_KEY_ORDER);
            out.set("name", name);
            out.set("tier", tier);
            out.set("token", token);  // shown once: only its digest is kept
            if (until) out.set("valid-until", rfc3339S(until));
            else out.set("valid-until", Poco::Dynamic::Var());
            return SyncAnswer{201, json(out)};
        }
        if (path == "/admin/sync-tokens" && method == "GET") {
            auto rows = store_.syncTokens();
            if (!rows) return rows.error();
            Poco::JSON::Array list;
            const std::int64_t now = nowMs() / 1000;
            for (const auto& t : *rows) {
                Poco::JSON::Object e(Poco::JSON_PRESERVE_KEY_ORDER);
                e.set("name", t.name);
                e.set("tier", t.tier);
                if (t.validUntil) e.set("valid-until", rfc3339S(t.validUntil));
                else e.set("valid-until", Poco::Dynamic::Var());
                e.set("expired", t.validUntil != 0 && now >= t.validUntil);
                e.set("created", rfc3339S(t.created));
                list.add(e);
            }
            Poco::JSON::Object out;
            out.set("sync-tokens", list);
            return SyncAnswer{200, json(out)};
        }
        if (path == "/admin/sync-tokens/revoke" && method == "POST") {
            const std::string name = field(o, "name", kSyncTokenNameRe, "a name of 1-64 [A-Za-z0-9._-]");
            auto gone = store_.removeSyncToken(name);
            if (!gone) return gone.error();
            if (!*gone) return errorAnswer(404, "not-found", "no such sync token");
            Poco::JSON::Object out;
            out.set("revoked", name);
            return SyncAnswer{200, json(out)};
        }
        if (path == "/admin/sync" && method == "POST") {
            if (opt_.upstream.empty())
                return errorAnswer(400, "bad-request",
                                   "this server has no upstream (start it with --upstream URL --sync-token-file FILE)");
            if (o->has("wait") && !o->get("wait").isBoolean()) throw BadInput("wait: expected true or false");
            if (!o->optValue<bool>("wait", false)) {
                trigger();
                return SyncAnswer{202, "{\"triggered\":true}"};
            }
            return SyncAnswer{200, json(reportJson(runNow()))};
        }
        if (path == "/admin/sync/reports" && method == "GET") {
            Poco::JSON::Object::Ptr q(new Poco::JSON::Object);
            for (const auto& kv : Poco::URI("/?" + query).getQueryParameters()) q->set(kv.first, kv.second);
            const std::string l = field(q, "limit", kLimitRe, "a count from 1 to 1000", false);
            const std::size_t limit = l.empty() ? 20 : std::stoul(l);
            if (limit == 0 || limit > 1000) throw BadInput("limit: expected a count from 1 to 1000");
            auto rows = store_.syncReports(limit);
            if (!rows) return rows.error();
            Poco::JSON::Array list;
            for (const auto& r : *rows) list.add(reportJson(r));
            Poco::JSON::Object out;
            out.set("reports", list);
            return SyncAnswer{200, json(out)};
        }
        return errorAnswer(404, "not-found", "no such admin endpoint");
    } catch (const BadInput& e) {
        return errorAnswer(400, "bad-request", e.what());
    } catch (const Poco::Exception&) {
        return errorAnswer(400, "bad-request", "invalid admin request");
    }
}

}  // namespace lpserver
