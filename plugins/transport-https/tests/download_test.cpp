// download() and retry policy against a scripted server on 127.0.0.1
// (plain http with allow-insecure-http=true, so each answer is exact):
// resume/restart, size limits, cancellation, error text, Retry-After dates,
// the overall deadline, and credentials never following another origin.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>

#include <livepatch/testing/fakes.h>

#include "https_transport.h"
#include "test_support.h"

using namespace livepatch;
using Poco::Net::HTTPResponse;
using Poco::Net::HTTPServerRequest;
using Poco::Net::HTTPServerResponse;

namespace {

const std::string kPayload = [] {
    std::string s;
    for (int i = 0; i < 100000; ++i) s += static_cast<char>('a' + (i * 7) % 26);
    return s;
}();
const std::string kAuth = "Bearer 11111111-2222-4333-8444-555555555555";

struct Env : lptest::TransportUnderTest {
    lptest::fsys::path dir = lptest::fsys::temp_directory_path() / ("lph4-dl-" + std::to_string(::getpid()));
    Env() {
        lptest::fsys::remove_all(dir);
        lptest::fsys::create_directories(dir);
        cfg.set("allow-insecure-http", "true");
        wireLikeTheAgent();  // the defaults the agent would give
        t.setRandom([] { return 123456789u; });
        EXPECT_TRUE(t.configure(ctx));
    }
    ~Env() { lptest::fsys::remove_all(dir); }
    std::string dest() const { return (dir / "dl.part").string(); }
    DownloadRequest request(const lptest::ScriptedServer& s) const {
        DownloadRequest d;
        d.url = s.base() + "/v1/patches/p.tar.xz";
        d.destinationPath = dest();
        d.headers = {{"Authorization", kAuth}};
        return d;
    }
    void noSecretAnywhere(const Error& e) {
        EXPECT_EQ(e.message().find("5555"), std::string::npos) << e.message();
        EXPECT_FALSE(log.contains("5555"));
    }
};

// Serves kPayload; honours Range when `ranges`.
void servePayload(HTTPServerRequest& req, HTTPServerResponse& resp, bool ranges) {
    const std::string range = req.get("Range", "");
    if (ranges && range.rfind("bytes=", 0) == 0) {
        const size_t from = std::stoul(range.substr(6));
        resp.setStatus(HTTPResponse::HTTP_PARTIAL_CONTENT);
        resp.set("Content-Range", "bytes " + std::to_string(from) + "-" + std::to_string(kPayload.size() - 1) + "/" +
                                      std::to_string(kPayload.size()));
        resp.setContentLength(static_cast<std::streamsize>(kPayload.size() - from));
        resp.send() << kPayload.substr(from);
        return;
    }
    resp.setContentLength(static_cast<std::streamsize>(kPayload.size()));
    resp.send() << kPayload;
}

}  // namespace

