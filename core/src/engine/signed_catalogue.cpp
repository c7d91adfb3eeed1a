#include "engine/signed_catalogue.h"

#include <regex>

#include "livepatch/text.h"
#include "tuf/metadata.h"
#include "util/fs.h"
#include "util/timeutil.h"

namespace livepatch {

namespace {

// Signed text is still text from the network: the signer's keys may be the
// attacker's (a compromised targets key until rotation), so it gets the same
// bounds as the server's answer before it is stored or shown.
Result<std::string> signedText(const tuf::Json& custom, const std::string& key, bool required, std::size_t maxBytes,
                               const std::string& ctx) {
    const tuf::Json* v = custom.find(key);
    if (!v || v->kind() == tuf::Json::Kind::Null) {
        if (required) return Error(ErrorCode::Protocol, ctx + ": signed custom field \"" + key + "\" is missing");
        return std::string();
    }
    if (!v->isString() || !isPrintableText(v->asString(), maxBytes))
        return Error(ErrorCode::Protocol, ctx + ": signed custom field \"" + key +
                                              "\" must be printable text of at most " + std::to_string(maxBytes) +
                                              " bytes");
    return v->asString();
}

std::string baseName(const std::string& path) {
    auto slash = path.rfind('/');
    return slash == std::string::npos ? path : path.substr(slash + 1);
}

// The offer the decide phase works on, every field from the signed entry.
Result<std::optional<SignedOffer>> offerFor(const tuf::TargetFile& t, const std::string& kernel,
                                            const std::string& architecture, const std::string& url) {
    const std::string ctx = "target " + tuf::printable(t.path);
    if (!t.custom.isObject()) return std::optional<SignedOffer>();  // not a patch (no custom): not ours to load
    auto k = signedText(t.custom, "kernel", true, 128, ctx);
    if (!k) return k.error();
    auto arch = signedText(t.custom, "architecture", true, 32, ctx);
    if (!arch) return arch.error();
    if (*k != kernel || *arch != architecture) return std::optional<SignedOffer>();
    SignedOffer s;
    s.target = t;
    PatchOffer& o = s.offer;
    auto name = signedText(t.custom, "name", true, 64, ctx);
    if (!name) return name.error();
    auto version = signedText(t.custom, "version", true, 64, ctx);
    if (!version) return version.error();
    if (!isPatchVersion(*version))
        return Error(ErrorCode::Protocol, ctx + ": signed version \"" + *version + "\" is not a patch version");
    auto published = signedText(t.custom, "published", true, 64, ctx);
    if (!published) return published.error();
    if (!timeutil::parseRfc3339(*published))
        return Error(ErrorCode::Protocol, ctx + ": signed \"published\" is not an RFC 3339 time");
    static const std::regex fileRe("^[A-Za-z0-9._+-]{1,200}$");
    o.filename = baseName(t.path);
    if (!std::regex_match(o.filename, fileRe))
        return Error(ErrorCode::Protocol, ctx + ": the file name is not a plain patch file name");
    if (!t.hashes.count("sha256")) return Error(ErrorCode::Protocol, ctx + ": the signed entry lists no sha256");
    o.name = *name;
    o.version = *version;
    o.published = *published;
    o.sha256 = t.hashes.at("sha256");
    o.size = t.length;
    o.url = url;
    if (const tuf::Json* fixes = t.custom.find("fixes")) {
        if (!fixes->isArray()) return Error(ErrorCode::Protocol, ctx + ": signed \"fixes\" must be an array");
        for (const auto& f : fixes->asArray()) {
            if (!f.isObject()) return Error(ErrorCode::Protocol, ctx + ": each signed fix must be an object");
            PatchFix fix;
            auto n = signedText(f, "name", true, 128, ctx + " fix");
            if (!n) return n.error();
            auto d = signedText(f, "description", false, 1024, ctx + " fix");
            if (!d) return d.error();
            auto b = signedText(f, "bug", false, 256, ctx + " fix");
            if (!b) return b.error();
            fix.name = *n, fix.description = *d, fix.bug = *b;
            const tuf::Json* patched = f.find("patched");
            fix.patched = !patched || !patched->isBool() || patched->asBool();
            o.fixes.push_back(fix);
        }
    }
    return std::optional<SignedOffer>(std::move(s));
}

}  // namespace

std::string trustDir(const Paths& paths) { return fs::join(paths.stateDir, "tuf"); }

bool trustRootConfigured(const Config& config) { return config.getOr("trust-root", "") == "pinned"; }

bool staticSource(const Config& config) { return config.getOr("source-type", "server") == "static"; }

std::string catalogueBaseUrl(const Config& config) {
    std::string base = config.getOr("remote-server", "");
    while (!base.empty() && base.back() == '/') base.pop_back();
    return staticSource(config) ? base : base + "/v1/tuf";
}

Status pinTrustRoot(const Paths& paths, const std::string& rootJson) {
    const tuf::MetadataLimits limits;
    auto root = tuf::parseRoot(rootJson, limits.rootMaxLength);
    if (!root)
        return Error(ErrorCode::ConfigInvalid, "trust-root: expected a TUF root.json (" + root.error().message() + ")");
    auto signedBy = tuf::verifyThreshold(*root, root->keys, root->roles.at("root"), "trust-root");
    if (!signedBy)
        return Error(ErrorCode::ConfigInvalid,
                     "trust-root: the root is not signed by its own root keys (" + signedBy.error().message() + ")");
    LP_TRY(unpinTrustRoot(paths));
    LP_TRY(fs::ensurePrivateDir(trustDir(paths), 0700));
    return fs::writeFileAtomic(fs::join(trustDir(paths), "root.json"), rootJson, 0600);
}

Status unpinTrustRoot(const Paths& paths) {
    if (!fs::exists(trustDir(paths))) return {};
    return fs::removeTree(trustDir(paths));
}

Result<HttpResponse> TransportFetcher::get(const std::string& relativePath, std::uint64_t maxLength,
                                           const std::string& validator) {
    if (!tuf::isSafeTargetPath(relativePath))
        return Error(ErrorCode::Protocol, "unsafe repository path \"" + tuf::printable(relativePath) + "\"");
    HttpRequest req;
    req.method = "GET";
    req.url = base_ + "/" + relativePath;
    req.maxResponseBytes = maxLength;
    if (!validator.empty()) req.headers.emplace_back("If-None-Match", validator);
    auto r = transport_.send(req, cancel_);
    if (!r) return r.error();
    if (r->status == 304 && !validator.empty()) return r;
    if (r->status == 404) return Error(ErrorCode::NotFound, ApiClient::displayUrl(req.url) + " does not exist");
    if (r->status < 200 || r->status > 299)
        return Error(ErrorCode::HttpStatus,
                     "HTTP " + std::to_string(r->status) + " from " + ApiClient::displayUrl(req.url));
    // A transport must refuse a longer body; checked again so a plugin that
    // does not cannot hand the parser more than the signed length.
    if (r->body.size() > maxLength)
        return Error(ErrorCode::TooLarge,
                     ApiClient::displayUrl(req.url) + " is larger than " + std::to_string(maxLength) + " bytes");
    return r;
}

Result<std::string> TransportFetcher::fetch(const std::string& relativePath, std::uint64_t maxLength) {
    auto r = get(relativePath, maxLength, "");
    if (!r) return r.error();
    return std::move(r->body);
}

Result<tuf::Fetcher::Fetched> TransportFetcher::fetchIfChanged(const std::string& relativePath, std::uint64_t maxLength,
                                                               const std::string& validator) {
    if (!conditional_) return Fetcher::fetchIfChanged(relativePath, maxLength, "");
    auto r = get(relativePath, maxLength, validator);
    if (!r) return r.error();
    if (r->status == 304) return Fetched{true, "", ""};
    const auto etag = r->header("ETag");
    return Fetched{false, std::move(r->body), etag && tuf::isSafeEntityTag(*etag) ? *etag : ""};
}

Result<SignedCatalogue> readSignedCatalogue(const Paths& paths, const Config& config, Transport& transport,
                                            const std::string& kernel, const std::string& architecture,
                                            const CancelToken* cancel, std::int64_t nowSeconds) {
    const std::string dir = trustDir(paths);
    if (!fs::exists(fs::join(dir, "root.json")))
        return Error(ErrorCode::ConfigInvalid,
                     "trust-root is set but " + fs::join(dir, "root.json") +
                         " is missing; pin it again with `livepatch-agent config trust-root=@stdin < root.json`");
    const std::string base = catalogueBaseUrl(config);
    TransportFetcher metadata(transport, base + "/metadata", cancel, !staticSource(config));
    tuf::UpdaterOptions options;
    options.now = [nowSeconds] { return nowSeconds; };
    tuf::Updater updater(dir, metadata, options);
    LP_TRY(updater.refresh());
    auto targets = updater.allTargets();
    if (!targets) return targets.error();
    SignedCatalogue out;
    out.timestampVersion = updater.timestamp() ? updater.timestamp()->version : 0;
    out.expires = updater.timestamp() ? tuf::formatExpires(updater.timestamp()->expires) : "";
    for (const auto& t : *targets) {
        if (!tuf::isSafeTargetPath(t.path)) continue;  // never turned into a URL
        auto o = offerFor(t, kernel, architecture, base + "/targets/" + updater.targetFileName(t));
        if (!o) return o.error();
        if (*o) out.offers.push_back(std::move(**o));
    }
    return out;
}

Status verifyDownloadedTarget(const tuf::TargetFile& target, const std::string& path) {
    auto bytes = fs::readFile(path, target.length + 1);
    if (!bytes) return bytes.error();
    return tuf::verifyTarget(target, *bytes);
}

}  // namespace livepatch
