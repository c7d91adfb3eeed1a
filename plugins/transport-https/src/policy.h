// Pure policy pieces of transport-https, unit-tested without a network.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <livepatch/error.h>

namespace livepatch::plugins::https {

struct ParsedUrl {
    std::string scheme, host, userInfo, pathAndQuery;
    std::uint16_t port = 0;
};
Result<ParsedUrl> parseUrl(const std::string& url);

// URL safe for messages: no userinfo, no query string.
std::string displayUrl(const std::string& url);

// Refuse http unless allowed; refuse https -> http redirects always.
Status checkScheme(const std::string& url, bool allowInsecureHttp);
Status checkRedirect(const std::string& from, const std::string& to, bool allowInsecureHttp);

struct ProxySettings {
    std::string httpProxy, httpsProxy, noProxy;  // config values ("" = unset)
};
// Config first, then environment (HTTPS_PROXY/https_proxy, HTTP_PROXY/http_proxy, NO_PROXY/no_proxy).
ProxySettings effectiveProxies(const ProxySettings& config,
                               const std::vector<std::pair<std::string, std::string>>& env);
// Proxy URL to use for a target, or nullopt (direct). no-proxy: "*", exact
// hosts, ".domain"/"domain" suffixes, host:port.
std::optional<std::string> proxyFor(const ParsedUrl& target, const ProxySettings& proxies);

// Full-jitter exponential backoff: uniform in [0, min(cap, base*2^attempt)].
std::chrono::milliseconds backoffDelay(unsigned attempt, std::uint64_t random,
                                       std::chrono::milliseconds base = std::chrono::milliseconds(1000),
                                       std::chrono::milliseconds cap = std::chrono::milliseconds(30000));
// Retry-After: delta-seconds or an HTTP date (relative to now). Capped at 10 minutes.
std::optional<std::chrono::milliseconds> parseRetryAfter(const std::string& value,
                                                         std::chrono::system_clock::time_point now);

bool retryableStatus(int status);

// Base64 SHA-256 SPKI pins from config ("a,b").
std::vector<std::string> parsePins(const std::string& value);

// Map an X509 verify error number to a specific, user-facing reason.
std::string describeVerifyError(int x509Error);

}  // namespace livepatch::plugins::https
