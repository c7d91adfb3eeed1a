#include "https_transport.h"
#include "session_store.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <Poco/Base64Encoder.h>
#include <Poco/Delegate.h>
#include <Poco/Net/Context.h>
#include <Poco/Net/HTTPBasicCredentials.h>
#include <Poco/Net/HTTPClientSession.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/Net/HTTPSClientSession.h>
#include <Poco/Net/IPAddress.h>
#include <Poco/Net/NetException.h>
#include <Poco/Net/SSLException.h>
#include <Poco/Net/SSLManager.h>
#include <Poco/Net/SecureStreamSocket.h>
#include <Poco/Net/VerificationErrorArgs.h>
#include <Poco/URI.h>
#include <livepatch/download_file.h>
#include <livepatch/url.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <dirent.h>

#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <map>
#include <mutex>
#include <random>
#include <regex>
#include <sstream>
#include <thread>

extern char** environ;

namespace livepatch::plugins {

using namespace livepatch::plugins::https;

namespace {

// The certificate verification error of the handshake running on each
// thread: Poco reports it through one process-wide event. A map, not a
// thread_local: TLS in a dlopen'd plugin lands in dynamic TLS, which GCC 12's
// LeakSanitizer mis-scans at exit (it crashed the sanitizer test run).
std::mutex gVerifyMu;
std::map<std::thread::id, int> gVerifyErrors;

int verifyError() {
    std::lock_guard<std::mutex> l(gVerifyMu);
    auto it = gVerifyErrors.find(std::this_thread::get_id());
    return it == gVerifyErrors.end() ? 0 : it->second;
}
void clearVerifyError() {
    std::lock_guard<std::mutex> l(gVerifyMu);
    gVerifyErrors.erase(std::this_thread::get_id());
}

std::string urlDecode(const std::string& in) {
    std::string out;
    Poco::URI::decode(in, out);
    return out;
}

void onVerifyError(const void*, Poco::Net::VerificationErrorArgs& args) {
    std::lock_guard<std::mutex> l(gVerifyMu);
    gVerifyErrors.emplace(std::this_thread::get_id(), args.errorNumber());  // the first error wins
    args.setIgnoreError(false);
}

std::mutex gSubscribeMu;
int gSubscribers = 0;

void subscribe() {
    std::lock_guard<std::mutex> l(gSubscribeMu);
    if (gSubscribers++ == 0)
        Poco::Net::SSLManager::instance().ClientVerificationError += Poco::delegate(&onVerifyError);
}
void unsubscribe() {
    std::lock_guard<std::mutex> l(gSubscribeMu);
    if (--gSubscribers == 0)
        Poco::Net::SSLManager::instance().ClientVerificationError -= Poco::delegate(&onVerifyError);
}

// The standard phrase for a status, never the server's own text (which a
// hostile or broken server controls; ours says "404 OK").
std::string standardReason(int status) {
    const std::string r =
        Poco::Net::HTTPResponse::getReasonForStatus(static_cast<Poco::Net::HTTPResponse::HTTPStatus>(status));
    return r == "???" ? "unexpected status" : r;
}

std::string spkiPin(X509* cert) {
    unsigned char* der = nullptr;
    int len = i2d_PUBKEY(X509_get0_pubkey(cert), &der);
    if (len <= 0) return "";
    unsigned char md[32];
    unsigned int mdLen = 0;
    EVP_Digest(der, static_cast<size_t>(len), md, &mdLen, EVP_sha256(), nullptr);
    OPENSSL_free(der);
    std::ostringstream out;
    Poco::Base64Encoder enc(out);
    enc.write(reinterpret_cast<const char*>(md), mdLen);
    enc.close();
    return out.str();
}

Error tlsError(const std::string& url, const std::string& pocoText) {
    const std::string where = " (" + displayUrl(url) + ")";
    if (int v = verifyError(); v != 0) return Error(ErrorCode::Tls, describeVerifyError(v) + where);
    if (pocoText.find("Unacceptable certificate") != std::string::npos ||
        pocoText.find("application verification failure") != std::string::npos)
        return Error(ErrorCode::Tls, "the server certificate does not match the host name" + where);
    if (pocoText.find("unsupported protocol") != std::string::npos ||
        pocoText.find("no protocols available") != std::string::npos ||
        pocoText.find("wrong version number") != std::string::npos ||
        pocoText.find("protocol version") != std::string::npos)
        return Error(ErrorCode::Tls, "the server does not support TLS 1.2 or newer" + where);
    return Error(ErrorCode::Tls, "TLS handshake failed: " + terminalSafe(pocoText, kQuotedBytes) + where);
}

// True if `dir` holds OpenSSL subject-hash names (e.g. 9d66eef0.0), i.e.
// it can be searched lazily by X509_LOOKUP_hash_dir.
bool hasHashLinks(const std::string& dir) {
    DIR* d = ::opendir(dir.c_str());
    if (!d) return false;
    bool found = false;
    while (auto* e = ::readdir(d)) {
        const char* n = e->d_name;
        size_t len = std::strlen(n);
        if (len >= 10 && n[8] == '.' && std::strspn(n, "0123456789abcdef") == 8 &&
            std::strspn(n + 9, "0123456789") == len - 9) {
            found = true;
            break;
        }
    }
    ::closedir(d);
    return found;
}

std::string envOr(const std::vector<std::pair<std::string, std::string>>& env, const char* name, const char* fallback) {
    for (const auto& kv : env)
        if (kv.first == name && !kv.second.empty()) return kv.second;
    return fallback ? fallback : "";
}

// The host's CA pool, as OpenSSL would find it (SSL_CERT_FILE / SSL_CERT_DIR
// override the built-in locations). A hashed directory (Debian's
// /etc/ssl/certs) is searched lazily, one file per issuer at verification
// time; parsing the whole bundle up front instead costs ~20 ms of OpenSSL 3
// decoding on every start (tests/bench/RESULTS.md). The bundle file is read
// when there is no hashed directory, or when SSL_CERT_FILE names one.
Status loadHostCaPool(X509_STORE* store, const std::vector<std::pair<std::string, std::string>>& env) {
    const std::string dir = envOr(env, X509_get_default_cert_dir_env(), X509_get_default_cert_dir());
    const std::string file = envOr(env, X509_get_default_cert_file_env(), X509_get_default_cert_file());
    const bool lazyDir = hasHashLinks(dir);
    if (lazyDir && X509_STORE_load_path(store, dir.c_str()) != 1)
        return Error(ErrorCode::ConfigInvalid, "cannot use the host CA directory " + dir);
    if (!lazyDir || !envOr(env, X509_get_default_cert_file_env(), nullptr).empty()) {
        if (::access(file.c_str(), R_OK) == 0 && X509_STORE_load_file(store, file.c_str()) != 1)
            return Error(ErrorCode::ConfigInvalid, "cannot read the host CA bundle " + file);
    }
    ERR_clear_error();
    return {};
}

// Ends a connection when request-timeout passes, whatever is blocked on it
// (TLS handshake, CONNECT, headers, a body arriving one byte at a time). A
// socket receive timeout alone cannot do it: it bounds each read, and a
// server that sends one byte just before every timeout keeps a read loop
// going forever. The watch shuts the socket down at the deadline, which
// ends any blocked read or write at once; expired() then tells a timeout
// from a peer that closed. It keeps its own duplicate of the descriptor, so
// it can never shut down a descriptor number the process reused.
class DeadlineWatch {
public:
    DeadlineWatch(const Poco::Net::StreamSocket& socket, std::chrono::steady_clock::duration budget)
        : fd_(::fcntl(socket.impl()->sockfd(), F_DUPFD_CLOEXEC, 0)), thread_([this, budget] { watch(budget); }) {}
    ~DeadlineWatch() {
        {
            std::lock_guard<std::mutex> l(mu_);
            done_ = true;
        }
        cv_.notify_all();
        thread_.join();
        if (fd_ >= 0) ::close(fd_);
    }
    bool expired() const {
        std::lock_guard<std::mutex> l(mu_);
        return expired_;
    }

private:
    void watch(std::chrono::steady_clock::duration budget) {
        std::unique_lock<std::mutex> l(mu_);
        if (cv_.wait_for(l, budget, [this] { return done_; })) return;
        expired_ = true;
        if (fd_ >= 0) ::shutdown(fd_, SHUT_RDWR);
    }
    const int fd_;
    mutable std::mutex mu_;
    std::condition_variable cv_;
    bool done_ = false, expired_ = false;
    std::thread thread_;  // last: starts once the members it uses exist
};

// host:port for a request line, IPv6 literals in brackets.
std::string authorityOf(const ParsedUrl& u) {
    const bool v6 = u.host.find(':') != std::string::npos;
    return (v6 ? "[" + u.host + "]" : u.host) + ":" + std::to_string(u.port);
}

void addProxyCredentials(const ParsedUrl& proxy, Poco::Net::HTTPRequest& request) {
    if (proxy.userInfo.empty()) return;
    const auto colon = proxy.userInfo.find(':');
    Poco::Net::HTTPBasicCredentials creds(
        urlDecode(proxy.userInfo.substr(0, colon)),
        colon == std::string::npos ? "" : urlDecode(proxy.userInfo.substr(colon + 1)));
    creds.proxyAuthenticate(request);
}

}  // namespace

struct HttpsTransport::Tls {
    Poco::Net::Context::Ptr context;
    std::unique_ptr<https::SessionStore> sessions;  // resumption across worker processes
};

struct HttpsTransport::Request {
    const std::string& method;
    const ParsedUrl& target;
    const std::optional<ParsedUrl>& proxy;
    const HeaderList& headers;
    const std::string& body;
    const std::string& contentType;
    std::uint64_t rangeStart;
};

// One connection and the exchange on it. After an answer read to its end it
// may be kept (keepConnection) for the next request to the same origin.
struct HttpsTransport::Exchange {
    Poco::Net::StreamSocket socket;  // TLS (verified) or plain: deadlines and the idle check use it
    std::unique_ptr<Poco::Net::HTTPClientSession> session;
    Poco::Net::HTTPResponse response;
    std::istream* body = nullptr;
    std::string url;
    std::string key;     // connectionKey(): what the connection may serve again (may hold proxy credentials)
    std::string origin;  // scheme://host:port, for the log
    bool tls = false;
    std::chrono::steady_clock::time_point keptSince;
    std::unique_ptr<DeadlineWatch> watch;  // last: stops before the session closes the socket

