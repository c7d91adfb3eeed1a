// transport-https against the reference server over real TLS on 127.0.0.1,
// with a test PKI made by the openssl CLI at test time. Each TLS failure is
// refused with its own message, is not retried, and never leaks the token.
#include <gtest/gtest.h>
#include <unistd.h>

#include <livepatch/testing/fakes.h>

#include "https_transport.h"
#include "server.h"
#include "test_support.h"

using namespace livepatch;
using lptest::fsys::path;

namespace {

const std::string kSecret = "Bearer 7d9f0c2e-5b1a-4c3d-9e8f-0a1b2c3d4e5f-secret";

struct TlsEnv : lptest::TransportUnderTest {
    path dir = lptest::fsys::temp_directory_path() / ("lph4-tls-" + std::to_string(::getpid()));
    std::unique_ptr<lpserver::Server> server;

    // cert: a name from make-test-certs.sh ("server", "expired", ...).
    explicit TlsEnv(const std::string& cert, const std::string& maxVersion = "", lpserver::Faults faults = {}) {
        lptest::fsys::remove_all(dir);
        lptest::fsys::create_directories(dir / "patches");
        std::ofstream(dir / "patches/p.tar.xz") << std::string(5000, 'p');
        // Downloads are authorized: a machine with kSecret's token, p.tar.xz published.
        lpserver::seedDownloadForTests(dir.string(), kSecret.substr(7), "p.tar.xz");
        lpserver::ServerOptions o;
        o.dataDir = dir.string();
        o.tlsCert = (lptest::pki() / (cert + ".pem")).string();
        o.tlsKey = (lptest::pki() / (cert + ".key")).string();
        o.tlsMaxVersion = maxVersion;
        o.faults = faults;
        server = std::make_unique<lpserver::Server>(o);
        auto st = server->start();
        EXPECT_TRUE(st) << (st ? "" : st.error().message());
        cfg.set("ca-certs", lptest::readWholeFile(lptest::pki() / "ca.pem"));
        wireLikeTheAgent();  // the defaults the agent would give
    }
    ~TlsEnv() {
        server.reset();
        lptest::fsys::remove_all(dir);
    }
    Result<HttpResponse> get(
        const std::string& pathAndQuery = "/v1/api/kernels/supported?kernel-version=6.1.0-1-amd64") {
        HttpRequest r;
        r.url = server->baseUrl() + pathAndQuery;
        r.headers = {{"Authorization", kSecret}};
        return t.send(r, nullptr);
    }
    // The refusal is a Tls error with `expected` in it, not retried, no secret anywhere.
    void expectRefused(const std::string& expected) {
        auto r = get();
        ASSERT_FALSE(r) << "accepted; status " << r->status;
        EXPECT_EQ(r.error().code(), ErrorCode::Tls) << r.error().message();
        EXPECT_NE(r.error().message().find(expected), std::string::npos) << r.error().message();
        EXPECT_NE(r.error().message().find(server->baseUrl()), std::string::npos) << "names the server";
        EXPECT_TRUE(clock.sleeps().empty()) << "TLS refusals are not retried";
        EXPECT_EQ(r.error().message().find("secret"), std::string::npos);
        EXPECT_FALSE(log.contains("secret"));
    }
};

}  // namespace

TEST(Tls, TrustedByCaCertsAndHostVerified) {
    TlsEnv e("server");
    ASSERT_TRUE(e.t.configure(e.ctx));
    auto r = e.get();
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_EQ(r->status, 200);
}

TEST(Tls, LocalhostNameIsCheckedToo) {
    TlsEnv e("server");
    ASSERT_TRUE(e.t.configure(e.ctx));
    HttpRequest req;
    req.url = "https://localhost:" + std::to_string(e.server->port()) + "/v1/api/kernels/supported?kernel-version=x";
    auto r = e.t.send(req, nullptr);
    ASSERT_TRUE(r) << r.error().message();
}

TEST(Tls, UnknownCaWithoutCaCerts) {
    TlsEnv e("server");
    e.cfg.set("ca-certs", "");
    ASSERT_TRUE(e.t.configure(e.ctx));
    e.expectRefused("unknown certificate authority");
}

TEST(Tls, CertificateFromAnotherCa) {
    TlsEnv e("untrusted");
    ASSERT_TRUE(e.t.configure(e.ctx));
    e.expectRefused("unknown certificate authority");
}

TEST(Tls, ExpiredCertificate) {
    TlsEnv e("expired");
    ASSERT_TRUE(e.t.configure(e.ctx));
    e.expectRefused("has expired");
}

TEST(Tls, WrongHostName) {
    TlsEnv e("wronghost");
    ASSERT_TRUE(e.t.configure(e.ctx));
    e.expectRefused("does not match the host name");
}

TEST(Tls, ServerWithOnlyTls11) {
    TlsEnv e("server", "1.1");
    ASSERT_TRUE(e.t.configure(e.ctx));
    e.expectRefused("does not support TLS 1.2 or newer");
}

