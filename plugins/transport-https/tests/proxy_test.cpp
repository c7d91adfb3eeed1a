// transport-https through a real tinyproxy on 127.0.0.1 with Basic auth:
// CONNECT tunnel to a TLS server (certificate still verified end to end),
// 407 on wrong credentials (one line, no password), proxy from the
// environment, no-proxy bypass, and plain http via an absolute-URI request.
#include <gtest/gtest.h>
#include <unistd.h>

#include <livepatch/testing/fakes.h>

#include "https_transport.h"
#include "server.h"
#include "test_support.h"

using namespace livepatch;

namespace {

const std::string kUser = "lpuser", kPass = "lp-proxy-pass-7731";

struct ProxyEnv : lptest::TransportUnderTest {
    lptest::fsys::path dir = lptest::fsys::temp_directory_path() / ("lph4-px-" + std::to_string(::getpid()));
    std::unique_ptr<lpserver::Server> server;
    explicit ProxyEnv(bool plain = false) {
        lptest::fsys::remove_all(dir);
        lptest::fsys::create_directories(dir / "patches");
        std::ofstream(dir / "catalogue.yaml") << "kernels: []\n";
        lpserver::ServerOptions o;
        o.dataDir = dir.string();
        o.plain = plain;
        o.tlsCert = (lptest::pki() / "server.pem").string();
        o.tlsKey = (lptest::pki() / "server.key").string();
        server = std::make_unique<lpserver::Server>(o);
        EXPECT_TRUE(server->start());
        cfg.set("ca-certs", lptest::readWholeFile(lptest::pki() / "ca.pem"));
        if (plain) cfg.set("allow-insecure-http", "true");
        wireLikeTheAgent();  // the defaults the agent would give
    }
    ~ProxyEnv() {
        server.reset();
        lptest::fsys::remove_all(dir);
    }
    Result<HttpResponse> get() {
        HttpRequest r;
        r.url = server->baseUrl() + "/v1/api/kernels/supported?kernel-version=6.1.0-1-amd64";
        return t.send(r, nullptr);
    }
    static std::string proxyUrl(const lptest::Tinyproxy& p, const std::string& pass) {
        return "http://" + kUser + ":" + pass + "@127.0.0.1:" + std::to_string(p.port());
    }
};

}  // namespace

class Proxy : public ::testing::Test {
protected:
    void SetUp() override {
        ASSERT_TRUE(lptest::haveTinyproxy()) << "tinyproxy is needed (tools/install-deps.sh installs it)";
    }
};

TEST_F(Proxy, ConnectTunnelWithBasicAuth) {
    lptest::Tinyproxy proxy(kUser, kPass);
    ASSERT_TRUE(proxy.ok());
    ProxyEnv e;
    e.cfg.set("https-proxy", ProxyEnv::proxyUrl(proxy, kPass));
    ASSERT_TRUE(e.t.configure(e.ctx));
    auto r = e.get();
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_EQ(r->status, 200);
    EXPECT_NE(proxy.log().find("CONNECT"), std::string::npos) << "did not go through the proxy";
}

// The kept connection is the tunnel: a second request neither opens another
// CONNECT nor handshakes again, and the log names the origin, never the
// proxy URL with its password.
TEST_F(Proxy, TheTunnelIsKeptForTheNextRequestAndItsCredentialsAreNotLogged) {
    lptest::Tinyproxy proxy(kUser, kPass);
    ASSERT_TRUE(proxy.ok());
    ProxyEnv e;
    e.cfg.set("https-proxy", ProxyEnv::proxyUrl(proxy, kPass));
    ASSERT_TRUE(e.t.configure(e.ctx));
    auto first = e.get();
    auto second = e.get();
    ASSERT_TRUE(first) << first.error().message();
    ASSERT_TRUE(second) << second.error().message();
    EXPECT_TRUE(e.log.contains("reusing the connection to https://127.0.0.1:"));
    EXPECT_FALSE(e.log.contains(kPass));
    EXPECT_EQ(lptest::tlsHandshakes(e.log), 1);
}

