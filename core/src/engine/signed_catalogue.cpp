#include "engine/signed_catalogue.h"

#include "livepatch/text.h"

#include "package/signed_patch.h"
#include "tuf/metadata.h"
#include "util/fs.h"

namespace livepatch {

namespace {

// The offer the decide phase works on, every field from the signed entry
// (package/signed_patch.h reads and bounds them).
Result<std::optional<SignedOffer>> offerFor(const tuf::TargetFile& t, const std::string& kernel,
                                            const std::string& architecture, const std::string& url) {
    auto p = readSignedPatch(
        t, [&](const std::string& k, const std::string& a) { return k == kernel && a == architecture; });
    if (!p) return p.error();
    if (!*p) return std::optional<SignedOffer>();
    SignedOffer s;
    s.target = t;
    PatchOffer& o = s.offer;
    o.name = (*p)->name;
    o.version = (*p)->version;
    o.published = (*p)->published;
    o.filename = (*p)->filename;
    o.sha256 = (*p)->sha256;
    o.size = (*p)->length;
    o.fixes = std::move((*p)->fixes);
    o.url = url;
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
    return tuf::pinRoot(trustDir(paths), rootJson, "trust-root");
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
    return Fetched{false, std::move(r->body), etag && isSafeEntityTag(*etag) ? *etag : ""};
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