TEST(Tls, PinMismatchThenMatch) {
    TlsEnv e("server");
    e.cfg.set("server-pins", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=");
    ASSERT_TRUE(e.t.configure(e.ctx));
    e.expectRefused("server-pins");
    const std::string pin = lptest::spkiPinOf(lptest::pki() / "server.pem");
    ASSERT_EQ(pin.size(), 44u);
    e.cfg.set("server-pins", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=, " + pin);
    ASSERT_TRUE(e.t.configure(e.ctx));
    auto r = e.get();
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_EQ(r->status, 200);
}

TEST(Tls, PinOfTheCaIsNotEnough) {
    // Pins are checked against the leaf key only.
    TlsEnv e("server");
    e.cfg.set("server-pins", lptest::spkiPinOf(lptest::pki() / "ca.pem"));
    ASSERT_TRUE(e.t.configure(e.ctx));
    e.expectRefused("server-pins");
}

TEST(Tls, DownloadRedirectToHttpIsRefusedEvenWhenHttpIsAllowed) {
    lpserver::Faults f;
    f.redirectHttp = true;
    TlsEnv e("server", "", f);
    e.cfg.set("allow-insecure-http", "true");
    ASSERT_TRUE(e.t.configure(e.ctx));
    DownloadRequest d;
    d.url = e.server->baseUrl() + "/v1/patches/p.tar.xz";
    d.headers = {{"Authorization", kSecret}};
    d.destinationPath = (e.dir / "dl").string();
    auto r = e.t.download(d, nullptr, nullptr);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code(), ErrorCode::InsecureRefused);
    EXPECT_NE(r.error().message().find("redirect"), std::string::npos) << r.error().message();
    EXPECT_EQ(r.error().message().find("secret"), std::string::npos);
}

TEST(Tls, DownloadSameServerRedirectIsFollowed) {
    lpserver::Faults f;
    f.redirect = true;
    TlsEnv e("server", "", f);
    ASSERT_TRUE(e.t.configure(e.ctx));
    DownloadRequest d;
    d.url = e.server->baseUrl() + "/v1/patches/p.tar.xz";
    d.headers = {{"Authorization", kSecret}};
    d.destinationPath = (e.dir / "dl").string();
    auto r = e.t.download(d, nullptr, nullptr);
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_EQ(r->bytes, 5000u);
    EXPECT_NE(r->finalUrl.find("/v1/files/"), std::string::npos) << r->finalUrl;
}

TEST(Tls, DownloadHttpErrorSaysStatusUrlReasonWithoutSecrets) {
    TlsEnv e("server");
    ASSERT_TRUE(e.t.configure(e.ctx));
    DownloadRequest d;
    const std::string port = std::to_string(e.server->port());
    d.url = "https://user:pw@127.0.0.1:" + port + "/v1/patches/missing.tar.xz?signature=abcdef";
    d.headers = {{"Authorization", kSecret}};
    d.destinationPath = (e.dir / "dl").string();
    auto r = e.t.download(d, nullptr, nullptr);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code(), ErrorCode::HttpStatus);
    EXPECT_EQ(r.error().message(), "HTTP 404 from https://127.0.0.1:" + port + "/v1/patches/missing.tar.xz: Not Found");
}

// The host CA pool, found the way OpenSSL finds it (SSL_CERT_DIR /
// SSL_CERT_FILE override the built-in locations). No ca-certs here: only the
// host pool can make the test CA trusted.
TEST(Tls, HostCaPoolFromAHashedDirectory) {
    TlsEnv e("server");
    e.cfg.set("ca-certs", "");
    const path dir = e.dir / "host-certs";
    lptest::fsys::create_directories(dir);
    const std::string hash =
        lptest::run("openssl x509 -noout -subject_hash -in " + (lptest::pki() / "ca.pem").string());
    lptest::fsys::copy_file(lptest::pki() / "ca.pem", dir / (hash.substr(0, 8) + ".0"));
    e.t.setEnvironment({{"SSL_CERT_DIR", dir.string()}, {"SSL_CERT_FILE", (e.dir / "no-bundle.pem").string()}});
    ASSERT_TRUE(e.t.configure(e.ctx));
    auto r = e.get();
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_EQ(r->status, 200);
}

TEST(Tls, HostCaPoolFromABundleWhenTheDirectoryIsNotHashed) {
    TlsEnv e("server");
    e.cfg.set("ca-certs", "");
    const path dir = e.dir / "unhashed";
    lptest::fsys::create_directories(dir);
    lptest::fsys::copy_file(lptest::pki() / "ca.pem", dir / "ca.pem");  // not found by hash lookup
    e.t.setEnvironment({{"SSL_CERT_DIR", dir.string()}, {"SSL_CERT_FILE", (lptest::pki() / "ca.pem").string()}});
    ASSERT_TRUE(e.t.configure(e.ctx));
    auto r = e.get();
    ASSERT_TRUE(r) << r.error().message();
}

TEST(Tls, HostCaPoolWithoutOurCaRefuses) {
    TlsEnv e("server");
    e.cfg.set("ca-certs", "");
    const path dir = e.dir / "unhashed";
    lptest::fsys::create_directories(dir);
    lptest::fsys::copy_file(lptest::pki() / "ca.pem", dir / "ca.pem");  // not a hash name: never looked up
    e.t.setEnvironment({{"SSL_CERT_DIR", dir.string()}, {"SSL_CERT_FILE", (e.dir / "no-bundle.pem").string()}});
    ASSERT_TRUE(e.t.configure(e.ctx));
    e.expectRefused("unknown certificate authority");
}

