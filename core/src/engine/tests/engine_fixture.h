// The fixture of the engine tests: the Engine driven end to end with the
// SDK's fake role plugins (livepatch/testing/plugins.h) registered in a real
// PluginHost: real state files, real tarballs, real unpacking and SHA-256, a
// fake server behind the fake transport, a fake kernel and a fake verifier.
// Shared by engine_lifecycle_test.cpp and engine_signed_catalogue_test.cpp.
#pragma once
#include <archive.h>
#include <archive_entry.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <Poco/JSON/Array.h>
#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <sstream>

#include "crypto/sha256.h"
#include "engine/engine.h"
#include "livepatch/testing/fakes.h"
#include "livepatch/testing/files.h"
#include "livepatch/testing/module_image.h"
#include "livepatch/testing/plugins.h"
#include "state/state_file.h"
#include "util/timeutil.h"

using namespace livepatch;
using namespace std::chrono_literals;
namespace fsys = std::filesystem;

namespace {

const std::string kKernel = "5.15.0-100.110-generic";
const std::string kRelease = "5.15.0-100-generic";  // the fake kernel's uname -r

// A module as livepatch-pack makes them: .modinfo with livepatch=Y, the
// name, this kernel's vermagic and the version; "SIGNED" for the fake verifier.
std::string signedModule(const std::string& name, const std::string& version, const std::string& release = kRelease) {
    return livepatch::testing::makeModuleImage(livepatch::testing::livepatchModinfo(name, version, release)) + "SIGNED";
}
const std::string kToken = "good-0123456789-secret";
const std::string kMachineToken = "mt-secret-xyz";

std::string tarball(const std::string& name, const std::string& version, const std::string& module,
                    const std::string& kernel = kKernel) {
    std::ostringstream md;
    md << R"({"format":1,"name":")" << name << R"(","version":")" << version << R"(","module":")" << name
       << R"(.ko","kernel":")" << kernel << R"(","architecture":"x86_64","replace":true,)"
       << R"("fixes":[{"name":"cve-2024-)" << version << R"(","description":"d","bug":"b","patched":true}]})";
    std::vector<std::pair<std::string, std::string>> files = {{"livepatch.json", md.str()}, {name + ".ko", module}};
    std::string out(1 << 20, '\0');
    size_t used = 0;
    archive* a = archive_write_new();
    archive_write_set_format_pax_restricted(a);
    archive_write_add_filter_gzip(a);
    archive_write_open_memory(a, out.data(), out.size(), &used);
    for (const auto& f : files) {
        archive_entry* e = archive_entry_new();
        archive_entry_set_pathname(e, f.first.c_str());
        archive_entry_set_size(e, static_cast<la_int64_t>(f.second.size()));
        archive_entry_set_filetype(e, AE_IFREG);
        archive_entry_set_perm(e, 0644);
        archive_write_header(a, e);
        archive_write_data(a, f.second.data(), f.second.size());
        archive_entry_free(e);
    }
    archive_write_close(a);
    archive_write_free(a);
    out.resize(used);
    return out;
}

struct Offer {
    std::string name = "lp_test";
    std::string version;
    std::string bytes;   // tarball served
    std::string sha256;  // announced ("" = correct)
    std::string published = "2026-01-01T00:00:00Z";
};

// The server behind the fake transport: answers register/updates/deregister
// like the reference server and serves the offered tarballs. The transport
// records every request.
class FakeServer {
public:
    explicit FakeServer(livepatch::testing::FakeTransport& transport)
        : requests(transport.requests), transport_(transport) {
        transport.onSend = [this](const HttpRequest& r, const CancelToken*) { return send(r); };
        transport.onDownload = [this](const DownloadRequest& r, const ProgressCallback& progress,
                                      const CancelToken* cancel) { return download(r, progress, cancel); };
    }

