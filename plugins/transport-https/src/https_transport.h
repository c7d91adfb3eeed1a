// transport-https: HTTPS (and, only when allowed, HTTP) with Poco NetSSL.
//
// TLS 1.2 minimum; peer verification against the host CA pool plus the
// `ca-certs` config; host name verification; optional SPKI SHA-256 pins
// (`server-pins`) checked after the handshake and before any request byte
// (so a token never reaches an unpinned server); proxies from config, then
// environment, with CONNECT tunnels and Basic proxy auth; dial timeout,
// overall deadline, response size limit; retries with full-jitter
// exponential backoff honouring Retry-After, all sleeps on the injected
// clock; one kept connection per transport, reused for the next request
// to the same origin (keepConnection). Errors carry status, URL (no
// userinfo/query) and a one-line reason, never a response body.
#pragma once

#include <livepatch/transport.h>

#include <functional>
#include <memory>
#include <mutex>

#include "policy.h"

namespace livepatch::plugins {

class HttpsTransport : public Transport {
public:
    HttpsTransport();
    ~HttpsTransport() override;
    PluginInfo info() const noexcept override;
    std::vector<ConfigKey> configKeys() const noexcept override;
    Status configure(const PluginContext& ctx) noexcept override;
    bool supportsScheme(const std::string& scheme) const noexcept override;
    Result<HttpResponse> send(const HttpRequest& request, const CancelToken* cancel) noexcept override;
    Result<DownloadResult> download(const DownloadRequest& request, const ProgressCallback& progress,
                                    const CancelToken* cancel) noexcept override;

    // Test seams.
    void setRandom(std::function<std::uint64_t()> random) { random_ = std::move(random); }
    void setMaxAttempts(unsigned n) { maxAttempts_ = n; }
    void setEnvironment(std::vector<std::pair<std::string, std::string>> env) {
        env_ = std::move(env);
        envSet_ = true;
    }

private:
    struct Exchange;
    struct Request;
    // request-timeout of one send()/download() call, retries and redirects
    // included: `at` is on the injected clock; `passed` is set once an
    // exchange was cut off by it (no retry then).
    struct Deadline {
        std::chrono::steady_clock::time_point at;
        bool passed = false;
    };
    // One exchange; past the deadline the connection is ended, whatever is blocked.
    Result<std::unique_ptr<Exchange>> open(const std::string& method, const std::string& url, const HeaderList& headers,
                                           const std::string& body, const std::string& contentType,
                                           std::uint64_t rangeStart, Deadline& deadline) noexcept;
    Result<std::unique_ptr<Exchange>> openFollowing(const std::string& method, std::string url, HeaderList headers,
                                                    const std::string& body, const std::string& contentType,
                                                    std::uint64_t rangeStart, Deadline& deadline,
                                                    std::string& finalUrl) noexcept;
    Error deadlinePassed(const std::string& url, Deadline& deadline) const;
    // open()'s steps: a new verified connection; the request and the answer's
    // headers on a connection; either, with exceptions turned into errors.
    Status connect(Exchange& ex, const Request& r, std::chrono::steady_clock::duration budget);
    Status sendOn(Exchange& ex, const Request& r);
    Status guarded(const std::string& url, Deadline& deadline, Exchange& ex,
                   const std::function<Status()>& step) noexcept;
    // One kept connection: a cycle's requests to its server (updates, the
    // signed catalogue's metadata, the download, the report) share it
    // instead of a TCP connection and TLS handshake each.
    void keepConnection(std::unique_ptr<Exchange> ex) noexcept;
    std::unique_ptr<Exchange> takeKeptConnection(const std::string& key) noexcept;
    std::chrono::milliseconds retryDelay(unsigned attempt, const std::optional<std::chrono::milliseconds>& retryAfter);
    bool waitBeforeRetry(std::chrono::milliseconds delay, const CancelToken* cancel);

    struct Tls;
    std::unique_ptr<Tls> tls_;
    std::mutex keptMu_;  // send()/download() from two threads must not share the kept connection
    std::unique_ptr<Exchange> kept_;
    Clock* clock_ = nullptr;
    Logger* logger_ = nullptr;
    bool allowInsecure_ = false;
    std::vector<std::string> pins_;
    https::ProxySettings proxyConfig_;
    std::vector<std::pair<std::string, std::string>> env_;
    bool envSet_ = false;
    long long dialTimeout_ = 10;
    long long requestTimeout_ = 300;
    unsigned maxAttempts_ = 4;
    std::function<std::uint64_t()> random_;
};

}  // namespace livepatch::plugins
