// livepatch-agent plugin SDK: transport role.
//
// A transport moves bytes for one or more URL schemes (https, http, file).
// It owns TLS policy, proxies, timeouts, retries and size limits; the core
// owns the protocol (paths, JSON) and verifies every download itself.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "livepatch/plugin.h"

namespace livepatch {

using HeaderList = std::vector<std::pair<std::string, std::string>>;

// Case-insensitive header lookup.
inline std::optional<std::string> findHeader(const HeaderList& headers, const std::string& name) {
    auto lower = [](std::string s) {
        for (auto& c : s) c = static_cast<char>((c >= 'A' && c <= 'Z') ? c - 'A' + 'a' : c);
        return s;
    };
    const std::string want = lower(name);
    for (const auto& h : headers)
        if (lower(h.first) == want) return h.second;
    return std::nullopt;
}

struct HttpRequest {
    std::string method = "GET";
    std::string url;     // absolute
    HeaderList headers;  // may hold Authorization: never log values
    std::string body;
    std::string contentType;  // for body, e.g. "application/json"
    std::uint64_t maxResponseBytes = 4u << 20;
};

struct HttpResponse {
    int status = 0;
    HeaderList headers;
    std::string body;      // at most maxResponseBytes
    std::string finalUrl;  // after redirects
    std::optional<std::string> header(const std::string& name) const { return findHeader(headers, name); }
};

struct DownloadRequest {
    std::string url;
    HeaderList headers;
    std::string destinationPath;     // file the transport creates (0600) or resumes
    std::uint64_t expectedSize = 0;  // 0 = unknown
    std::uint64_t maxBytes = 256u << 20;
};

struct DownloadResult {
    std::uint64_t bytes = 0;
    std::string finalUrl;
};

class Transport : public Plugin {
public:
    // True if this transport handles the scheme ("https", "http", "file").
    virtual bool supportsScheme(const std::string& scheme) const noexcept = 0;

    // One request/response. A non-2xx status is a response, not an Error;
    // Error is for failures to get any valid response (network, TLS,
    // timeout, policy, size limit). Redirects are followed within policy.
    virtual Result<HttpResponse> send(const HttpRequest& request, const CancelToken* cancel) noexcept = 0;

    // Stream a body to request.destinationPath. Non-2xx is an Error
    // (HttpStatus) whose message has the status, the URL without secrets
    // and a one-line reason, never the body.
    virtual Result<DownloadResult> download(const DownloadRequest& request, const ProgressCallback& progress,
                                            const CancelToken* cancel) noexcept = 0;
};

}  // namespace livepatch