TEST(Download, ResumesAPartialFileWith206) {
    Env e;
    lptest::ScriptedServer s([](auto& req, auto& resp, int) { servePayload(req, resp, true); });
    std::ofstream(e.dest(), std::ios::binary) << kPayload.substr(0, 30000);
    std::vector<std::pair<std::uint64_t, std::uint64_t>> progress;
    auto r = e.t.download(
        e.request(s), [&](std::uint64_t d, std::uint64_t t) { progress.emplace_back(d, t); }, nullptr);
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_EQ(r->bytes, kPayload.size());
    EXPECT_EQ(lptest::readWholeFile(e.dest()), kPayload);
    ASSERT_EQ(s.seen().size(), 1u);
    EXPECT_EQ(s.seen()[0].range, "bytes=30000-");
    ASSERT_FALSE(progress.empty());
    EXPECT_GT(progress.front().first, 30000u);
    EXPECT_EQ(progress.back().first, kPayload.size());
    EXPECT_EQ(progress.back().second, kPayload.size());
    struct stat st;
    ASSERT_EQ(::stat(e.dest().c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST(Download, RestartsCleanlyWhenTheServerIgnoresRange) {
    Env e;
    lptest::ScriptedServer s([](auto& req, auto& resp, int) { servePayload(req, resp, false); });
    std::ofstream(e.dest(), std::ios::binary) << "stale bytes from another file";
    auto r = e.t.download(e.request(s), nullptr, nullptr);
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_EQ(lptest::readWholeFile(e.dest()), kPayload) << "200 replaces, never appends";
}

TEST(Download, WrongContentRangeRestartsFromZero) {
    Env e;
    lptest::ScriptedServer s([](HTTPServerRequest& req, HTTPServerResponse& resp, int) {
        if (req.has("Range")) {  // claims to resume somewhere else
            resp.setStatus(HTTPResponse::HTTP_PARTIAL_CONTENT);
            resp.set("Content-Range", "bytes 0-99999/100000");
            resp.setContentLength(static_cast<std::streamsize>(kPayload.size()));
            resp.send() << kPayload;
            return;
        }
        servePayload(req, resp, false);
    });
    std::ofstream(e.dest(), std::ios::binary) << kPayload.substr(0, 500);
    auto r = e.t.download(e.request(s), nullptr, nullptr);
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_EQ(lptest::readWholeFile(e.dest()), kPayload);
    ASSERT_EQ(s.seen().size(), 2u);
    EXPECT_EQ(s.seen()[1].range, "") << "second attempt starts from zero";
}

TEST(Download, Html502IsRetriedAndReportedWithoutTheBody) {
    Env e;
    lptest::ScriptedServer s([](HTTPServerRequest&, HTTPServerResponse& resp, int) {
        resp.setStatusAndReason(HTTPResponse::HTTP_BAD_GATEWAY, "<b>upstream exploded</b>");
        resp.setContentType("text/html");
        resp.send() << "<html><body><h1>502 Bad Gateway</h1>nginx internals here</body></html>";
    });
    e.t.setMaxAttempts(3);
    auto d = e.request(s);
    d.url = "http://user:pw@" + s.base().substr(7) + "/v1/patches/p.tar.xz?token=abc";
    auto r = e.t.download(d, nullptr, nullptr);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code(), ErrorCode::HttpStatus);
    EXPECT_EQ(r.error().message(), "HTTP 502 from " + s.base() + "/v1/patches/p.tar.xz: Bad Gateway");
    EXPECT_EQ(e.clock.sleeps().size(), 2u) << "5xx retried with backoff";
    EXPECT_FALSE(e.log.contains("<html"));
    EXPECT_FALSE(e.log.contains("upstream exploded"));
    e.noSecretAnywhere(r.error());
}

TEST(Download, NotFoundIsNotRetried) {
    Env e;
    lptest::ScriptedServer s([](HTTPServerRequest&, HTTPServerResponse& resp, int) {
        resp.setStatus(HTTPResponse::HTTP_NOT_FOUND);
        resp.send();
    });
    auto r = e.t.download(e.request(s), nullptr, nullptr);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().message(), "HTTP 404 from " + s.base() + "/v1/patches/p.tar.xz: Not Found");
    EXPECT_TRUE(e.clock.sleeps().empty());
}

TEST(Download, AnnouncedSizeOverTheLimitIsRefusedBeforeReading) {
    Env e;
    lptest::ScriptedServer s([](auto& req, auto& resp, int) { servePayload(req, resp, false); });
    auto d = e.request(s);
    d.maxBytes = 1000;
    auto r = e.t.download(d, nullptr, nullptr);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code(), ErrorCode::TooLarge);
    EXPECT_EQ(lptest::fsys::file_size(e.dest()), 0u);
}

TEST(Download, UnannouncedChunkedBodyOverTheLimitIsCutOff) {
    Env e;
    lptest::ScriptedServer s([](HTTPServerRequest&, HTTPServerResponse& resp, int) {
        resp.setChunkedTransferEncoding(true);
        auto& out = resp.send();
        for (int i = 0; i < 50; ++i) out << kPayload;  // 5 MB
    });
    auto d = e.request(s);
    d.maxBytes = 200000;
    auto r = e.t.download(d, nullptr, nullptr);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code(), ErrorCode::TooLarge);
    EXPECT_EQ(lptest::fsys::file_size(e.dest()), 0u);
}

