// The reference server on a temp data dir (SQLite, or PostgreSQL under
// with-postgres.sh), and a one-call HTTP client, for the server's test files.
#pragma once

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <macaroons.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>
#include <Poco/Net/HTTPBasicCredentials.h>
#include <Poco/Net/HTTPClientSession.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>

#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "catalogue.h"
#include "crypto/sha256.h"
#include "livepatch/testing/files.h"
#include "server.h"
#include "store.h"
#include "util/fs.h"

namespace fsys = std::filesystem;
using namespace lpserver;

namespace {

// A catalogue file as the server parses it (the one parser).
livepatch::Result<Catalogue> catalogueFile(const std::string& path) {
    auto text = livepatch::fs::readFile(path);
    if (!text) return text.error();
    return parseCatalogue(*text, path);
}
livepatch::Result<std::vector<CatalogueKernel>> loadCatalogue(const std::string& path) {
    auto c = catalogueFile(path);
    if (!c) return c.error();
    return c->kernels;
}
livepatch::Result<std::vector<std::string>> catalogueTiers(const std::string& path) {
    auto c = catalogueFile(path);
    if (!c) return c.error();
    return c->tierNames();
}

// What a shell command prints on stdout (it must succeed).
std::string run(const std::string& cmd) {
    std::string out;
    FILE* p = ::popen(cmd.c_str(), "r");
    if (!p) return out;
    char buf[512];
    while (size_t n = fread(buf, 1, sizeof buf, p)) out.append(buf, n);
    EXPECT_EQ(::pclose(p), 0) << cmd;
    return out;
}

struct Reply {
    int status;
    std::string body, etag, contentType, reason, retryAfter;
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
    return {resp.getStatus(),           out, resp.get("ETag", ""), resp.getContentType(), resp.getReason(),
            resp.get("Retry-After", "")};
}

class ServerTest : public ::testing::Test {
protected:
    void SetUp() override {
        dir = livepatch::testing::freshTestDir("lpserver", {"patches"});
        std::ofstream(dir / "patches/lp_a-1.tar.xz") << "pretend tarball";
        std::ofstream(dir / "catalogue.yaml")
            << "kernels:\n"
               "  - kernel: 5.15.0-100.110-generic\n"
               "    architecture: x86_64\n"
               "    supported: supported\n"
               "    patches:\n"
               "      - {file: lp_a-1.tar.xz, name: lp_a, version: \"1\", published: 2026-01-01T00:00:00Z,\n"
               "         fixes: [{name: cve-2023-1, description: d, bug: b, patched: true}]}\n";
        std::ofstream(dir / "admin-password") << hashAdminPassword("s3cret") << "\n";
        std::ofstream(dir / "macaroon-key") << "server-test-macaroon-root-key-0123456789";
        if (onPostgres()) freshPostgresDatabase();
        start();
    }
    // Under tools/server/tests/with-postgres.sh every test runs on its own
    // PostgreSQL database; otherwise on SQLite in the data dir.
    static bool onPostgres() { return std::getenv("LP_TEST_POSTGRES_URL") != nullptr; }
    std::string databaseName() const {
        std::string n = "t_";
        for (char c : std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()))
            n += static_cast<char>(std::tolower(c));
        return n;
    }
    void freshPostgresDatabase() {
        const std::string psql = std::getenv("LP_TEST_POSTGRES_PSQL");
        ASSERT_EQ(std::system((psql + " -q -d postgres -c 'DROP DATABASE IF EXISTS " + databaseName() +
                               "' -c 'CREATE DATABASE " + databaseName() + "' > /dev/null")
                                  .c_str()),
                  0);
    }
    ServerOptions options() const {
        ServerOptions o;
        o.dataDir = dir.string();
        o.plain = true;
        if (onPostgres()) o.database = std::string(std::getenv("LP_TEST_POSTGRES_URL")) + databaseName();
        return o;
    }
    void start(Faults f = {}) {
        ServerOptions o = options();
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
        return Poco::JSON::Parser().parse(r.body).extract<Poco::JSON::Object::Ptr>()->getValue<std::string>(
            "machine-token");
    }
    std::string mintResourceToken(const std::string& tier) {
        auto t = call(server->port(), "POST", "/admin/resource-tokens", "{\"tier\":\"" + tier + "\"}", {}, "s3cret");
        EXPECT_EQ(t.status, 201) << t.body;
        return Poco::JSON::Parser().parse(t.body).extract<Poco::JSON::Object::Ptr>()->getValue<std::string>("token");
    }
    int registerWith(const std::string& machine, const std::string& authorization) {
        return call(server->port(), "POST", "/v1/client/" + machine, "{\"kernel\":\"k\",\"architecture\":\"x86_64\"}",
                    {{"Authorization", authorization}})
            .status;
    }
    int checkIn(const std::string& machine, const std::string& authorization) {
        return call(server->port(), "POST", "/v1/client/" + machine + "/updates", report,
                    {{"Authorization", authorization}})
            .status;
    }
    fsys::path dir;
    std::unique_ptr<Server> server;
    const std::string id = "0123456789abcdef0123456789abcdef";
    const std::string report = "{\"kernel\":\"5.15.0-100.110-generic\",\"architecture\":\"x86_64\"}";
};

}  // namespace
