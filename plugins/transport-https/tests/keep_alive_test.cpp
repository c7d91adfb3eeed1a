// One kept connection: the requests of a cycle (updates, the signed
// catalogue's metadata, the download, the report) share a connection to
// their server instead of a TCP connection and a TLS handshake each. Against
// scripted servers on 127.0.0.1 (plain http, so each answer is exact) and
// the reference server over TLS (tls_test.cpp): reuse happens, only for the same origin,
// only after an answer read to its end, and a connection the server closed
// is replaced at once, not retried with backoff.
#include <gtest/gtest.h>
#include <unistd.h>

#include "https_transport.h"
#include "test_support.h"

using namespace livepatch;
using Poco::Net::HTTPServerRequest;
using Poco::Net::HTTPServerResponse;

namespace {

constexpr int kServerIdleMs = 10000;  // the scripted server keeps connections this long

struct Env : lptest::TransportUnderTest {
    Env() {
        cfg.set("allow-insecure-http", "true");
        wireLikeTheAgent();
        t.setRandom([] { return 1u; });
        EXPECT_TRUE(t.configure(ctx));
    }
    Result<HttpResponse> get(const std::string& url) {
        HttpRequest r;
        r.url = url;
        return t.send(r, nullptr);
    }
    Result<HttpResponse> post(const std::string& url, const std::string& body) {
        HttpRequest r;
        r.method = "POST";
        r.url = url;
        r.body = body;
        r.contentType = "application/json";
        return t.send(r, nullptr);
    }
};

// Answers "<index>:<uri>" with its length.
void answerWithIndex(HTTPServerRequest& req, HTTPServerResponse& resp, int index) {
    const std::string body = std::to_string(index) + ":" + req.getURI();
    resp.setContentLength(static_cast<std::streamsize>(body.size()));
    resp.send() << body;
}

}  // namespace

TEST(KeepAlive, OneConnectionCarriesTheRequestsOfACycle) {
    lptest::ScriptedServer s(answerWithIndex, kServerIdleMs);
    Env e;
    auto a = e.post(s.base() + "/v1/client/x/updates", "{\"kernel\":\"k\"}");
    auto b = e.get(s.base() + "/v1/tuf/metadata/timestamp.json");
    ASSERT_TRUE(a && b);
    EXPECT_EQ(a->body, "0:/v1/client/x/updates");
    EXPECT_EQ(b->body, "1:/v1/tuf/metadata/timestamp.json");
    DownloadRequest d;
    d.url = s.base() + "/v1/patches/p.tar.xz";
    const auto dir = livepatch::testing::freshTestDir("keepalive-dl");
    d.destinationPath = (dir / "p.part").string();
    auto c = e.t.download(d, nullptr, nullptr);
    ASSERT_TRUE(c) << c.error().message();
    EXPECT_EQ(lptest::readWholeFile(d.destinationPath), "2:/v1/patches/p.tar.xz");
    EXPECT_EQ(s.connections(), 1) << "each request opened its own connection";
    EXPECT_TRUE(e.log.contains("reusing the connection to http://127.0.0.1:"));
}

TEST(KeepAlive, AnotherOriginNeverGetsTheKeptConnection) {
    lptest::ScriptedServer a(answerWithIndex, kServerIdleMs), b(answerWithIndex, kServerIdleMs);
    Env e;
    ASSERT_TRUE(e.get(a.base() + "/a1"));
    auto rb = e.get(b.base() + "/b1");
    ASSERT_TRUE(rb);
    EXPECT_EQ(rb->body, "0:/b1");
    ASSERT_TRUE(e.get(a.base() + "/a2"));
    ASSERT_EQ(a.seen().size(), 2u);
    ASSERT_EQ(b.seen().size(), 1u);
    EXPECT_EQ(b.seen()[0].uri, "/b1");
    EXPECT_EQ(a.seen()[1].uri, "/a2");
}

TEST(KeepAlive, AConnectionTheServerClosedIsReplacedAtOnce) {
    lptest::ScriptedServer s(answerWithIndex, 100);  // closes connections idle for 100 ms
    Env e;
    ASSERT_TRUE(e.get(s.base() + "/first"));
    // Ten times the server's idle timeout: under a loaded sanitizer run its
    // connection thread may be late to close, and reuse would then be right.
    std::this_thread::sleep_for(std::chrono::milliseconds(1000));
    auto r = e.post(s.base() + "/second", "{}");
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_EQ(r->body, "1:/second");
    EXPECT_EQ(s.connections(), 2);
    EXPECT_TRUE(e.clock.sleeps().empty()) << "replacing a closed connection is not a retry with backoff";
    EXPECT_EQ(s.seen().size(), 2u) << "the request was sent twice";
}

TEST(KeepAlive, AnAnswerNotReadToItsEndIsNotKept) {
    // The first answer is larger than the caller accepts: refused part-way,
    // its remaining bytes must never be read as the next answer.
    lptest::ScriptedServer s(
        [](HTTPServerRequest& req, HTTPServerResponse& resp, int index) {
            const std::string body = index == 0 ? std::string(200000, 'x') : "fine";
            resp.setContentLength(static_cast<std::streamsize>(body.size()));
            resp.send() << body;
        },
        kServerIdleMs);
    Env e;
    HttpRequest big;
    big.url = s.base() + "/big";
    big.maxResponseBytes = 1000;
    auto refused = e.t.send(big, nullptr);
    ASSERT_FALSE(refused);
    EXPECT_EQ(refused.error().code(), ErrorCode::TooLarge);
    auto r = e.get(s.base() + "/next");
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_EQ(r->body, "fine");
    EXPECT_EQ(s.connections(), 2);
}

TEST(KeepAlive, AServerThatSaysCloseIsNotAskedAgainOnThatConnection) {
    lptest::ScriptedServer s(
        [](HTTPServerRequest& req, HTTPServerResponse& resp, int index) {
            resp.setKeepAlive(false);
            answerWithIndex(req, resp, index);
        },
        kServerIdleMs);
    Env e;
    ASSERT_TRUE(e.get(s.base() + "/one"));
    auto r = e.get(s.base() + "/two");
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_EQ(r->body, "1:/two");
    EXPECT_EQ(s.connections(), 2);
    EXPECT_FALSE(e.log.contains("reusing the connection"));
}
