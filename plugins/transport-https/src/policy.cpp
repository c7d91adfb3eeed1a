#include "policy.h"

#include <livepatch/config_keys.h>
#include <livepatch/url.h>

#include <Poco/DateTimeParser.h>
#include <Poco/URI.h>
#include <openssl/x509_vfy.h>

#include <algorithm>
#include <sstream>

namespace livepatch::plugins::https {

namespace {
std::string lower(std::string s) {
    for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
}
}  // namespace

Result<ParsedUrl> parseUrl(const std::string& url) {
    try {
        Poco::URI u(url);
        ParsedUrl p;
        p.scheme = lower(u.getScheme());
        p.host = u.getHost();
        p.userInfo = u.getUserInfo();
        p.port = u.getPort();
        p.pathAndQuery = u.getPathAndQuery();
        if (p.pathAndQuery.empty()) p.pathAndQuery = "/";
        if (p.host.empty()) return Error(ErrorCode::InvalidArgument, "URL has no host: " + displayUrl(url));
        if (!isValidHost(p.host)) return Error(ErrorCode::InvalidArgument, hostProblem(url));
        return p;
    } catch (...) {
        return Error(ErrorCode::InvalidArgument, "not a valid URL");
    }
}

std::string displayUrl(const std::string& url) { return livepatch::displayUrl(url); }

Status checkScheme(const std::string& url, bool allowInsecureHttp) {
    auto p = parseUrl(url);
    if (!p) return p.error();
    if (p->scheme == "https") return {};
    if (p->scheme == "http") {
        if (allowInsecureHttp) return {};
        return Error(ErrorCode::InsecureRefused,
                     "plain http to " + displayUrl(url) +
                         " is refused; use https, or set allow-insecure-http=true (testing only)");
    }
    return Error(ErrorCode::InvalidArgument, "unsupported URL scheme \"" + p->scheme + "\"");
}

Status checkRedirect(const std::string& from, const std::string& to, bool allowInsecureHttp) {
    auto f = parseUrl(from), t = parseUrl(to);
    if (!f || !t) return Error(ErrorCode::Protocol, "invalid redirect target");
    if (f->scheme == "https" && t->scheme != "https")
        return Error(ErrorCode::InsecureRefused,
                     "redirect from " + displayUrl(from) + " to insecure " + displayUrl(to) + " refused");
    return checkScheme(to, allowInsecureHttp);
}

ProxySettings effectiveProxies(const ProxySettings& config,
                               const std::vector<std::pair<std::string, std::string>>& env) {
    auto envGet = [&](const std::string& upper) -> std::string {
        for (const auto& key : {upper, lower(upper)})
            for (const auto& kv : env)
                if (kv.first == key && !kv.second.empty()) return kv.second;
        return "";
    };
    ProxySettings p = config;
    if (p.httpProxy.empty()) p.httpProxy = envGet("HTTP_PROXY");
    if (p.httpsProxy.empty()) p.httpsProxy = envGet("HTTPS_PROXY");
    if (p.noProxy.empty()) p.noProxy = envGet("NO_PROXY");
    return p;
}

std::optional<std::string> proxyFor(const ParsedUrl& target, const ProxySettings& proxies) {
    const std::string host = lower(target.host);
    for (auto entry : splitConfigList(lower(proxies.noProxy))) {
        if (entry == "*") return std::nullopt;
        std::string entryHost = entry;
        auto colon = entry.rfind(':');
        if (colon != std::string::npos && entry.find(']') == std::string::npos && entry.find(':') == colon) {
            if (entry.substr(colon + 1) != std::to_string(target.port)) continue;
            entryHost = entry.substr(0, colon);
        }
        if (!entryHost.empty() && entryHost[0] == '.') entryHost.erase(0, 1);
        if (host == entryHost) return std::nullopt;
        if (host.size() > entryHost.size() &&
            host.compare(host.size() - entryHost.size(), entryHost.size(), entryHost) == 0 &&
            host[host.size() - entryHost.size() - 1] == '.')
            return std::nullopt;
    }
    const std::string& p = target.scheme == "https" ? proxies.httpsProxy : proxies.httpProxy;
    if (p.empty()) return std::nullopt;
    return p;
}

std::chrono::milliseconds backoffDelay(unsigned attempt, std::uint64_t random, std::chrono::milliseconds base,
                                       std::chrono::milliseconds cap) {
    long long ceiling = base.count() << std::min(attempt, 20u);
    ceiling = std::min<long long>(ceiling, cap.count());
    return std::chrono::milliseconds(static_cast<long long>(random % static_cast<std::uint64_t>(ceiling + 1)));
}

std::optional<std::chrono::milliseconds> parseRetryAfter(const std::string& value,
                                                         std::chrono::system_clock::time_point now) {
    const std::chrono::milliseconds cap(10 * 60 * 1000);
    std::string v = value;
    v.erase(0, v.find_first_not_of(" \t"));
    v.erase(v.find_last_not_of(" \t") + 1);
    if (v.empty()) return std::nullopt;
    if (std::all_of(v.begin(), v.end(), ::isdigit)) {
        if (v.size() > 7) return cap;
        return std::min(cap, std::chrono::milliseconds(std::stoll(v) * 1000));
    }
    try {
        int tzd = 0;
        Poco::DateTime dt = Poco::DateTimeParser::parse(v, tzd);
        auto when = std::chrono::system_clock::from_time_t(dt.timestamp().epochTime());
        if (when <= now) return std::chrono::milliseconds(0);
        return std::min(cap, std::chrono::duration_cast<std::chrono::milliseconds>(when - now));
    } catch (...) {
        return std::nullopt;
    }
}

bool retryableStatus(int status) {
    return status == 429 || status == 502 || status == 503 || status == 504 || status == 500;
}

std::vector<std::string> parsePins(const std::string& value) { return splitConfigList(value); }

std::string describeVerifyError(int e) {
    switch (e) {
    case X509_V_ERR_CERT_HAS_EXPIRED: return "the server certificate has expired";
    case X509_V_ERR_CERT_NOT_YET_VALID: return "the server certificate is not yet valid";
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
        return "the server certificate is signed by an unknown certificate authority (add it with `livepatch-agent "
               "config ca-certs=@stdin`)";
    case X509_V_ERR_HOSTNAME_MISMATCH: return "the server certificate does not match the host name";
    case X509_V_ERR_CERT_REVOKED: return "the server certificate is revoked";
    default: return std::string("certificate verification failed: ") + X509_verify_cert_error_string(e);
    }
}

}  // namespace livepatch::plugins::https