TEST_F(Proxy, TlsIsStillVerifiedThroughTheTunnel) {
    lptest::Tinyproxy proxy(kUser, kPass);
    ASSERT_TRUE(proxy.ok());
    ProxyEnv e;
    e.cfg.set("https-proxy", ProxyEnv::proxyUrl(proxy, kPass));
    e.cfg.set("ca-certs", "");
    ASSERT_TRUE(e.t.configure(e.ctx));
    auto r = e.get();
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code(), ErrorCode::Tls);
    EXPECT_NE(r.error().message().find("unknown certificate authority"), std::string::npos) << r.error().message();
}

TEST_F(Proxy, WrongCredentialsGiveAOneLine407WithoutThePassword) {
    lptest::Tinyproxy proxy(kUser, kPass);
    ASSERT_TRUE(proxy.ok());
    ProxyEnv e;
    e.cfg.set("https-proxy", ProxyEnv::proxyUrl(proxy, "wrong-secret-pw"));
    ASSERT_TRUE(e.t.configure(e.ctx));
    auto r = e.get();
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code(), ErrorCode::ConfigInvalid);
    EXPECT_TRUE(e.clock.sleeps().empty()) << "wrong credentials are not retried";
    const std::string& m = r.error().message();
    // RFC 9110 says 407; tinyproxy 1.11 answers a CONNECT with 401.
    EXPECT_TRUE(m.find("refused the tunnel: HTTP 407 Proxy Authentication Required") != std::string::npos ||
                m.find("refused the tunnel: HTTP 401 Unauthorized") != std::string::npos)
        << m;
    EXPECT_NE(m.find("check the user and password in https-proxy"), std::string::npos) << m;
    EXPECT_EQ(m.find("wrong-secret-pw"), std::string::npos) << m;
    EXPECT_EQ(m.find(kUser + ":"), std::string::npos) << m;
    EXPECT_EQ(m.find('\n'), std::string::npos);
    EXPECT_FALSE(e.log.contains("wrong-secret-pw"));
}

TEST_F(Proxy, FromTheEnvironmentAndBypassedByNoProxy) {
    lptest::Tinyproxy proxy(kUser, kPass);
    ASSERT_TRUE(proxy.ok());
    ProxyEnv e;
    e.t.setEnvironment({{"https_proxy", ProxyEnv::proxyUrl(proxy, kPass)}});
    ASSERT_TRUE(e.t.configure(e.ctx));
    ASSERT_TRUE(e.get());
    EXPECT_NE(proxy.log().find("CONNECT"), std::string::npos);
    proxy.stop();
    EXPECT_FALSE(e.get()) << "proxy gone: must fail when it is used";
    e.t.setEnvironment({{"https_proxy", ProxyEnv::proxyUrl(proxy, kPass)}, {"NO_PROXY", "localhost,127.0.0.1"}});
    ASSERT_TRUE(e.t.configure(e.ctx));
    auto r = e.get();
    ASSERT_TRUE(r) << "no-proxy must bypass the stopped proxy: " << r.error().message();
}

TEST_F(Proxy, ConfigWinsOverTheEnvironment) {
    lptest::Tinyproxy proxy(kUser, kPass);
    ASSERT_TRUE(proxy.ok());
    ProxyEnv e;
    e.t.setEnvironment({{"HTTPS_PROXY", "http://127.0.0.1:1"}});  // nothing listens there
    e.cfg.set("https-proxy", ProxyEnv::proxyUrl(proxy, kPass));
    ASSERT_TRUE(e.t.configure(e.ctx));
    auto r = e.get();
    ASSERT_TRUE(r) << r.error().message();
}

