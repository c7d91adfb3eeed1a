#include "protocol/api_client.h"

#include "livepatch/text.h"
#include "livepatch/url.h"

#include <Poco/JSON/Array.h>
#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/URI.h>

#include <Poco/String.h>

#include <regex>

#include "util/timeutil.h"

namespace livepatch {

namespace {

const size_t kMaxTierBytes = 64;

std::string str(const Poco::JSON::Object::Ptr& o, const std::string& key, bool required, const std::string& ctx) {
    if (!o->has(key) || o->isNull(key)) {
        if (required) throw ErrorException(Error(ErrorCode::Protocol, ctx + ": missing field \"" + key + "\""));
        return "";
    }
    auto v = o->get(key);
    if (!v.isString())
        throw ErrorException(Error(ErrorCode::Protocol, ctx + ": field \"" + key + "\" must be a string"));
    return v.extract<std::string>();
}

[[noreturn]] void protocolError(const std::string& message) {
    throw ErrorException(Error(ErrorCode::Protocol, message));
}

// A string the agent stores and `status` shows (tier, fix names and
// descriptions): printable UTF-8 of bounded length, or the whole answer is
// refused. Nothing from a server reaches root's terminal raw.
std::string text(const Poco::JSON::Object::Ptr& o, const std::string& key, bool required, const std::string& ctx,
                 size_t maxBytes) {
    std::string v = str(o, key, required, ctx);
    if (!isPrintableText(v, maxBytes))
        protocolError(ctx + ": field \"" + key + "\" must be printable UTF-8 of at most " + std::to_string(maxBytes) +
                      " bytes without control characters, got \"" + terminalSafe(v, 60) + "\"");
    return v;
}

bool boolean(const Poco::JSON::Object::Ptr& o, const std::string& key, bool fallback, const std::string& ctx) {
    if (!o->has(key) || o->isNull(key)) return fallback;
    auto v = o->get(key);
    if (!v.isBoolean()) protocolError(ctx + ": field \"" + key + "\" must be true or false");
    return v.extract<bool>();
}

std::uint64_t count(const Poco::JSON::Object::Ptr& o, const std::string& key, const std::string& ctx) {
    if (!o->has(key) || o->isNull(key)) return 0;
    auto v = o->get(key);
    if (!v.isInteger()) protocolError(ctx + ": field \"" + key + "\" must be an integer");
    if (v.isSigned() && v.convert<long long>() < 0) protocolError(ctx + ": field \"" + key + "\" must not be negative");
    return v.convert<std::uint64_t>();
}

Poco::JSON::Array::Ptr array(const Poco::JSON::Object::Ptr& o, const std::string& key, const std::string& ctx) {
    if (!o->has(key) || o->isNull(key)) return nullptr;
    auto arr = o->getArray(key);
    if (!arr) protocolError(ctx + ": field \"" + key + "\" must be an array");
    return arr;
}

Poco::JSON::Object::Ptr parseObject(const std::string& body, const std::string& what) {
    Poco::Dynamic::Var v;
    try {
        Poco::JSON::Parser p;
        v = p.parse(body);
    } catch (...) {
        protocolError(what + " is not valid JSON");
    }
    if (v.type() != typeid(Poco::JSON::Object::Ptr)) protocolError(what + " must be a JSON object");
    return v.extract<Poco::JSON::Object::Ptr>();
}

// scheme://host:port, lowercased, default ports made explicit.
std::string originOf(const std::string& url) {
    try {
        Poco::URI u(url);
        return u.getScheme() + "://" + Poco::toLower(u.getHost()) + ":" + std::to_string(u.getPort());
    } catch (...) {
        return "";
    }
}

}  // namespace

ApiClient::ApiClient(Transport* transport, std::string baseUrl, std::string machineId)
    : transport_(transport), baseUrl_(std::move(baseUrl)), machineId_(std::move(machineId)) {
    while (!baseUrl_.empty() && baseUrl_.back() == '/') baseUrl_.pop_back();
}

std::string ApiClient::resolve(const std::string& url) const {
    // Server-absolute paths are relative to the configured base, which may
    // itself have a path (https://host/livepatch, file:///srv/mirror).
    if (url.size() > 1 && url[0] == '/' && url[1] != '/') return baseUrl_ + url;
    try {
        Poco::URI base(baseUrl_ + "/");
        base.resolve(url);
        return base.toString();
    } catch (...) {
        return url;
    }
}

std::string ApiClient::displayUrl(const std::string& url) { return livepatch::displayUrl(url); }

Error ApiClient::httpError(const HttpResponse& r, const std::string& url) const {
    std::string reason =
        Poco::Net::HTTPResponse::getReasonForStatus(static_cast<Poco::Net::HTTPResponse::HTTPStatus>(r.status));
    auto ct = r.header("Content-Type").value_or("");
    if (ct.find("application/json") != std::string::npos && r.body.size() < 4096) {
        try {
            Poco::JSON::Parser p;
            auto o = p.parse(r.body).extract<Poco::JSON::Object::Ptr>();
            if (o->has("message")) reason = terminalSafe(o->getValue<std::string>("message"), kQuotedBytes);
        } catch (...) {
        }
    }
    ErrorCode code = ErrorCode::HttpStatus;
    if (r.status == 401 || r.status == 403) code = ErrorCode::TokenInvalid;
    return Error(code, "HTTP " + std::to_string(r.status) + " from " + displayUrl(url) + ": " + reason);
}

Result<RegistrationResponse> ApiClient::registerMachine(const std::string& authorization,
                                                        const std::string& requestJson, const CancelToken* cancel) {
    HttpRequest req;
    req.method = "POST";
    req.url = baseUrl_ + "/v1/client/" + machineId_;
    req.headers = {{"Authorization", authorization}, {"Accept", "application/json"}};
    req.body = requestJson;
    req.contentType = "application/json";
    req.maxResponseBytes = 64 * 1024;
    auto resp = transport_->send(req, cancel);
    if (!resp) return resp.error();
    if (resp->status != 200 && resp->status != 201) return httpError(*resp, req.url);
    try {
        auto o = parseObject(resp->body, "registration response from " + displayUrl(req.url));
        RegistrationResponse r;
        auto mt = str(o, "machine-token", false, "registration response");
        if (!mt.empty()) r.machineToken = mt;
        r.tier = text(o, "tier", false, "registration response", kMaxTierBytes);
        return r;
    } catch (const ErrorException& e) {
        return e.error();
    } catch (...) {
        return Error(ErrorCode::Protocol, "registration response from " + displayUrl(req.url) + " is not valid JSON");
    }
}

Status ApiClient::deregister(const std::string& authorization, const CancelToken* cancel) {
    HttpRequest req;
    req.method = "DELETE";
    req.url = baseUrl_ + "/v1/client/" + machineId_;
    req.headers = {{"Authorization", authorization}};
    req.maxResponseBytes = 64 * 1024;
    auto resp = transport_->send(req, cancel);
    if (!resp) return resp.error();
    if (resp->status == 200 || resp->status == 204 || resp->status == 404) return {};
    return httpError(*resp, req.url);
}

Result<UpdatesAnswer> ApiClient::parseUpdates(const std::string& body, const std::string& baseUrl) {
    try {
        auto o = parseObject(body, "updates response");
        UpdatesAnswer a;
        const std::string supported = str(o, "supported", true, "updates response");
        auto support = parseSpelling<KernelSupport>(supported);
        if (!support)
            return Error(ErrorCode::Protocol,
                         "updates response: unknown \"supported\" value \"" + terminalSafe(supported, 40) + "\"");
        a.supported = *support;
        a.upgradeRequiredDate = str(o, "upgrade-required-date", false, "updates response");
        if (!a.upgradeRequiredDate.empty() && !timeutil::parseRfc3339(a.upgradeRequiredDate))
            return Error(ErrorCode::Protocol, "updates response: \"upgrade-required-date\" is not an RFC 3339 date");
        a.tier = text(o, "tier", false, "updates response", kMaxTierBytes);
        ApiClient resolver(nullptr, baseUrl, "");
        const std::string baseScheme = Poco::toLower(baseUrl.substr(0, baseUrl.find("://")));
        if (auto arr = array(o, "patches", "updates response")) {
            static const std::regex hexRe("^[0-9a-f]{64}$");
            static const std::regex nameRe("^[a-z0-9_]{1,55}$");
            static const std::regex fileRe("^[A-Za-z0-9_+-][A-Za-z0-9._+-]{0,199}$");
            static const std::regex versionRe("^[A-Za-z0-9][A-Za-z0-9.+~_-]{0,63}$");
            for (size_t i = 0; i < arr->size(); ++i) {
                auto po = arr->getObject(static_cast<unsigned>(i));
                const std::string ctx = "updates response: patches[" + std::to_string(i) + "]";
                if (!po) return Error(ErrorCode::Protocol, ctx + " must be an object");
                PatchOffer off;
                off.version = str(po, "version", true, ctx);
                off.name = str(po, "name", true, ctx);
                off.filename = str(po, "filename", true, ctx);
                const std::string rawUrl = str(po, "url", true, ctx);
                off.sha256 = str(po, "sha256", true, ctx);
                off.published = str(po, "published", false, ctx);
                if (!std::regex_match(off.version, versionRe))
                    return Error(ErrorCode::Protocol, ctx + ": invalid version");
                if (!std::regex_match(off.sha256, hexRe))
                    return Error(ErrorCode::Protocol, ctx + ": sha256 must be 64 lowercase hex digits");
                if (!std::regex_match(off.name, nameRe))
                    return Error(ErrorCode::Protocol, ctx + ": invalid patch name");
                if (!std::regex_match(off.filename, fileRe))
                    return Error(ErrorCode::Protocol, ctx + ": invalid file name");
                if (!off.published.empty() && !timeutil::parseRfc3339(off.published))
                    return Error(ErrorCode::Protocol, ctx + ": \"published\" is not an RFC 3339 date");
                off.url = resolver.resolve(rawUrl);
                // A patch is fetched the way the server was reached: an
                // https server cannot send the agent to plain http (or to a
                // local file) for the download.
                const std::string scheme = Poco::toLower(off.url.substr(0, off.url.find("://")));
                if (off.url.find("://") == std::string::npos || scheme != baseScheme)
                    return Error(ErrorCode::Protocol, ctx + ": url " + displayUrl(off.url) +
                                                          " does not use the server's scheme \"" + baseScheme + "\"");
                if (scheme != "file")
                    if (const std::string problem = hostProblem(off.url); !problem.empty())
                        return Error(ErrorCode::Protocol, ctx + ": " + problem);
                off.size = count(po, "size", ctx);
                off.replace = boolean(po, "replace", true, ctx);
                if (auto fixes = array(po, "fixes", ctx)) {
                    for (size_t j = 0; j < fixes->size(); ++j) {
                        const std::string fctx = ctx + ".fixes[" + std::to_string(j) + "]";
                        auto fo = fixes->getObject(static_cast<unsigned>(j));
                        if (!fo) return Error(ErrorCode::Protocol, fctx + " must be an object");
                        PatchFix f;
                        f.name = text(fo, "name", true, fctx, 128);
                        f.description = text(fo, "description", false, fctx, 1024);
                        f.bug = text(fo, "bug", false, fctx, 256);
                        f.patched = boolean(fo, "patched", true, fctx);
                        off.fixes.push_back(f);
                    }
                }
                a.patches.push_back(off);
            }
        }
        return a;
    } catch (const ErrorException& e) {
        return e.error();
    } catch (...) {
        return Error(ErrorCode::Protocol, "updates response does not have the expected structure");
    }
}

Result<UpdatesAnswer> ApiClient::updates(const std::string& authorization, const std::string& reportJson,
                                         const std::string& etag, const CancelToken* cancel) {
    HttpRequest req;
    req.method = "POST";
    req.url = baseUrl_ + "/v1/client/" + machineId_ + "/updates";
    req.headers = {{"Authorization", authorization}, {"Accept", "application/json"}};
    if (!etag.empty()) req.headers.emplace_back("If-None-Match", etag);
    req.body = reportJson;
    req.contentType = "application/json";
    req.maxResponseBytes = 1u << 20;
    auto resp = transport_->send(req, cancel);
    if (!resp) return resp.error();
    if (resp->status == 304) {
        UpdatesAnswer a;
        a.notModified = true;
        a.etag = etag;
        return a;
    }
    if (resp->status != 200) return httpError(*resp, req.url);
    auto ct = resp->header("Content-Type").value_or("");
    if (ct.find("application/json") == std::string::npos)
        return Error(ErrorCode::Protocol, "updates response from " + displayUrl(req.url) + " has content type \"" +
                                              terminalSafe(ct, 60) + "\", expected application/json");
    auto a = parseUpdates(resp->body, baseUrl_);
    if (!a) return a.error();
    // Sent back as If-None-Match next time: only a well-formed tag is kept.
    if (auto tag = resp->header("ETag"); tag && isSafeEntityTag(*tag)) a->etag = *tag;
    return a;
}

Result<DownloadResult> ApiClient::download(const PatchOffer& offer, const std::string& authorization,
                                           const std::string& destination, std::uint64_t maxBytes,
                                           const ProgressCallback& progress, const CancelToken* cancel) {
    DownloadRequest req;
    req.url = offer.url;
    // The credential goes only to the server it belongs to.
    if (originOf(offer.url) == originOf(baseUrl_)) req.headers = {{"Authorization", authorization}};
    req.destinationPath = destination;
    req.expectedSize = offer.size;
    req.maxBytes = maxBytes;
    return transport_->download(req, progress, cancel);
}

}  // namespace livepatch