    Result<HttpResponse> send(const HttpRequest& r) {
        if (down) return Error(ErrorCode::Network, "connection refused");
        HttpResponse resp;
        resp.headers = {{"Content-Type", "application/json"}};
        if (r.method == "DELETE") {
            resp.status = 204;
        } else if (r.url.size() > 8 && r.url.compare(r.url.size() - 8, 8, "/updates") == 0) {
            if (htmlError) {
                resp.status = 502;
                resp.headers = {{"Content-Type", "text/html"}};
                resp.body = "<html><body>Bad gateway from the proxy</body></html>";
                return resp;
            }
            // Like the reference server: the ETag names the catalogue, and
            // a matching If-None-Match is answered 304.
            const std::string etag = "\"" + sha256Hex(updatesBody()).substr(0, 16) + "\"";
            if (findHeader(r.headers, "If-None-Match") == etag) {
                resp.status = 304;
                return resp;
            }
            resp.status = 200;
            resp.body = updatesBody();
            resp.headers.emplace_back("ETag", etag);
        } else {
            if (findHeader(r.headers, "Authorization") != "Bearer " + kToken) {
                resp.status = 401;
                resp.body = R"({"error":"unauthorized","message":"bad token"})";
                return resp;
            }
            resp.status = 200;
            resp.body = R"({"machine-token":")" + kMachineToken + R"(","tier":"stable"})";
        }
        return resp;
    }

    Result<DownloadResult> download(const DownloadRequest& r, const ProgressCallback& progress,
                                    const CancelToken* cancel) {
        if (onDownload) onDownload();
        if (cancelDuringDownload && cancel) const_cast<CancelToken*>(cancel)->cancel();
        for (const auto& o : offers)
            if (r.url == "https://srv.test/v1/patches/" + o.name + "-" + o.version + ".tar.gz") {
                std::ofstream(r.destinationPath, std::ios::binary) << o.bytes;
                if (progress) progress(o.bytes.size(), o.bytes.size());
                if (cancel && cancel->cancelled()) return Error(ErrorCode::Cancelled, "cancelled");
                return DownloadResult{o.bytes.size(), r.url};
            }
        return Error(ErrorCode::HttpStatus, "HTTP 404 from " + r.url + ": Not Found");
    }

    std::string updatesBody() const {
        Poco::JSON::Object o;
        o.set("supported", supported);
        o.set("tier", "stable");
        Poco::JSON::Array::Ptr arr(new Poco::JSON::Array);
        for (const auto& off : offers) {
            Poco::JSON::Object::Ptr p(new Poco::JSON::Object);
            p->set("version", off.version);
            p->set("name", off.name);
            p->set("filename", off.name + "-" + off.version + ".tar.gz");
            p->set("url", "/v1/patches/" + off.name + "-" + off.version + ".tar.gz");
            p->set("sha256", off.sha256.empty() ? sha256Hex(off.bytes) : off.sha256);
            p->set("size", off.bytes.size());
            p->set("published", off.published);
            p->set("replace", true);
            arr->add(p);
        }
        o.set("patches", arr);
        std::ostringstream out;
        o.stringify(out);
        return out.str();
    }

    // The last updates request body, parsed.
    Poco::JSON::Object::Ptr lastReport() const {
        for (auto it = requests.rbegin(); it != requests.rend(); ++it)
            if (it->url.find("/updates") != std::string::npos) {
                Poco::JSON::Parser p;
                return p.parse(it->body).extract<Poco::JSON::Object::Ptr>();
            }
        return nullptr;
    }
    size_t count(const std::string& method) const { return transport_.count(method); }

    std::vector<Offer> offers;
    std::string supported = "supported";
    bool down = false;
    bool htmlError = false;
    bool cancelDuringDownload = false;
    std::function<void()> onDownload;
    std::vector<HttpRequest>& requests;  // as the transport recorded them

private:
    livepatch::testing::FakeTransport& transport_;
};