TEST(Download, CancelKeepsThePartialFileForResume) {
    Env e;
    lptest::ScriptedServer s([](auto& req, auto& resp, int) { servePayload(req, resp, true); });
    CancelToken cancel;
    auto r = e.t.download(
        e.request(s), [&](std::uint64_t, std::uint64_t) { cancel.cancel(); }, &cancel);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code(), ErrorCode::Cancelled);
    const auto partial = lptest::fsys::file_size(e.dest());
    EXPECT_GT(partial, 0u);
    EXPECT_LT(partial, kPayload.size());
    auto again = e.t.download(e.request(s), nullptr, nullptr);
    ASSERT_TRUE(again) << again.error().message();
    EXPECT_EQ(lptest::readWholeFile(e.dest()), kPayload);
}

// Issue 20.5: on a full disk the download error named no reason.
// RLIMIT_FSIZE makes write() fail as a full file system does.
TEST(Download, AWriteThatFailsSaysWhy) {
    Env e;
    lptest::ScriptedServer s([](auto& req, auto& resp, int) { servePayload(req, resp, false); });
    auto r = [&] {
        livepatch::testing::FileSizeLimit full(10000);
        return e.t.download(e.request(s), nullptr, nullptr);
    }();
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code(), ErrorCode::Io);
    EXPECT_NE(r.error().message().find(e.dest() + ": "), std::string::npos) << r.error().message();
    EXPECT_TRUE(r.error().message().find(std::strerror(EFBIG)) != std::string::npos ||
                r.error().message().find(std::strerror(ENOSPC)) != std::string::npos)
        << r.error().message();
}

TEST(Download, DestinationSymlinkIsNotFollowed) {
    Env e;
    lptest::ScriptedServer s([](auto& req, auto& resp, int) { servePayload(req, resp, false); });
    std::ofstream(e.dir / "victim") << "precious";
    lptest::fsys::create_symlink(e.dir / "victim", e.dest());
    auto r = e.t.download(e.request(s), nullptr, nullptr);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code(), ErrorCode::Io);
    EXPECT_EQ(lptest::readWholeFile(e.dir / "victim"), "precious");
    EXPECT_TRUE(s.seen().empty()) << "refused before any request";
}

TEST(Send, RetryAfterHttpDateIsRelativeToTheInjectedClock) {
    Env e;
    // ManualClock wall time starts at 1700000000 = Tue, 14 Nov 2023 22:13:20 GMT.
    lptest::ScriptedServer s([](HTTPServerRequest&, HTTPServerResponse& resp, int i) {
        if (i == 0) {
            resp.setStatus(HTTPResponse::HTTP_TOO_MANY_REQUESTS);
            resp.set("Retry-After", "Tue, 14 Nov 2023 22:14:05 GMT");
            resp.send();
            return;
        }
        resp.setContentType("application/json");
        resp.send() << "{}";
    });
    HttpRequest r;
    r.url = s.base() + "/v1/api/kernels/supported";
    auto res = e.t.send(r, nullptr);
    ASSERT_TRUE(res) << res.error().message();
    EXPECT_EQ(res->status, 200);
    ASSERT_EQ(e.clock.sleeps().size(), 1u);
    EXPECT_EQ(e.clock.sleeps()[0].count(), 45000);
}

TEST(Send, BackoffDelaysAreFullJitterAndBounded) {
    Env e;
    lptest::ScriptedServer s([](HTTPServerRequest&, HTTPServerResponse& resp, int) {
        resp.setStatus(HTTPResponse::HTTP_SERVICE_UNAVAILABLE);
        resp.send();
    });
    e.t.setMaxAttempts(4);
    std::uint64_t next = 0;
    e.t.setRandom([&] { return next += 1499; });  // 1499, 2998, 4497
    HttpRequest r;
    r.url = s.base() + "/x";
    auto res = e.t.send(r, nullptr);
    ASSERT_TRUE(res) << "the last 503 is returned as a response";
    EXPECT_EQ(res->status, 503);
    const auto sl = e.clock.sleeps();
    ASSERT_EQ(sl.size(), 3u);
    EXPECT_EQ(sl[0].count(), 1499 % 1001);  // attempt 0: uniform in [0, 1000]
    EXPECT_EQ(sl[1].count(), 2998 % 2001);  // attempt 1: [0, 2000]
    EXPECT_EQ(sl[2].count(), 4497 % 4001);  // attempt 2: [0, 4000]
    EXPECT_EQ(s.seen().size(), 4u);
}