    // Connected: from now on request-timeout ends the connection.
    void armDeadline(Poco::Net::StreamSocket& socket, std::chrono::steady_clock::duration budget,
                     const Poco::Timespan& io) {
        watch = std::make_unique<DeadlineWatch>(socket, budget);
        const auto us = std::chrono::duration_cast<std::chrono::microseconds>(budget).count();
        const Poco::Timespan t = std::min(io, Poco::Timespan(std::max<long long>(us, 1)));
        socket.setReceiveTimeout(t);
        socket.setSendTimeout(t);
    }
    bool timedOut() const { return watch && watch->expired(); }
};

HttpsTransport::HttpsTransport() : tls_(new Tls) {
    subscribe();
    auto rng = std::make_shared<std::mt19937_64>(std::random_device{}());
    random_ = [rng] { return (*rng)(); };
}

HttpsTransport::~HttpsTransport() { unsubscribe(); }

namespace {

// ca-certs: every PEM block must parse as an X.509 certificate. The one
// parse of the key: `config` validates with it (store == nullptr), and
// configure() adds the very same certificates to the TLS store.
Status readCaCerts(const std::string& key, const std::string& pem, X509_STORE* store) {
    static const std::string begin = "-----BEGIN CERTIFICATE-----";
    int expected = 0;
    for (size_t pos = pem.find(begin); pos != std::string::npos; pos = pem.find(begin, pos + 1)) ++expected;
    if (expected == 0) return configValueError(key, "one or more PEM certificates", pem);
    BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
    if (!bio) return Error(ErrorCode::Internal, "out of memory");
    int parsed = 0;
    while (X509* cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr)) {
        ++parsed;
        if (store) X509_STORE_add_cert(store, cert);
        X509_free(cert);
    }
    BIO_free(bio);
    ERR_clear_error();  // the end of the bundle leaves a "no start line" error
    if (parsed != expected)
        return Error(ErrorCode::ConfigInvalid, key + ": " + std::to_string(expected - parsed) + " of " +
                                                   std::to_string(expected) +
                                                   " PEM certificate(s) do not parse as X.509");
    return {};
}

Status proxyUrlCheck(const std::string& key, const std::string& v) {
    const std::string problem = proxyProblem(v);
    if (problem.empty()) return {};
    return Error(ErrorCode::ConfigInvalid, key + ": " + problem);
}

}  // namespace