class EngineTest : public ::testing::Test {
protected:
    void SetUp() override {
        root = livepatch::testing::freshTestDir("lpengine");
        paths.stateDir = (root / "state").string();
        paths.cacheDir = (root / "cache").string();
        paths.runDir = (root / "run").string();
        paths.hostRoot = (root / "host").string();
        ASSERT_TRUE(paths.ensure());
        fsys::create_directories(root / "host/etc");
        fsys::create_directories(root / "host/proc");
        std::ofstream(root / "host/etc/machine-id") << "00112233445566778899aabbccddeeff\n";
        setUptime(86400);  // booted a day ago
        clock.setWall(*timeutil::parseRfc3339("2026-06-01T12:00:00Z"));
        Config::setNowForTesting([this] { return clock.now(); });
        ASSERT_TRUE(config.apply({"remote-server=https://srv.test", "loader=fake-loader", "verifiers=fake-verify"}));
        makeEngine();
    }
    void TearDown() override {
        Config::setNowForTesting(nullptr);
        fsys::remove_all(root);
    }
    void makeEngine() {
        EngineDeps deps;
        deps.paths = paths;
        deps.config = &config;
        deps.host = &host;
        deps.clock = &clock;
        deps.logger = &logger;
        engine = std::make_unique<Engine>(deps);
    }
    void setUptime(long long seconds) {
        std::ofstream(root / "host/proc/uptime", std::ios::trunc) << seconds << ".00 1.00\n";
    }
    Offer offer(const std::string& version, const std::string& module = "") {
        Offer o;
        o.version = version;
        o.bytes = tarball(o.name, version, module.empty() ? signedModule(o.name, version) : module);
        return o;
    }
    AgentState state() {
        auto s = engine->loadState();
        EXPECT_TRUE(s) << (s ? "" : s.error().message());
        return s ? *s : AgentState{};
    }
    // Enable, offer version 1 and run a cycle that must end cancelled (the
    // test has told a fake where the cancel happens).
    void enableAndCycleCancelled() {
        ASSERT_TRUE(engine->enable(kToken));
        server.offers = {offer("1")};
        CancelToken cancel;
        auto r = engine->runCycle(nullptr, &cancel);
        ASSERT_FALSE(r);
        EXPECT_EQ(r.error().code(), ErrorCode::Cancelled);
    }
    void enableAndApply(const std::string& version) {
        server.offers = {offer(version)};
        ASSERT_TRUE(engine->enable(kToken));
        auto r = engine->runCycle(nullptr, nullptr);
        ASSERT_TRUE(r) << r.error().message();
        ASSERT_TRUE(r->applied);
    }
    // A reboot into the same kernel, `uptime` seconds ago.
    void reboot(long long uptime) {
        loader.loaded.clear();
        loader.bootId = "boot-" + std::to_string(++boots);
        setUptime(uptime);
    }

    fsys::path root;
    Paths paths;
    Config config;
    livepatch::testing::ManualClock clock;
    livepatch::testing::CapturingLogger logger;
    // Registered as the agent registers every plugin; the references stay
    // valid as long as the host.
    template <typename P>
    P& adopt(std::unique_ptr<P> plugin) {
        P& ref = *plugin;
        auto added = host.add(std::move(plugin), "in-process");
        EXPECT_TRUE(added) << (added ? "" : added.error().message());
        return ref;
    }
    PluginHost host{PluginHost::Options{}};
    livepatch::testing::FakeTransport& transport = adopt(std::make_unique<livepatch::testing::FakeTransport>());
    livepatch::testing::FakeAuth& auth = adopt(std::make_unique<livepatch::testing::FakeAuth>());
    livepatch::testing::FakeVerifier& verifier =
        adopt(std::make_unique<livepatch::testing::FakeVerifier>("fake-verify"));
    livepatch::testing::FakeVerifier& verifier2 =
        adopt(std::make_unique<livepatch::testing::FakeVerifier>("second-verify"));
    livepatch::testing::FakeKernel& loader = adopt(std::make_unique<livepatch::testing::FakeKernel>(kRelease, kKernel));
    FakeServer server{transport};
    std::unique_ptr<Engine> engine;
    int boots = 1;
};

}  // namespace