TEST(Send, NoRetryWaitPastTheOverallDeadline) {
    Env e;
    e.cfg.set("request-timeout", "300");
    ASSERT_TRUE(e.t.configure(e.ctx));
    e.t.setMaxAttempts(10);
    lptest::ScriptedServer s([](HTTPServerRequest&, HTTPServerResponse& resp, int) {
        resp.setStatus(HTTPResponse::HTTP_SERVICE_UNAVAILABLE);
        resp.set("Retry-After", "200");
        resp.send();
    });
    HttpRequest r;
    r.url = s.base() + "/x";
    auto res = e.t.send(r, nullptr);
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 503);
    ASSERT_EQ(e.clock.sleeps().size(), 1u) << "200 s fits in 300 s, a second 200 s does not";
    EXPECT_EQ(e.clock.sleeps()[0].count(), 200000);
}

TEST(Send, TruncatedBodyIsRetried) {
    Env e;
    lptest::ScriptedServer s([](HTTPServerRequest&, HTTPServerResponse& resp, int i) {
        resp.setContentLength(100);
        auto& out = resp.send();
        out << std::string(i == 0 ? 40 : 100, 'x');
    });
    HttpRequest r;
    r.url = s.base() + "/x";
    auto res = e.t.send(r, nullptr);
    ASSERT_TRUE(res) << res.error().message();
    EXPECT_EQ(res->body.size(), 100u);
    EXPECT_EQ(e.clock.sleeps().size(), 1u);
}

TEST(Send, CredentialsDoNotFollowARedirectToAnotherOrigin) {
    Env e;
    lptest::ScriptedServer other([](HTTPServerRequest&, HTTPServerResponse& resp, int) { resp.send() << "ok"; });
    const std::string target = other.base() + "/elsewhere";
    lptest::ScriptedServer s(
        [&](HTTPServerRequest&, HTTPServerResponse& resp, int) { resp.redirect(target, HTTPResponse::HTTP_FOUND); });
    HttpRequest r;
    r.url = s.base() + "/x";
    r.headers = {{"Authorization", kAuth}};
    auto res = e.t.send(r, nullptr);
    ASSERT_TRUE(res) << res.error().message();
    EXPECT_EQ(res->finalUrl, target);
    ASSERT_EQ(s.seen().size(), 1u);
    EXPECT_EQ(s.seen()[0].authorization, kAuth);
    ASSERT_EQ(other.seen().size(), 1u);
    EXPECT_EQ(other.seen()[0].authorization, "") << "token sent to another origin";
}

TEST(Send, RedirectLoopsEnd) {
    Env e;
    lptest::ScriptedServer s(
        [](HTTPServerRequest&, HTTPServerResponse& resp, int) { resp.redirect("/again", HTTPResponse::HTTP_FOUND); });
    HttpRequest r;
    r.url = s.base() + "/x";
    auto res = e.t.send(r, nullptr);
    ASSERT_FALSE(res);
    EXPECT_EQ(res.error().code(), ErrorCode::Protocol);
    EXPECT_NE(res.error().message().find("too many redirects"), std::string::npos);
}

TEST(Download, RequestTimeoutBoundsTheWholeDownloadAndKeepsWhatArrived) {
    // Each 64 KiB read "takes" 100 s on the injected clock: a server that
    // drips just under the socket idle timeout. request-timeout=300 ends the
    // download after the third read; the bytes so far stay for a resume.
    Env e;
    e.cfg.set("request-timeout", "300");
    ASSERT_TRUE(e.t.configure(e.ctx));
    const std::string big(1 << 20, 'x');
    lptest::ScriptedServer s([&](auto&, auto& resp, int) {
        resp.setContentLength(static_cast<std::streamsize>(big.size()));
        resp.send() << big;
    });
    int reads = 0;
    auto r = e.t.download(
        e.request(s),
        [&](std::uint64_t, std::uint64_t) {
            ++reads;
            e.clock.advance(std::chrono::seconds(100));
        },
        nullptr);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code(), ErrorCode::Timeout);
    EXPECT_NE(r.error().message().find("did not finish within 300 s (request-timeout); it will resume next time"),
              std::string::npos)
        << r.error().message();
    EXPECT_EQ(reads, 3);
    const auto kept = lptest::readWholeFile(e.dest()).size();
    EXPECT_GT(kept, 0u);
    EXPECT_LT(kept, big.size());
    EXPECT_EQ(s.seen().size(), 1u) << "not retried past the deadline";
}