std::vector<ConfigKey> HttpsTransport::configKeys() const noexcept {
    ConfigKey httpProxy =
        textKey("http-proxy", "", "proxy for http:// URLs (an http:// proxy URL)", proxyUrlCheck, "^(http://.*)?$");
    ConfigKey httpsProxy =
        textKey("https-proxy", "", "proxy for https:// URLs (an http:// proxy URL; the tunnel is TLS)", proxyUrlCheck,
                "^(http://.*)?$");
    httpProxy.secret = httpsProxy.secret = true;  // userinfo = proxy credentials
    return {
        pemKey("ca-certs", "extra trusted CA certificates (PEM) for the server; set with ca-certs=@stdin",
               [](const std::string& key, const std::string& v) { return readCaCerts(key, v, nullptr); }),
        textKey(
            "server-pins", "", "comma-separated base64 SHA-256 SPKI pins of the server key",
            [](const std::string& key, const std::string& v) -> Status {
                static const std::regex re("^[A-Za-z0-9+/]{43}=$");
                for (const auto& p : parsePins(v))
                    if (!std::regex_match(p, re))
                        return configValueError(key, "comma-separated base64 SHA-256 pins (44 chars)", v);
                return {};
            },
            R"(^([A-Za-z0-9+/]{43}=)(,\s*[A-Za-z0-9+/]{43}=)*$)"),
        httpProxy,
        httpsProxy,
        textKey("no-proxy", "", "comma-separated hosts/domains that bypass the proxy",
                [](const std::string& key, const std::string& v) -> Status {
                    static const std::regex re(R"(^(\*|\.?[A-Za-z0-9.\-:\[\]/]+)$)");
                    for (const auto& h : splitConfigList(v))
                        if (!std::regex_match(h, re)) return configValueError(key, "comma-separated host names", v);
                    return {};
                }),
        integerKey("dial-timeout", "10", 1, 3600, "seconds > 0", "seconds to wait for a connection"),
        integerKey("request-timeout", "300", 1, 86400, "seconds > 0",
                   "overall deadline of one request or download, seconds"),
    };
}

PluginInfo HttpsTransport::info() const noexcept {
    return {"transport-https", PluginRole::Transport, "1.0.0", LIVEPATCH_SDK_ABI_VERSION,
            "HTTPS (TLS 1.2+, CA pool + ca-certs, pins, proxies, retries)"};
}

bool HttpsTransport::supportsScheme(const std::string& scheme) const noexcept {
    return scheme == "https" || scheme == "http";
}