TEST_F(Proxy, PlainHttpGoesThroughTheProxyWithAuth) {
    lptest::Tinyproxy proxy(kUser, kPass);
    ASSERT_TRUE(proxy.ok());
    ProxyEnv e(/*plain=*/true);
    e.cfg.set("http-proxy", ProxyEnv::proxyUrl(proxy, kPass));
    ASSERT_TRUE(e.t.configure(e.ctx));
    auto r = e.get();
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_EQ(r->status, 200);
    EXPECT_NE(proxy.log().find("GET http://127.0.0.1"), std::string::npos) << proxy.log();
}

// Regression (security review item 4): an https:// proxy used to get the
// CONNECT line and the Basic credentials in plain text. It is refused before
// any byte is sent: the listener standing in for it never sees a connection.
TEST(ProxyRefusal, HttpsProxyFromTheEnvironmentIsRefusedBeforeAnyByteIsSent) {
    Poco::Net::ServerSocket listener(Poco::Net::SocketAddress("127.0.0.1", 0));
    const std::string proxy = "https://user:s3cret-pw@127.0.0.1:" + std::to_string(listener.address().port());
    livepatch::testing::MapConfigView cfg;
    cfg.set("dial-timeout", "1");
    cfg.set("request-timeout", "2");
    livepatch::testing::ManualClock clock;
    PluginContext ctx;
    cfg.declare(plugins::HttpsTransport().configKeys());
    ctx.config = &cfg;
    ctx.clock = &clock;
    plugins::HttpsTransport t;
    t.setEnvironment({{"HTTPS_PROXY", proxy}});
    ASSERT_TRUE(t.configure(ctx));
    t.setMaxAttempts(1);
    HttpRequest r;
    r.url = "https://127.0.0.1:9/v1/x";
    auto res = t.send(r, nullptr);
    ASSERT_FALSE(res);
    EXPECT_EQ(res.error().code(), ErrorCode::ConfigInvalid) << res.error().message();
    EXPECT_NE(res.error().message().find("https:// proxy is not supported"), std::string::npos)
        << res.error().message();
    EXPECT_EQ(res.error().message().find("s3cret-pw"), std::string::npos);
    EXPECT_FALSE(listener.poll(Poco::Timespan(0), Poco::Net::Socket::SELECT_READ))
        << "nothing may reach an https:// proxy";
}

// Regression (security review item 14): Poco::URI accepts CR/LF in a host,
// and the host went verbatim into the CONNECT line and the Host header.
TEST(ProxyRefusal, HostWithCrLfNeverReachesTheProxy) {
    Poco::Net::ServerSocket listener(Poco::Net::SocketAddress("127.0.0.1", 0));
    livepatch::testing::MapConfigView cfg;
    cfg.set("dial-timeout", "1");
    cfg.set("request-timeout", "2");
    cfg.set("https-proxy", "http://127.0.0.1:" + std::to_string(listener.address().port()));
    livepatch::testing::ManualClock clock;
    PluginContext ctx;
    cfg.declare(plugins::HttpsTransport().configKeys());
    ctx.config = &cfg;
    ctx.clock = &clock;
    plugins::HttpsTransport t;
    t.setEnvironment({});
    ASSERT_TRUE(t.configure(ctx));
    t.setMaxAttempts(1);
    for (const std::string host : {"evil.example\r\nX-Injected: 1", "evil.example%0d%0aX: 1", "a b", "a\x1b[2Jb"}) {
        HttpRequest r;
        r.url = "https://" + host + "/v1/x";
        auto res = t.send(r, nullptr);
        ASSERT_FALSE(res) << host;
        EXPECT_EQ(res.error().code(), ErrorCode::InvalidArgument) << res.error().message();
        EXPECT_EQ(res.error().message().find('\n'), std::string::npos) << res.error().message();
        EXPECT_EQ(res.error().message().find('\x1b'), std::string::npos) << res.error().message();
    }
    EXPECT_FALSE(listener.poll(Poco::Timespan(0), Poco::Net::Socket::SELECT_READ)) << "no CONNECT may be sent";
}
