#include <gtest/gtest.h>
#include <unistd.h>

#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>
#include <Poco/Net/HTTPBasicCredentials.h>
#include <Poco/Net/HTTPClientSession.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "catalogue.h"
#include "server.h"

namespace fsys = std::filesystem;
using namespace lpserver;

namespace {

struct Reply {
    int status;
    std::string body, etag, contentType, reason;
};

Reply call(unsigned short port, const std::string& method, const std::string& path, const std::string& body = "",
           std::vector<std::pair<std::string, std::string>> headers = {}, const std::string& adminPw = "") {
    Poco::Net::HTTPClientSession s("127.0.0.1", port);
    Poco::Net::HTTPRequest req(method, path, Poco::Net::HTTPMessage::HTTP_1_1);
    for (auto& h : headers) req.set(h.first, h.second);
    if (!adminPw.empty()) Poco::Net::HTTPBasicCredentials("admin", adminPw).authenticate(req);
    req.setContentLength(static_cast<std::streamsize>(body.size()));
    req.setContentType("application/json");
    s.sendRequest(req) << body;
    Poco::Net::HTTPResponse resp;
    std::istream& in = s.receiveResponse(resp);
    std::string out((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    return {resp.getStatus(), out, resp.get("ETag", ""), resp.getContentType(), resp.getReason()};
}

class ServerTest : public ::testing::Test {
protected:
    void SetUp() override {
        dir = fsys::temp_directory_path() / ("lpserver-" + std::to_string(::getpid()) + "-" +
                                              ::testing::UnitTest::GetInstance()->current_test_info()->name());
        fsys::remove_all(dir);
        fsys::create_directories(dir / "patches");
        std::ofstream(dir / "patches/lp_a-1.tar.xz") << "pretend tarball";
        std::ofstream(dir / "catalogue.yaml") << "kernels:\n"
                                                 "  - kernel: 5.15.0-100.110-generic\n"
                                                 "    architecture: x86_64\n"
                                                 "    supported: supported\n"
                                                 "    patches:\n"
                                                 "      - {file: lp_a-1.tar.xz, name: lp_a, version: \"1\", published: 2026-01-01T00:00:00Z,\n"
                                                 "         fixes: [{name: cve-2023-1, description: d, bug: b, patched: true}]}\n";
        std::ofstream(dir / "admin-password") << hashAdminPassword("s3cret") << "\n";
        std::ofstream(dir / "macaroon-key") << "server-test-macaroon-root-key-0123456789";
        start();
    }
    void start(Faults f = {}) {
        ServerOptions o;
        o.dataDir = dir.string();
        o.plain = true;
        o.maxRequestBytes = 4096;
        o.faults = f;
        server = std::make_unique<Server>(o);
        ASSERT_TRUE(server->start());
    }
    void TearDown() override {
        server.reset();
        fsys::remove_all(dir);
    }
    std::string enroll(const std::string& id) {
        auto t = call(server->port(), "POST", "/admin/tokens", "{\"tier\":\"stable\"}", {}, "s3cret");
        EXPECT_EQ(t.status, 201);
        Poco::JSON::Parser p;
        auto token = p.parse(t.body).extract<Poco::JSON::Object::Ptr>()->getValue<std::string>("token");
        auto r = call(server->port(), "POST", "/v1/client/" + id, "{\"kernel\":\"k\",\"architecture\":\"x86_64\"}",
                      {{"Authorization", "Bearer " + token}});
        EXPECT_EQ(r.status, 200) << r.body;
        return Poco::JSON::Parser().parse(r.body).extract<Poco::JSON::Object::Ptr>()->getValue<std::string>("machine-token");
    }
    fsys::path dir;
    std::unique_ptr<Server> server;
    const std::string id = "0123456789abcdef0123456789abcdef";
    const std::string report = "{\"kernel\":\"5.15.0-100.110-generic\",\"architecture\":\"x86_64\"}";
};

}  // namespace

TEST_F(ServerTest, AdminNeedsCorrectPassword) {
    EXPECT_EQ(call(server->port(), "POST", "/admin/tokens", "{}", {}, "wrong").status, 401);
    EXPECT_EQ(call(server->port(), "POST", "/admin/tokens", "{}").status, 401);
    EXPECT_EQ(call(server->port(), "POST", "/admin/tokens", "{}", {}, "s3cret").status, 201);
}

TEST_F(ServerTest, RegisterUpdatesEtagAndDownload) {
    EXPECT_EQ(call(server->port(), "POST", "/v1/client/" + id, "{}", {{"Authorization", "Bearer 0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9"}}).status, 401);
    auto mt = enroll(id);
    auto u = call(server->port(), "POST", "/v1/client/" + id + "/updates", report, {{"Authorization", "Bearer " + mt}});
    ASSERT_EQ(u.status, 200) << u.body;
    EXPECT_NE(u.body.find("\"sha256\""), std::string::npos);
    EXPECT_FALSE(u.etag.empty());
    auto again = call(server->port(), "POST", "/v1/client/" + id + "/updates", report,
                      {{"Authorization", "Bearer " + mt}, {"If-None-Match", u.etag}});
    EXPECT_EQ(again.status, 304);
    EXPECT_EQ(again.reason, "Not Modified");  // not Poco's default "OK" for every status
    EXPECT_TRUE(again.body.empty());
    EXPECT_EQ(call(server->port(), "POST", "/v1/client/" + id + "/updates", report, {{"Authorization", "Bearer nope"}}).status, 401);
    auto d = call(server->port(), "GET", "/v1/patches/lp_a-1.tar.xz");
    EXPECT_EQ(d.status, 200);
    EXPECT_EQ(d.body, "pretend tarball");
    auto r = call(server->port(), "GET", "/v1/patches/lp_a-1.tar.xz", "", {{"Range", "bytes=8-"}});
    EXPECT_EQ(r.status, 206);
    EXPECT_EQ(r.reason, "Partial Content");
    EXPECT_EQ(r.body, "tarball");
    auto missing = call(server->port(), "GET", "/v1/patches/lp_nope-1.tar.xz");
    EXPECT_EQ(missing.status, 404);
    EXPECT_EQ(missing.reason, "Not Found");
}

TEST_F(ServerTest, RegistrationsSurviveRestart) {
    auto mt = enroll(id);
    server.reset();
    start();
    EXPECT_EQ(call(server->port(), "POST", "/v1/client/" + id + "/updates", report, {{"Authorization", "Bearer " + mt}}).status, 200);
    std::ifstream state(dir / "state.json");
    std::string text((std::istreambuf_iterator<char>(state)), std::istreambuf_iterator<char>());
    EXPECT_EQ(text.find(mt), std::string::npos) << "machine tokens are stored hashed";
    EXPECT_EQ(fsys::status(dir / "state.json").permissions() & fsys::perms::others_read, fsys::perms::none);
}

TEST_F(ServerTest, RequestSizeIsBounded) {
    auto mt = enroll(id);
    auto big = call(server->port(), "POST", "/v1/client/" + id + "/updates", std::string(5000, ' '), {{"Authorization", "Bearer " + mt}});
    EXPECT_EQ(big.status, 413);
}

TEST_F(ServerTest, FaultSwitchesAreObservable) {
    auto mt = enroll(id);
    auto set = [&](const std::string& f) {
        EXPECT_EQ(call(server->port(), "POST", "/admin/faults", "{\"fault\":\"" + f + "\"}", {}, "s3cret").status, 200);
    };
    set("html-5xx");
    auto h = call(server->port(), "POST", "/v1/client/" + id + "/updates", report, {{"Authorization", "Bearer " + mt}});
    EXPECT_EQ(h.status, 502);
    EXPECT_NE(h.body.find("<html>"), std::string::npos);
    set("none");
    set("wrong-content-type");
    EXPECT_EQ(call(server->port(), "POST", "/v1/client/" + id + "/updates", report, {{"Authorization", "Bearer " + mt}}).contentType, "text/html");
    set("none");
    set("wrong-checksum");
    auto w = call(server->port(), "POST", "/v1/client/" + id + "/updates", report, {{"Authorization", "Bearer " + mt}});
    auto good = lpserver::fileDigest((dir / "patches/lp_a-1.tar.xz").string())->first;
    EXPECT_EQ(w.body.find(good), std::string::npos);
    set("none");
    set("retry-after=7");
    auto ra = call(server->port(), "POST", "/v1/client/" + id + "/updates", report, {{"Authorization", "Bearer " + mt}});
    EXPECT_EQ(ra.status, 503);
    EXPECT_EQ(call(server->port(), "POST", "/v1/client/" + id + "/updates", report, {{"Authorization", "Bearer " + mt}}).status, 200);
    set("redirect-http");
    EXPECT_EQ(call(server->port(), "GET", "/v1/patches/lp_a-1.tar.xz").status, 302);
    EXPECT_EQ(call(server->port(), "POST", "/admin/faults", "{\"fault\":\"bogus\"}", {}, "s3cret").status, 400);
}

TEST_F(ServerTest, AdminUploadsPatchesWithValidatedNames) {
    // "new patch" base64 -> bmV3IHBhdGNo
    EXPECT_EQ(call(server->port(), "POST", "/admin/patches", R"({"file":"lp_b-1.tar.xz","content-base64":"bmV3IHBhdGNo"})", {}, "s3cret").status, 201);
    std::ifstream in(dir / "patches/lp_b-1.tar.xz");
    std::string got((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    EXPECT_EQ(got, "new patch");
    EXPECT_EQ(call(server->port(), "POST", "/admin/patches", R"({"file":"../evil","content-base64":"eA=="})", {}, "s3cret").status, 400);
    EXPECT_EQ(call(server->port(), "POST", "/admin/patches", R"({"file":"x.tar.xz","content-base64":"eA=="})", {}, "nope").status, 401);
    EXPECT_FALSE(fsys::exists(dir / "x.tar.xz"));
}

TEST_F(ServerTest, KernelsSupportedNeedsNoAuth) {
    auto r = call(server->port(), "GET", "/v1/api/kernels/supported?kernel-version=5.15.0-100.110&flavour=generic&architecture=x86_64&codename=jammy");
    EXPECT_EQ(r.status, 200);
    EXPECT_NE(r.body.find("\"supported\":\"supported\""), std::string::npos);
}

TEST_F(ServerTest, ResourceTokenExpiryIsAnInstantNotAString) {
    // Offsets must be honoured: a past instant written with +08:00 reads
    // "later" than now as text, a future one with -08:00 reads "earlier".
    auto mint = [&](const std::string& expires) {
        auto t = call(server->port(), "POST", "/admin/resource-tokens", "{\"tier\":\"stable\",\"expires\":\"" + expires + "\"}", {},
                      "s3cret");
        EXPECT_EQ(t.status, 201) << t.body;
        return Poco::JSON::Parser().parse(t.body).extract<Poco::JSON::Object::Ptr>()->getValue<std::string>("token");
    };
    auto inZone = [](std::chrono::system_clock::time_point t, int hours) {
        std::time_t tt = std::chrono::system_clock::to_time_t(t + std::chrono::hours(hours));
        std::tm tm{};
        ::gmtime_r(&tt, &tm);
        char buf[40];
        std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
        char off[8];
        std::snprintf(off, sizeof off, "%c%02d:00", hours < 0 ? '-' : '+', std::abs(hours));
        return std::string(buf) + off;
    };
    const auto now = std::chrono::system_clock::now();
    auto reg = [&](const std::string& token) {
        return call(server->port(), "POST", "/v1/client/" + id, "{\"kernel\":\"k\",\"architecture\":\"x86_64\"}",
                    {{"Authorization", "Macaroon " + token}}).status;
    };
    EXPECT_EQ(reg(mint(inZone(now - std::chrono::hours(1), 8))), 401) << "expired an hour ago";
    EXPECT_EQ(reg(mint(inZone(now + std::chrono::hours(1), -8))), 200) << "valid for another hour";
    auto bad = call(server->port(), "POST", "/admin/resource-tokens", "{\"tier\":\"stable\",\"expires\":\"tomorrow\"}", {}, "s3cret");
    EXPECT_EQ(bad.status, 400);
}