Status HttpsTransport::configure(const PluginContext& ctx) noexcept {
    try {
        {
            std::lock_guard<std::mutex> l(keptMu_);
            kept_.reset();  // verified under the settings being replaced
        }
        clock_ = ctx.clock;
        logger_ = ctx.logger;
        const ConfigView& c = *ctx.config;
        allowInsecure_ = c.flag("allow-insecure-http");
        pins_ = parsePins(c.value("server-pins"));
        proxyConfig_ = ProxySettings{c.value("http-proxy"), c.value("https-proxy"), c.value("no-proxy")};
        dialTimeout_ = c.integer("dial-timeout");
        requestTimeout_ = c.integer("request-timeout");
        if (!envSet_) {
            env_.clear();
            for (char** e = environ; e && *e; ++e) {
                std::string kv = *e;
                auto eq = kv.find('=');
                if (eq != std::string::npos) env_.emplace_back(kv.substr(0, eq), kv.substr(eq + 1));
            }
        }
        Poco::Net::Context::Params params;
        // Client side: STRICT = SSL_VERIFY_PEER (+ fail without a peer cert).
        params.verificationMode = Poco::Net::Context::VERIFY_STRICT;
        params.loadDefaultCAs = false;  // loadHostCaPool() below, lazily where possible
        params.cipherList = "HIGH:!aNULL:!eNULL:!MD5:!RC4:!3DES";
        tls_->context = new Poco::Net::Context(Poco::Net::Context::TLS_CLIENT_USE, params);
        tls_->context->requireMinimumProtocol(Poco::Net::Context::PROTO_TLSV1_2);
        X509_STORE* store = SSL_CTX_get_cert_store(tls_->context->sslContext());
        LP_TRY(loadHostCaPool(store, env_));
        const std::string extra = c.value("ca-certs");
        if (!extra.empty()) LP_TRY(readCaCerts("ca-certs", extra, store));
        // A stored session skips the chain check: it is only offered under
        // the trust settings it was verified with (session_store.h).
        const std::string trust = "ca-certs\n" + extra + "\nserver-pins\n" + c.value("server-pins");
        tls_->sessions =
            std::make_unique<https::SessionStore>(ctx.stateDir.empty() ? "" : ctx.stateDir + "/transport-https", trust);
        return {};
    } catch (const std::exception& e) {
        return Error(ErrorCode::ConfigInvalid, std::string("transport-https: ") + e.what());
    }
}

namespace {

// What a kept connection may be used for again: the same scheme, host and
// port through the same proxy (or none). Anything else gets its own
// connection, verified from the start.
std::string connectionKey(const ParsedUrl& target, const std::optional<std::string>& proxy) {
    return target.scheme + "://" + authorityOf(target) + (proxy ? " via " + *proxy : "");
}

// A connection idle for longer than this is not reused: servers close idle
// connections after a few seconds (nginx 75 s, the reference server 5 s),
// and one cycle's requests follow each other within milliseconds.
constexpr std::chrono::seconds kMaxIdle{2};

}  // namespace

Result<std::unique_ptr<HttpsTransport::Exchange>> HttpsTransport::open(
    const std::string& method, const std::string& url, const HeaderList& headers, const std::string& body,
    const std::string& contentType, std::uint64_t rangeStart, Deadline& deadline) noexcept {
    auto target = parseUrl(url);
    if (!target) return target.error();
    LP_TRY(checkScheme(url, allowInsecure_));
    if (!tls_->context) return Error(ErrorCode::Internal, "transport-https is not configured");
    const auto proxies = effectiveProxies(proxyConfig_, env_);
    const auto proxy = proxyFor(*target, proxies);
    std::optional<ParsedUrl> proxyUrl;
    if (proxy) {
        // Also for a proxy from HTTPS_PROXY/HTTP_PROXY, which `config` never saw.
        if (const std::string problem = proxyProblem(*proxy); !problem.empty())
            return Error(ErrorCode::ConfigInvalid, "proxy " + displayUrl(*proxy) + ": " + problem);
        auto p = parseUrl(*proxy);
        if (!p) return Error(ErrorCode::ConfigInvalid, "invalid proxy URL");
        proxyUrl = *p;
    }
    const Request request{method, *target, proxyUrl, headers, body, contentType, rangeStart};
    const std::string key = connectionKey(*target, proxy);
    if (auto kept = takeKeptConnection(key)) {
        const auto budget = deadline.at - clock_->steadyNow();
        if (budget <= std::chrono::steady_clock::duration::zero()) return deadlinePassed(url, deadline);
        Exchange& ex = *kept;
        ex.url = url;
        auto sent = guarded(url, deadline, ex, [&]() -> Status {
            ex.armDeadline(ex.socket, budget, Poco::Timespan(requestTimeout_, 0));
            return sendOn(ex, request);
        });
        if (sent) return kept;
        if (deadline.passed) return sent.error();
        // The server closed the kept connection between two requests (its
        // idle timeout): an ordinary event, so a new connection at once,
        // not a retry with backoff.
        if (logger_) logger_->debug("the kept connection to " + authorityOf(*target) + " was closed; reconnecting");
    }
    const auto budget = deadline.at - clock_->steadyNow();
    if (budget <= std::chrono::steady_clock::duration::zero()) return deadlinePassed(url, deadline);
    auto ex = std::make_unique<Exchange>();
    ex->url = url;
    ex->key = key;
    ex->origin = target->scheme + "://" + authorityOf(*target);
    auto done = guarded(url, deadline, *ex, [&]() -> Status {
        LP_TRY(connect(*ex, request, budget));
        return sendOn(*ex, request);
    });
    if (!done) return done.error();
    return ex;
}

