#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "livepatch/testing/plugins.h"
#include "livepatch/text.h"
#include "livepatch/url.h"
#include "protocol/api_client.h"

using namespace livepatch;
namespace fsys = std::filesystem;

TEST(UpdatesParsing, StrictFields) {
    const std::string sha(64, 'a');
    auto ok = ApiClient::parseUpdates(
        R"({"supported":"supported","patches":[{"version":"2","name":"lp_a","filename":"lp_a-2.tar.xz","url":"/v1/patches/lp_a-2.tar.xz","sha256":")" +
            sha + R"(","size":10,"fixes":[{"name":"cve-2024-1"}]}]})",
        "https://srv.example/base");
    ASSERT_TRUE(ok) << ok.error().message();
    EXPECT_EQ(ok->patches[0].url, "https://srv.example/base/v1/patches/lp_a-2.tar.xz");
    auto bad = [](const std::string& body, const std::string& why) {
        auto r = ApiClient::parseUpdates(body, "https://x");
        ASSERT_FALSE(r) << body;
        EXPECT_EQ(r.error().code(), ErrorCode::Protocol);
        EXPECT_NE(r.error().message().find(why), std::string::npos) << r.error().message();
    };
    bad("<html>502</html>", "not valid JSON");
    bad(R"({"supported":"maybe"})", "unknown \"supported\"");
    bad(R"({"supported":"supported","patches":[{"version":"1","name":"a","filename":"f","url":"u","sha256":"xyz"}]})",
        "sha256");
    bad(R"({"supported":"supported","patches":[{"version":"1","name":"../a","filename":"f","url":"u","sha256":")" +
            sha + R"("}]})",
        "invalid patch name");
    bad(R"({"supported":"supported","patches":[{"version":"1","name":"a","filename":"../f","url":"u","sha256":")" +
            sha + R"("}]})",
        "invalid file name");
}

TEST(DisplayUrl, NoSecrets) { EXPECT_EQ(ApiClient::displayUrl("https://u:p@h:1/x?token=1"), "https://h:1/x"); }

namespace {
const std::string kSha(64, 'a');
std::string offerJson(const std::string& fields) {
    return R"({"supported":"supported","patches":[{"version":"2","name":"lp_a","filename":"lp_a-2.tar.xz","sha256":")" +
           kSha + R"(",)" + fields + "}]}";
}
void expectProtocolError(const std::string& body, const std::string& why,
                         const std::string& base = "https://srv.example") {
    auto r = ApiClient::parseUpdates(body, base);
    ASSERT_FALSE(r) << body;
    EXPECT_EQ(r.error().code(), ErrorCode::Protocol);
    EXPECT_NE(r.error().message().find(why), std::string::npos) << r.error().message();
}

// The SDK's fake transport, answering every request with `response`.
struct CannedServer {
    CannedServer() {
        transport.onSend = [this](const HttpRequest&, const CancelToken*) { return Result<HttpResponse>(response); };
        transport.onDownload = [](const DownloadRequest& r, const ProgressCallback&, const CancelToken*) {
            return Result<DownloadResult>(DownloadResult{0, r.url});
        };
    }
    const HttpRequest& last() const { return transport.requests.back(); }
    const DownloadRequest& lastDownload() const { return transport.downloads.back(); }
    livepatch::testing::FakeTransport transport;
    HttpResponse response;
};
}  // namespace

TEST(UpdatesParsing, EveryFieldIsTypeCheckedWithAPreciseMessage) {
    expectProtocolError("[1,2]", "must be a JSON object");
    expectProtocolError(R"({"supported":"supported","patches":{}})", "\"patches\" must be an array");
    expectProtocolError(R"({"supported":"supported","patches":[1]})", "patches[0] must be an object");
    expectProtocolError(offerJson(R"("url":"/p","replace":"yes")"), "\"replace\" must be true or false");
    expectProtocolError(offerJson(R"("url":"/p","size":-1)"), "\"size\" must not be negative");
    expectProtocolError(offerJson(R"("url":"/p","size":"10")"), "\"size\" must be an integer");
    expectProtocolError(offerJson(R"("url":"/p","published":"yesterday")"), "\"published\" is not an RFC 3339 date");
    expectProtocolError(offerJson(R"("url":"/p","fixes":["cve-1"])"), "patches[0].fixes[0] must be an object");
    expectProtocolError(offerJson(R"("url":"/p","fixes":[{"name":"cve-1","patched":1}])"),
                        "\"patched\" must be true or false");
    expectProtocolError(offerJson(R"("url":5)"), "field \"url\" must be a string");
    expectProtocolError(R"({"supported":"supported","upgrade-required-date":"soon"})", "upgrade-required-date");
    expectProtocolError(
        R"({"supported":"supported","patches":[{"version":"../2","name":"lp_a","filename":"f","url":"/p","sha256":")" +
            kSha + R"("}]})",
        "invalid version");
    expectProtocolError(
        R"({"supported":"supported","patches":[{"version":"2","name":"lp_a","filename":"..","url":"/p","sha256":")" +
            kSha + R"("}]})",
        "invalid file name");
}