// ---- session resumption across worker processes ---------------------------
// Each check runs in a fresh worker: the next worker's transport (a second
// instance here) offers the session the last one stored in the state
// directory, instead of a full handshake for every idle check.
namespace {

struct Worker {
    livepatch::testing::CapturingLogger log;
    PluginContext ctx;
    plugins::HttpsTransport t;
    explicit Worker(const TlsEnv& e) : ctx(e.ctx) {
        ctx.logger = &log;
        t.setEnvironment({});
    }
    Result<HttpResponse> get(const TlsEnv& e) {
        EXPECT_TRUE(t.configure(ctx));
        HttpRequest r;
        r.url = e.server->baseUrl() + "/v1/api/kernels/supported?kernel-version=6.1.0-1-amd64";
        r.headers = {{"Authorization", kSecret}};
        return t.send(r, nullptr);
    }
};

path stateDirFor(TlsEnv& e) {
    const path state = e.dir / "state";
    lptest::fsys::create_directories(state);
    lptest::fsys::permissions(state, lptest::fsys::perms::owner_all);
    e.ctx.stateDir = state.string();
    return state;
}

std::vector<path> storedSessions(const path& state) {
    std::vector<path> out;
    if (!lptest::fsys::exists(state / "transport-https")) return out;
    for (const auto& f : lptest::fsys::directory_iterator(state / "transport-https")) out.push_back(f.path());
    return out;
}

}  // namespace

TEST(TlsResumption, TheNextWorkerResumesTheStoredSession) {
    TlsEnv e("server");
    const path state = stateDirFor(e);
    Worker first(e);
    ASSERT_TRUE(first.get(e));
    EXPECT_TRUE(first.log.contains("full TLS handshake")) << "nothing stored yet";
    const auto files = storedSessions(state);
    ASSERT_EQ(files.size(), 1u);
    struct stat st {};
    ASSERT_EQ(::lstat(files[0].c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u) << "a resumption secret";
    ASSERT_EQ(::lstat((state / "transport-https").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0700u);

    Worker next(e);
    auto r = next.get(e);
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_EQ(r->status, 200);
    EXPECT_TRUE(next.log.contains("TLS session resumed")) << "the second worker did a full handshake";
    EXPECT_FALSE(next.log.contains("secret"));
}

TEST(TlsResumption, NotOfferedOnceTheTrustSettingsChange) {
    TlsEnv e("server");
    stateDirFor(e);
    Worker first(e);
    ASSERT_TRUE(first.get(e));
    // Verified under one ca-certs; another list (still trusting the
    // server) must verify the chain again.
    e.cfg.set("ca-certs",
              lptest::readWholeFile(lptest::pki() / "ca.pem") + lptest::readWholeFile(lptest::pki() / "ca.pem"));
    Worker next(e);
    ASSERT_TRUE(next.get(e));
    EXPECT_TRUE(next.log.contains("full TLS handshake"));
    EXPECT_FALSE(next.log.contains("TLS session resumed"));
}

TEST(TlsResumption, AnUnsafeOrCorruptStoredSessionMeansAFullHandshake) {
    TlsEnv e("server");
    const path state = stateDirFor(e);
    Worker first(e);
    ASSERT_TRUE(first.get(e));
    const auto files = storedSessions(state);
    ASSERT_EQ(files.size(), 1u);

    ::chmod(files[0].c_str(), 0644);  // readable by others: not ours alone
    Worker readable(e);
    ASSERT_TRUE(readable.get(e));
    EXPECT_TRUE(readable.log.contains("full TLS handshake"));

    std::ofstream(files[0], std::ios::trunc) << std::string(64, 'x');  // torn or foreign
    ::chmod(files[0].c_str(), 0600);
    Worker corrupt(e);
    auto r = corrupt.get(e);
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_TRUE(corrupt.log.contains("full TLS handshake"));
}

// ---- keep-alive over TLS (keep_alive_test.cpp has the plain-http cases) ---
// The reference server keeps connections alive: a second request on the
// same transport neither connects nor handshakes again, and the verified
// connection it reuses is the one the pins and host name were checked on.
TEST(TlsKeepAlive, TheVerifiedConnectionIsReusedWithoutAnotherHandshake) {
    TlsEnv e("server");
    e.cfg.set("server-pins", lptest::spkiPinOf(lptest::pki() / "server.pem"));
    ASSERT_TRUE(e.t.configure(e.ctx));
    auto first = e.get();
    auto second = e.get();
    ASSERT_TRUE(first) << first.error().message();
    ASSERT_TRUE(second) << second.error().message();
    EXPECT_EQ(second->status, first->status);
    EXPECT_EQ(lptest::tlsHandshakes(e.log), 1);
    EXPECT_TRUE(e.log.contains("reusing the connection to https://"));
    EXPECT_FALSE(e.log.contains("secret"));
}