Status HttpsTransport::connect(Exchange& ex, const Request& r, std::chrono::steady_clock::duration budget) {
    const Poco::Timespan dial(dialTimeout_, 0), io(requestTimeout_, 0);
    const std::string url = r.target.scheme + "://" + authorityOf(r.target) + r.target.pathAndQuery;
    // Connect ourselves (to the proxy or the server), so the deadline
    // covers everything after the dial: CONNECT, handshake, request, answer.
    const ParsedUrl& firstHop = r.proxy ? *r.proxy : r.target;
    Poco::Net::StreamSocket plain;
    plain.connect(Poco::Net::SocketAddress(firstHop.host, firstHop.port), dial);
    plain.setNoDelay(true);
    ex.armDeadline(plain, budget, io);
    if (r.target.scheme != "https") {
        ex.socket = plain;
        ex.session = std::make_unique<Poco::Net::HTTPClientSession>(plain);
        ex.session->setKeepAlive(true);
        return {};
    }
    if (r.proxy) {
        Poco::Net::HTTPClientSession tunnel(plain);
        Poco::Net::HTTPRequest connect("CONNECT", authorityOf(r.target), Poco::Net::HTTPMessage::HTTP_1_1);
        connect.setHost(r.target.host, r.target.port);
        addProxyCredentials(*r.proxy, connect);
        tunnel.sendRequest(connect);
        Poco::Net::HTTPResponse resp;
        tunnel.receiveResponse(resp);
        if (resp.getStatus() != Poco::Net::HTTPResponse::HTTP_OK) {
            // Wrong proxy credentials will not get better by retrying:
            // a configuration error, reported at once. 5xx from the
            // proxy (upstream down, overloaded) stays retryable.
            const int code = resp.getStatus();
            const bool credentials = code == 407 || code == 401;
            return Error(credentials   ? ErrorCode::ConfigInvalid
                         : code >= 500 ? ErrorCode::Network
                                       : ErrorCode::HttpStatus,
                         "proxy " + displayUrl(r.proxy->scheme + "://" + authorityOf(*r.proxy)) +
                             " refused the tunnel: HTTP " + std::to_string(code) + " " + standardReason(code) +
                             (credentials ? " (check the user and password in https-proxy)" : ""));
        }
        plain = tunnel.detachSocket();
    }
    Poco::Net::SecureStreamSocket secure = Poco::Net::SecureStreamSocket::attach(
        plain, r.target.host, tls_->context,
        tls_->sessions ? tls_->sessions->load(r.target.host, r.target.port) : nullptr);
    if (logger_)
        logger_->debug((secure.sessionWasReused() ? "TLS session resumed with " : "full TLS handshake with ") +
                       authorityOf(r.target));
    {
        // Host name check with OpenSSL (DNS and IP SANs); Poco only does
        // it with "extended verification" on, and we want it explicit.
        auto cert = secure.peerCertificate();
        X509* x = const_cast<X509*>(cert.certificate());
        Poco::Net::IPAddress ip;
        const bool isIp = Poco::Net::IPAddress::tryParse(r.target.host, ip);
        const int match = isIp ? X509_check_ip_asc(x, r.target.host.c_str(), 0)
                               : X509_check_host(x, r.target.host.c_str(), r.target.host.size(), 0, nullptr);
        if (match != 1)
            return Error(ErrorCode::Tls, "the server certificate does not match the host name " + r.target.host + " (" +
                                             displayUrl(url) + ")");
    }
    if (!pins_.empty()) {
        auto cert = secure.peerCertificate();
        const std::string pin = spkiPin(const_cast<X509*>(cert.certificate()));
        bool ok = false;
        for (const auto& p : pins_) ok = ok || p == pin;
        if (!ok)
            return Error(ErrorCode::Tls,
                         "the server key does not match any configured server-pins (" + displayUrl(url) + ")");
    }
    ex.socket = secure;
    ex.tls = true;
    // A plain HTTPClientSession over the already-verified TLS socket:
    // HTTPSClientSession(socket) would try to reset the port of a
    // connected session. Made from a socket, it knows no host: should Poco
    // ever try to re-open it (a kept connection that fails while writing),
    // that fails ("Host not found") instead of connecting anywhere unverified.
    ex.session = std::make_unique<Poco::Net::HTTPClientSession>(secure);
    ex.session->setKeepAlive(true);
    return {};
}

Status HttpsTransport::sendOn(Exchange& ex, const Request& r) {
    std::string requestTarget = r.target.pathAndQuery;
    if (r.target.scheme == "http" && r.proxy)
        requestTarget = "http://" + authorityOf(r.target) + r.target.pathAndQuery;  // absolute form for a proxy
    Poco::Net::HTTPRequest req(r.method, requestTarget, Poco::Net::HTTPMessage::HTTP_1_1);
    req.setHost(r.target.host, r.target.port);
    req.set("User-Agent", "livepatch-agent/" LIVEPATCH_SDK_VERSION);
    for (const auto& h : r.headers) req.set(h.first, h.second);
    if (r.target.scheme == "http" && r.proxy) addProxyCredentials(*r.proxy, req);
    if (r.rangeStart > 0) req.set("Range", "bytes=" + std::to_string(r.rangeStart) + "-");
    if (!r.body.empty() || r.method == "POST" || r.method == "PUT") {
        req.setContentLength(static_cast<std::streamsize>(r.body.size()));
        if (!r.contentType.empty()) req.setContentType(r.contentType);
    }
    ex.response = Poco::Net::HTTPResponse();  // a kept connection's last answer is not this one's
    try {
        std::ostream& out = ex.session->sendRequest(req);
        out << r.body;
    } catch (const Poco::Net::HostNotFoundException&) {
        // Poco's own re-open of a session made from a socket (see connect()).
        throw Poco::IOException("the connection closed before the request was sent");
    }
    ex.body = &ex.session->receiveResponse(ex.response);
    // The server's ticket came with the answer (TLS 1.3 sends it after
    // the handshake): kept for the next worker's connection.
    if (ex.tls && tls_->sessions) {
        Poco::Net::SecureStreamSocket secure(ex.socket);
        tls_->sessions->save(r.target.host, r.target.port, secure.currentSession());
    }
    return {};
}