TEST(UpdatesParsing, PatchUrlsKeepTheServersScheme) {
    expectProtocolError(offerJson(R"("url":"http://srv.example/v1/patches/lp_a-2.tar.xz")"),
                        "does not use the server's scheme \"https\"");
    expectProtocolError(offerJson(R"("url":"file:///etc/shadow")"), "does not use the server's scheme");
    auto ok = ApiClient::parseUpdates(offerJson(R"("url":"https://cdn.example/lp_a-2.tar.xz")"), "https://srv.example");
    ASSERT_TRUE(ok) << ok.error().message();
    auto mirror = ApiClient::parseUpdates(offerJson(R"("url":"/v1/patches/lp_a-2.tar.xz")"), "file:///srv/mirror");
    ASSERT_TRUE(mirror) << mirror.error().message();
    EXPECT_EQ(mirror->patches[0].url, "file:///srv/mirror/v1/patches/lp_a-2.tar.xz");
}

TEST(ApiClientDownload, CredentialGoesOnlyToTheServersOrigin) {
    CannedServer t;
    ApiClient api(&t.transport, "https://srv.example", "id");
    PatchOffer same;
    same.url = "https://SRV.example:443/v1/patches/x.tar.xz";
    ASSERT_TRUE(api.download(same, "Bearer secret", "/tmp/x", 10, nullptr, nullptr));
    EXPECT_EQ(findHeader(t.lastDownload().headers, "Authorization"), "Bearer secret");
    PatchOffer other;
    other.url = "https://cdn.example/x.tar.xz";
    ASSERT_TRUE(api.download(other, "Bearer secret", "/tmp/x", 10, nullptr, nullptr));
    EXPECT_FALSE(findHeader(t.lastDownload().headers, "Authorization")) << "credential leaked to another origin";
}

TEST(ApiClientErrors, StatusUrlAndOneSanitisedLineNeverTheBody) {
    CannedServer t;
    ApiClient api(&t.transport, "https://u:pw@srv.example", "id");
    t.response.status = 502;
    t.response.headers = {{"Content-Type", "text/html"}};
    t.response.body = "<html><body><h1>502 Bad Gateway</h1></body></html>";
    auto r = api.updates("Bearer s", "{}", "", nullptr);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code(), ErrorCode::HttpStatus);
    EXPECT_EQ(r.error().message(), "HTTP 502 from https://srv.example/v1/client/id/updates: Bad Gateway");

    t.response.status = 401;
    t.response.headers = {{"Content-Type", "application/json"}};
    t.response.body = "{\"error\":\"x\",\"message\":\"token revoked\\u001b[31m\\nsecond line\"}";
    r = api.updates("Bearer s", "{}", "", nullptr);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code(), ErrorCode::TokenInvalid);
    EXPECT_EQ(r.error().message().find('\x1b'), std::string::npos);
    EXPECT_EQ(r.error().message().find('\n'), std::string::npos);
    EXPECT_NE(r.error().message().find("token revoked"), std::string::npos);

    t.response.status = 304;
    r = api.updates("Bearer s", "{}", "\"e1\"", nullptr);
    ASSERT_TRUE(r);
    EXPECT_TRUE(r->notModified);
    EXPECT_EQ(findHeader(t.last().headers, "If-None-Match"), "\"e1\"");

    t.response.status = 200;
    t.response.headers = {{"Content-Type", "application/json"}, {"ETag", "\"e2\""}};
    t.response.body = R"({"supported":"kernel-upgrade-required","upgrade-required-date":"2026-12-01T00:00:00Z"})";
    r = api.updates("Bearer s", "{}", "", nullptr);
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_EQ(r->etag, "\"e2\"");
    EXPECT_EQ(r->supported, KernelSupport::KernelUpgradeRequired);
    EXPECT_FALSE(findHeader(t.last().headers, "If-None-Match"));
}

// The updates ETag is sent back as If-None-Match: a malformed one (control
// characters, no quotes, too long) is not kept, so it never reaches a header.
TEST(ApiClientUpdates, AMalformedETagIsNotKept) {
    CannedServer t;
    ApiClient api(&t.transport, "https://s", std::string(32, 'a'));
    t.response.status = 200;
    t.response.body = R"({"supported":"supported"})";
    for (const std::string bad :
         {std::string("\"e\x1b[2J\""), std::string("e2"), "\"" + std::string(200, 'a') + "\""}) {
        t.response.headers = {{"Content-Type", "application/json"}, {"ETag", bad}};
        auto r = api.updates("Bearer s", "{}", "", nullptr);
        ASSERT_TRUE(r) << r.error().message();
        EXPECT_EQ(r->etag, "") << bad;
    }
}

// The SDK's one check and one escaping for text that reaches a terminal
// (livepatch/text.h), and its one host check (livepatch/url.h).
TEST(SdkText, OnlyQuotedPrintableEntityTagsAreSafe) {
    EXPECT_TRUE(isSafeEntityTag("\"abc\""));
    EXPECT_TRUE(isSafeEntityTag("W/\"6578-6a3\""));
    EXPECT_FALSE(isSafeEntityTag(""));
    EXPECT_FALSE(isSafeEntityTag("\""));
    EXPECT_FALSE(isSafeEntityTag("abc"));
    EXPECT_FALSE(isSafeEntityTag("\"a b\""));
    EXPECT_FALSE(isSafeEntityTag("\"a\nb\""));
    EXPECT_FALSE(isSafeEntityTag("\"" + std::string(127, 'a') + "\""));
}

TEST(SdkText, PrintableTextIsBoundedUtf8WithoutControls) {
    EXPECT_TRUE(isPrintableText("stable", 64));
    EXPECT_TRUE(isPrintableText("Fix für CVE-2024-1 — ünïcödé ✓", 64));
    EXPECT_FALSE(isPrintableText("premium\x1b]0;owned\x07", 64)) << "OSC";
    EXPECT_FALSE(isPrintableText("a\nb", 64));
    EXPECT_FALSE(isPrintableText("a\x7f", 64));
    EXPECT_FALSE(
        isPrintableText("a\xc2\x9b"
                        "31m",
                        64))
        << "C1 CSI";
    EXPECT_FALSE(
        isPrintableText("\xe2\x80\xae"
                        "evil",
                        64))
        << "bidi override";
    EXPECT_FALSE(isPrintableText("\xff\xfe", 64)) << "not UTF-8";
    EXPECT_FALSE(isPrintableText("\xc0\xaf", 64)) << "overlong";
    EXPECT_FALSE(isPrintableText("\xed\xa0\x80", 64)) << "surrogate";
    EXPECT_FALSE(isPrintableText("\xe2\x9c", 64)) << "cut sequence";
    EXPECT_FALSE(isPrintableText(std::string(65, 'a'), 64));
}

TEST(SdkText, PrintableLinesAllowLineBreaksAndTabsOnly) {
    EXPECT_TRUE(isPrintableLines("tiers:\n\t- stable\n", 64, false));
    EXPECT_FALSE(isPrintableLines("a\r\nb", 64, false)) << "a carriage return moves the cursor back";
    EXPECT_TRUE(isPrintableLines("a\r\nb", 64, true));
    EXPECT_FALSE(isPrintableLines("a\n\x1b[2J", 64, true)) << "escape sequence";
    EXPECT_FALSE(isPrintableLines("a\n\xc2\x9b", 64, true)) << "C1 CSI";
    EXPECT_FALSE(isPrintableLines("a\n\xff", 64, true)) << "not UTF-8";
    EXPECT_FALSE(isPrintableLines(std::string(65, '\n'), 64, true));
}

TEST(SdkText, TerminalSafeEscapesEveryControlAndBadByte) {
    EXPECT_EQ(terminalSafe("plain ✓"), "plain ✓");
    EXPECT_EQ(terminalSafe("a\x1b[2Jb\nc\r\td\\"), "a\\x1b[2Jb\\nc\\r\\td\\\\");
    EXPECT_EQ(terminalSafe("\xc2\x9b"
                           "x"),
              "\\x9bx");
    EXPECT_EQ(terminalSafe("\xe2\x80\xae"), "\\u202e");
    EXPECT_EQ(terminalSafe("\xff"), "\\xff");
    EXPECT_EQ(terminalSafe(std::string(20, 'a'), 10), std::string(10, 'a') + "...");
}

TEST(SdkUrl, HostsAreDnsNamesOrIpLiterals) {
    for (const char* ok : {"srv.example", "a-b_c.example.", "127.0.0.1", "::1", "[::1]", "fe80::1", "localhost"})
        EXPECT_TRUE(isValidHost(ok)) << ok;
    for (const char* bad : {"", "evil\r\nX: 1", "a b", "a..b", ".a", "a%0d", "a&b", "a;b", "[::1", "1::2::3", "\x1b"})
        EXPECT_FALSE(isValidHost(bad)) << bad;
    EXPECT_FALSE(isValidHost(std::string(64, 'a') + ".example")) << "label over 63 bytes";
    EXPECT_EQ(hostProblem("https://srv.example/x"), "");
    EXPECT_NE(hostProblem("https://a\r\nb/x").find("is not a valid host name or IP address"), std::string::npos);
    EXPECT_EQ(hostProblem("https://a\r\nb/x").find('\n'), std::string::npos);
    EXPECT_NE(proxyProblem("https://u:pw@proxy:3128").find("https:// proxy is not supported"), std::string::npos);
    EXPECT_EQ(proxyProblem("https://u:pw@proxy:3128").find("pw"), std::string::npos);
    EXPECT_EQ(proxyProblem("http://u:pw@proxy:3128"), "");
}

// Regression (security review item 14): an offer URL's host with CR/LF went
// to the transport, and from there into a CONNECT line and a Host header.
TEST(UpdatesParsing, OfferHostsMustBeHostNames) {
    expectProtocolError(offerJson(R"("url":"https://cdn.example\r\nX-Injected: 1/lp_a-2.tar.xz")"),
                        "is not a valid host name");
    expectProtocolError(offerJson(R"("url":"https://cdn ex/lp_a-2.tar.xz")"), "is not a valid host name");
}

// Regression (security review item 8): tier and fix texts were stored and
// shown by `status` as the server sent them (ESC/OSC sequences included).
TEST(UpdatesParsing, ServerTextMustBePrintableAndBounded) {
    expectProtocolError(R"({"supported":"supported","tier":"premium\u001b]0;owned\u0007"})",
                        "field \"tier\" must be printable UTF-8 of at most 64 bytes");
    expectProtocolError(offerJson(R"("url":"/p","fixes":[{"name":"cve-1\u001b[2J"}])"),
                        "patches[0].fixes[0]: field \"name\" must be printable");
    expectProtocolError(offerJson(R"("url":"/p","fixes":[{"name":"cve-1","description":"x\ny"}])"),
                        "field \"description\" must be printable");
    expectProtocolError(
        offerJson(R"("url":"/p","fixes":[{"name":"cve-1","description":")" + std::string(1025, 'd') + R"("}])"),
        "at most 1024 bytes");
    expectProtocolError(offerJson(R"("url":"/p","fixes":[{"name":"cve-1","bug":"\u009b31m"}])"),
                        "field \"bug\" must be printable");
    auto r = ApiClient::parseUpdates(R"({"supported":"supported","tier":"premium\u001b[31m"})", "https://srv.example");
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().message().find('\x1b'), std::string::npos) << "the refusal quotes the text escaped";
    auto ok = ApiClient::parseUpdates(
        offerJson(R"("url":"/p","fixes":[{"name":"CVE-2024-1","description":"Fix für ünïcödé"}])"),
        "https://srv.example");
    ASSERT_TRUE(ok) << ok.error().message();
}

TEST(ApiClientRegister, TierWithControlCharactersIsRefused) {
    CannedServer t;
    ApiClient api(&t.transport, "https://srv.example", "id");
    t.response.status = 200;
    t.response.headers = {{"Content-Type", "application/json"}};
    t.response.body = R"({"machine-token":"m","tier":"stable\u001b]52;c;ZXZpbA==\u0007"})";
    auto r = api.registerMachine("Bearer a", "{}", nullptr);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code(), ErrorCode::Protocol);
    EXPECT_NE(r.error().message().find("\"tier\" must be printable"), std::string::npos) << r.error().message();
}