Status HttpsTransport::guarded(const std::string& url, Deadline& deadline, Exchange& ex,
                               const std::function<Status()>& step) noexcept {
    clearVerifyError();
    try {
        return step();
    } catch (const Poco::Net::SSLException& e) {
        if (ex.timedOut()) return deadlinePassed(url, deadline);
        return tlsError(url, e.displayText());
    } catch (const Poco::TimeoutException&) {
        // Once connected, every socket timeout is at most what is left of the deadline.
        if (ex.watch) return deadlinePassed(url, deadline);
        return Error(ErrorCode::Timeout, "timed out connecting to " + displayUrl(url));
    } catch (const Poco::Net::ConnectionRefusedException&) {
        return Error(ErrorCode::Network, "connection refused by " + displayUrl(url));
    } catch (const Poco::Net::HostNotFoundException&) {
        return Error(ErrorCode::Network, "cannot resolve the host of " + displayUrl(url));
    } catch (const Poco::Net::NetException& e) {
        if (ex.timedOut()) return deadlinePassed(url, deadline);
        if (verifyError()) return tlsError(url, e.displayText());
        return Error(ErrorCode::Network, "network error talking to " + displayUrl(url) + ": " +
                                             terminalSafe(e.displayText(), kQuotedBytes));
    } catch (const Poco::Exception& e) {
        if (ex.timedOut()) return deadlinePassed(url, deadline);
        if (verifyError()) return tlsError(url, e.displayText());
        return Error(ErrorCode::Network,
                     "error talking to " + displayUrl(url) + ": " + terminalSafe(e.displayText(), kQuotedBytes));
    } catch (const std::exception& e) {
        if (ex.timedOut()) return deadlinePassed(url, deadline);
        return Error(ErrorCode::Network,
                     "error talking to " + displayUrl(url) + ": " + terminalSafe(e.what(), kQuotedBytes));
    }
}

void HttpsTransport::keepConnection(std::unique_ptr<Exchange> ex) noexcept {
    // Only an answer read to its announced end, from a server that said it
    // keeps the connection, not cut by the deadline: otherwise bytes of this
    // answer could be read as the next one's.
    const bool complete = ex->body && ex->body->eof() && !ex->body->bad() && !ex->timedOut();
    if (!complete || !ex->response.getKeepAlive() || ex->response.getVersion() != Poco::Net::HTTPMessage::HTTP_1_1)
        return;
    ex->watch.reset();  // the next exchange arms its own deadline
    ex->body = nullptr;
    ex->keptSince = std::chrono::steady_clock::now();
    std::lock_guard<std::mutex> l(keptMu_);
    kept_ = std::move(ex);
}

std::unique_ptr<HttpsTransport::Exchange> HttpsTransport::takeKeptConnection(const std::string& key) noexcept {
    std::unique_ptr<Exchange> ex;
    {
        std::lock_guard<std::mutex> l(keptMu_);
        ex = std::move(kept_);
    }
    if (!ex || ex->key != key || std::chrono::steady_clock::now() - ex->keptSince > kMaxIdle) return nullptr;
    try {
        // Readable while idle: the server closed it, or sent bytes nobody
        // asked for. Either way it is not used again.
        if (ex->socket.poll(Poco::Timespan(0), Poco::Net::Socket::SELECT_READ | Poco::Net::Socket::SELECT_ERROR))
            return nullptr;
    } catch (const Poco::Exception&) {
        return nullptr;
    }
    // The origin only: the key holds the proxy URL, credentials included.
    if (logger_) logger_->debug("reusing the connection to " + ex->origin);
    return ex;
}

Error HttpsTransport::deadlinePassed(const std::string& url, Deadline& deadline) const {
    deadline.passed = true;
    return Error(ErrorCode::Timeout, "no complete answer from " + displayUrl(url) + " within " +
                                         std::to_string(requestTimeout_) + " s (request-timeout)");
}

Result<std::unique_ptr<HttpsTransport::Exchange>> HttpsTransport::openFollowing(
    const std::string& method, std::string url, HeaderList headers, const std::string& body,
    const std::string& contentType, std::uint64_t rangeStart, Deadline& deadline, std::string& finalUrl) noexcept {
    for (int hop = 0; hop < 6; ++hop) {
        auto ex = open(method, url, headers, body, contentType, rangeStart, deadline);
        if (!ex) return ex.error();
        const int status = (*ex)->response.getStatus();
        if (status == 301 || status == 302 || status == 303 || status == 307 || status == 308) {
            if (!(*ex)->response.has("Location"))
                return Error(ErrorCode::Protocol, "redirect without Location from " + displayUrl(url));
            Poco::URI next(url);
            next.resolve((*ex)->response.get("Location"));
            LP_TRY(checkRedirect(url, next.toString(), allowInsecure_));
            // Credentials go only to the same origin.
            auto a = parseUrl(url), b = parseUrl(next.toString());
            if (!a || !b || a->host != b->host || a->port != b->port || a->scheme != b->scheme) {
                HeaderList stripped;
                for (const auto& h : headers)
                    if (Poco::icompare(h.first, "Authorization") != 0) stripped.push_back(h);
                headers = std::move(stripped);
            }
            url = next.toString();
            continue;
        }
        finalUrl = url;
        return ex;
    }
    return Error(ErrorCode::Protocol, "too many redirects from " + displayUrl(url));
}

std::chrono::milliseconds HttpsTransport::retryDelay(unsigned attempt,
                                                     const std::optional<std::chrono::milliseconds>& retryAfter) {
    return retryAfter ? *retryAfter : backoffDelay(attempt, random_());
}

bool HttpsTransport::waitBeforeRetry(std::chrono::milliseconds delay, const CancelToken* cancel) {
    if (logger_) logger_->info("retrying in " + std::to_string(delay.count()) + " ms");
    return clock_->sleepFor(delay, cancel);
}

Result<HttpResponse> HttpsTransport::send(const HttpRequest& request, const CancelToken* cancel) noexcept {
    try {
        // Overall deadline on the injected clock: no retry wait may end past
        // it, and the exchange in flight is cut off at it.
        Deadline deadline{clock_->steadyNow() + std::chrono::seconds(requestTimeout_)};
        for (unsigned attempt = 0;; ++attempt) {
            if (cancel && cancel->cancelled()) return Error(ErrorCode::Cancelled, "cancelled");
            std::string finalUrl;
            auto ex = openFollowing(request.method, request.url, request.headers, request.body, request.contentType, 0,
                                    deadline, finalUrl);
            std::optional<std::chrono::milliseconds> retryAfter;
            std::optional<HttpResponse> retryableResponse;  // returned as is when retries run out
            Error failure;
            bool retry = false;
            if (!ex) {
                failure = ex.error();
                retry =
                    !deadline.passed && (failure.code() == ErrorCode::Network || failure.code() == ErrorCode::Timeout);
            } else {
                HttpResponse r;
                r.status = (*ex)->response.getStatus();
                r.finalUrl = finalUrl;
                for (const auto& h : (*ex)->response) r.headers.emplace_back(h.first, h.second);
                std::string body;
                char buf[16384];
                while ((*ex)->body->good()) {
                    (*ex)->body->read(buf, sizeof buf);
                    body.append(buf, static_cast<size_t>((*ex)->body->gcount()));
                    if (body.size() > request.maxResponseBytes)
                        return Error(ErrorCode::TooLarge, "response from " + displayUrl(finalUrl) + " is larger than " +
                                                              std::to_string(request.maxResponseBytes) + " bytes");
                }
                // The body may look complete only because the deadline closed the connection.
                if ((*ex)->timedOut()) return deadlinePassed(finalUrl, deadline);
                const std::int64_t announced = (*ex)->response.getContentLength64();
                // bad(): the stream caught a read error (reset, TLS alert): never a complete body.
                if ((*ex)->body->bad() || (announced >= 0 && body.size() < static_cast<std::uint64_t>(announced))) {
                    failure = Error(ErrorCode::Network, "response from " + displayUrl(finalUrl) + " was truncated");
                    retry = true;
                } else {
                    r.body = std::move(body);
                    keepConnection(std::move(*ex));
                    if (!retryableStatus(r.status)) return r;
                    if (auto ra = r.header("Retry-After")) retryAfter = parseRetryAfter(*ra, clock_->now());
                    retryableResponse = std::move(r);
                    retry = true;
                }
            }
            const auto giveUp = [&]() -> Result<HttpResponse> {
                if (retryableResponse) return std::move(*retryableResponse);
                return failure;
            };
            if (!retry || attempt + 1 >= maxAttempts_) return giveUp();
            const auto delay = retryDelay(attempt, retryAfter);
            if (clock_->steadyNow() + delay >= deadline.at) {
                if (logger_) logger_->info("not retrying " + displayUrl(request.url) + ": request-timeout would pass");
                return giveUp();
            }
            if (!waitBeforeRetry(delay, cancel)) return Error(ErrorCode::Cancelled, "cancelled");
        }
    } catch (const std::exception& e) {
        return Error(ErrorCode::Network, std::string("transport-https: ") + e.what());
    }
}

Result<DownloadResult> HttpsTransport::download(const DownloadRequest& request, const ProgressCallback& progress,
                                                const CancelToken* cancel) noexcept {
    try {
        // request-timeout bounds the whole download, retries included, on the
        // injected clock: a server dripping bytes just under the socket's
        // idle timeout cannot hold a check forever. What arrived is kept and
        // resumed (Range) at the next check.
        Deadline deadline{clock_->steadyNow() + std::chrono::seconds(requestTimeout_)};
        auto pastDeadline = [&](const std::string& url) {
            deadline.passed = true;
            return Error(ErrorCode::Timeout, "download from " + displayUrl(url) + " did not finish within " +
                                                 std::to_string(requestTimeout_) +
                                                 " s (request-timeout); it will resume next time");
        };
        for (unsigned attempt = 0;; ++attempt) {
            if (cancel && cancel->cancelled()) return Error(ErrorCode::Cancelled, "cancelled");
            if (clock_->steadyNow() >= deadline.at) return pastDeadline(request.url);
            auto file = DownloadFile::open(request.destinationPath, DownloadFile::Start::Resume);
            if (!file) return file.error();
            std::uint64_t have = file->size();
            std::string finalUrl;
            auto ex = openFollowing("GET", request.url, request.headers, "", "", have, deadline, finalUrl);
            Error failure;
            bool retry = false;
            std::optional<std::chrono::milliseconds> retryAfter;
            if (!ex) {
                if (deadline.passed) return pastDeadline(request.url);
                failure = ex.error();
                retry = failure.code() == ErrorCode::Network || failure.code() == ErrorCode::Timeout;
            } else {
                const int status = (*ex)->response.getStatus();
                if (status == 206 && have > 0) {
                    // Resume only if the server continues exactly where we stopped.
                    const std::string range = (*ex)->response.get("Content-Range", "");
                    if (range.rfind("bytes " + std::to_string(have) + "-", 0) != 0) {
                        if (auto emptied = file->restart(); !emptied) return emptied.error();
                        failure =
                            Error(ErrorCode::Protocol, "server resumed at the wrong offset; restarting the download");
                        retry = true;
                        goto next;
                    }
                } else if (status == 200) {
                    if (auto emptied = file->restart(); !emptied) return emptied.error();
                    have = 0;
                } else {
                    const std::string reason = standardReason(status);
                    failure = Error(status == 401 || status == 403 ? ErrorCode::TokenInvalid : ErrorCode::HttpStatus,
                                    "HTTP " + std::to_string(status) + " from " + displayUrl(finalUrl) + ": " +
                                        terminalSafe(reason, kQuotedBytes));
                    if (status == 416) (void)file->restart();  // what we have is not a prefix of it
                    if (retryableStatus(status) || status == 416) {
                        retry = true;
                        if ((*ex)->response.has("Retry-After"))
                            retryAfter = parseRetryAfter((*ex)->response.get("Retry-After"), clock_->now());
                    }
                    goto next;
                }
                {
                    const std::int64_t len = (*ex)->response.getContentLength64();
                    const std::uint64_t total =
                        len >= 0 ? have + static_cast<std::uint64_t>(len) : request.expectedSize;
                    if (total > request.maxBytes) {
                        (void)file->restart();
                        return Error(ErrorCode::TooLarge, "download from " + displayUrl(finalUrl) + " is larger than " +
                                                              std::to_string(request.maxBytes) + " bytes");
                    }
                    std::uint64_t got = have;
                    char buf[65536];
                    Status written;
                    while ((*ex)->body->good()) {
                        if (cancel && cancel->cancelled()) {
                            (void)file->finish();  // kept to resume
                            return Error(ErrorCode::Cancelled, "download cancelled; it will resume next time");
                        }
                        (*ex)->body->read(buf, sizeof buf);
                        auto n = (*ex)->body->gcount();
                        if (n <= 0) break;
                        got += static_cast<std::uint64_t>(n);
                        if (got > request.maxBytes) {
                            (void)file->restart();
                            return Error(ErrorCode::TooLarge, "download from " + displayUrl(finalUrl) +
                                                                  " is larger than " +
                                                                  std::to_string(request.maxBytes) + " bytes");
                        }
                        written = file->write(buf, static_cast<size_t>(n));
                        if (!written) break;
                        if (progress) progress(got, total);
                        if (clock_->steadyNow() >= deadline.at) {
                            (void)file->finish();  // kept to resume
                            return pastDeadline(finalUrl);
                        }
                    }
                    const Status synced = file->finish();
                    // What arrived is kept for the resume; a body cut by the deadline is not complete.
                    if ((*ex)->timedOut()) return pastDeadline(finalUrl);
                    if (!written) return written.error();
                    if (!synced) return synced.error();
                    if ((*ex)->body->bad() || (len >= 0 && got < have + static_cast<std::uint64_t>(len))) {
                        const std::string expected =
                            len >= 0 ? " of " + std::to_string(have + static_cast<std::uint64_t>(len)) : "";
                        failure =
                            Error(ErrorCode::Network, "download from " + displayUrl(finalUrl) + " was truncated (" +
                                                          std::to_string(got) + expected + " bytes)");
                        retry = true;  // resumes from what we have
                    } else {
                        keepConnection(std::move(*ex));
                        return DownloadResult{got, finalUrl};
                    }
                }
            }
        next:
            if (!retry || attempt + 1 >= maxAttempts_) return failure;
            const auto delay = retryDelay(attempt, retryAfter);
            if (clock_->steadyNow() + delay >= deadline.at) return failure;  // no wait that ends past the deadline
            if (!waitBeforeRetry(delay, cancel)) return Error(ErrorCode::Cancelled, "cancelled");
        }
    } catch (const std::exception& e) {
        return Error(ErrorCode::Network, std::string("transport-https: ") + e.what());
    }
}

}  // namespace livepatch::plugins
