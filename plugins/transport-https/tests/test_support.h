// Test helpers for transport-https: a scripted HTTP server on 127.0.0.1,
// a test PKI made by the openssl CLI at test time, a real tinyproxy.
#pragma once

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <Poco/Net/HTTPRequestHandler.h>
#include <Poco/Net/HTTPRequestHandlerFactory.h>
#include <Poco/Net/HTTPServer.h>
#include <Poco/Net/HTTPServerParams.h>
#include <Poco/Net/HTTPServerRequest.h>
#include <Poco/Net/HTTPServerResponse.h>
#include <Poco/Net/ServerSocket.h>
#include <Poco/Net/StreamSocket.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>
#include "https_transport.h"
#include "livepatch/testing/fakes.h"
#include "livepatch/testing/files.h"

namespace lptest {

namespace fsys = std::filesystem;

// The transport as the agent hands it to a cycle: its declared defaults
// under the values a test put in cfg, a manual clock, a capturing logger,
// no proxy environment. Each test's environment derives from it.
struct TransportUnderTest {
    livepatch::testing::MapConfigView cfg;
    livepatch::testing::ManualClock clock;
    livepatch::testing::CapturingLogger log;
    livepatch::PluginContext ctx;
    livepatch::plugins::HttpsTransport t;
    // Call after the test's cfg.set(...).
    void wireLikeTheAgent() {
        cfg.declare(t.configKeys());
        ctx.config = &cfg;
        ctx.clock = &clock;
        ctx.logger = &log;
        t.setEnvironment({});
    }
};
using livepatch::testing::readWholeFile;

// TLS handshakes (full or resumed) the transport logged: a kept connection adds none.
inline int tlsHandshakes(const livepatch::testing::CapturingLogger& log) {
    int n = 0;
    for (const auto& line : log.lines())
        if (line.second.find("TLS handshake with") != std::string::npos ||
            line.second.find("TLS session resumed with") != std::string::npos)
            ++n;
    return n;
}

inline std::string run(const std::string& cmd) {
    std::string out;
    FILE* f = ::popen(cmd.c_str(), "r");
    if (!f) return out;
    char buf[4096];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
    ::pclose(f);
    while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
    return out;
}

// One handler for every request; records what it saw.
class ScriptedServer {
public:
    struct Seen {
        std::string method, uri, authorization, range;
    };
    using Handler = std::function<void(Poco::Net::HTTPServerRequest&, Poco::Net::HTTPServerResponse&, int index)>;

    // keepAliveMs > 0: connections stay open for further requests until idle that long.
    explicit ScriptedServer(Handler h, int keepAliveMs = 0) : handler_(std::move(h)) {
        socket_ = std::make_unique<Poco::Net::ServerSocket>(Poco::Net::SocketAddress("127.0.0.1", 0));
        auto* params = new Poco::Net::HTTPServerParams;
        params->setKeepAlive(keepAliveMs > 0);
        if (keepAliveMs > 0) params->setKeepAliveTimeout(Poco::Timespan(0, keepAliveMs * 1000));
        params->setMaxThreads(4);
        server_ = std::make_unique<Poco::Net::HTTPServer>(new Factory(this), *socket_, params);
        server_->start();
    }
    ~ScriptedServer() { server_->stopAll(true); }
    std::string base() const { return "http://127.0.0.1:" + std::to_string(socket_->address().port()); }
    int connections() const { return server_->totalConnections(); }  // accepted so far
    std::vector<Seen> seen() const {
        std::lock_guard<std::mutex> l(mu_);
        return seen_;
    }

private:
    struct H : Poco::Net::HTTPRequestHandler {
        explicit H(ScriptedServer* s) : s(s) {}
        void handleRequest(Poco::Net::HTTPServerRequest& req, Poco::Net::HTTPServerResponse& resp) override {
            int index;
            {
                std::lock_guard<std::mutex> l(s->mu_);
                index = static_cast<int>(s->seen_.size());
                s->seen_.push_back({req.getMethod(), req.getURI(), req.get("Authorization", ""), req.get("Range", "")});
            }
            std::string ignored;
            std::getline(req.stream(), ignored, '\0');
            s->handler_(req, resp, index);
        }
        ScriptedServer* s;
    };
    struct Factory : Poco::Net::HTTPRequestHandlerFactory {
        explicit Factory(ScriptedServer* s) : s(s) {}
        Poco::Net::HTTPRequestHandler* createRequestHandler(const Poco::Net::HTTPServerRequest&) override {
            return new H(s);
        }
        ScriptedServer* s;
    };
    Handler handler_;
    mutable std::mutex mu_;
    std::vector<Seen> seen_;
    std::unique_ptr<Poco::Net::ServerSocket> socket_;
    std::unique_ptr<Poco::Net::HTTPServer> server_;
};

// Test PKI from tools/server/make-test-certs.sh (openssl CLI): ca, server,
// expired (validity in the past, via `openssl ca -startdate/-enddate`),
// wronghost, untrusted (other CA). Made once per test binary.
inline const fsys::path& pki() {
    static fsys::path dir = [] {
        fsys::path d = fsys::temp_directory_path() / ("lph4-pki-" + std::to_string(::getpid()));
        fsys::remove_all(d);
        const std::string cmd =
            std::string(LIVEPATCH_SOURCE_DIR) + "/tools/server/make-test-certs.sh " + d.string() + " >/dev/null 2>&1";
        if (std::system(cmd.c_str()) != 0) ADD_FAILURE() << "make-test-certs.sh failed";
        return d;
    }();
    return dir;
}

// base64(SHA-256(SubjectPublicKeyInfo DER)) of a PEM certificate, by the CLI.
inline std::string spkiPinOf(const fsys::path& pem) {
    return run("openssl x509 -in " + pem.string() +
               " -pubkey -noout | openssl pkey -pubin -outform DER | openssl dgst -sha256 -binary | base64");
}

inline unsigned short freePort() {
    Poco::Net::ServerSocket s(Poco::Net::SocketAddress("127.0.0.1", 0));
    return s.address().port();
}

inline bool waitForPort(unsigned short port) {
    for (int i = 0; i < 100; ++i) {
        try {
            Poco::Net::StreamSocket s;
            s.connect(Poco::Net::SocketAddress("127.0.0.1", port), Poco::Timespan(0, 200000));
            return true;
        } catch (...) {
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
    }
    return false;
}

// A real tinyproxy on loopback with Basic auth, started and stopped by pid.
class Tinyproxy {
public:
    Tinyproxy(const std::string& user, const std::string& password) {
        dir_ = fsys::temp_directory_path() /
               ("lph4-proxy-" + std::to_string(::getpid()) + "-" + std::to_string(++counter()));
        fsys::create_directories(dir_);
        port_ = freePort();
        std::ofstream(dir_ / "tinyproxy.conf")
            << "Port " << port_ << "\nListen 127.0.0.1\nTimeout 30\nMaxClients 10\n"
            << "LogLevel Info\nLogFile \"" << (dir_ / "tinyproxy.log").string() << "\"\n"
            << "BasicAuth " << user << " " << password << "\nAllow 127.0.0.1\n";
        pid_ = ::fork();
        if (pid_ == 0) {
            const std::string conf = (dir_ / "tinyproxy.conf").string();
            ::execlp("tinyproxy", "tinyproxy", "-d", "-c", conf.c_str(), static_cast<char*>(nullptr));
            ::_exit(127);
        }
        ok_ = pid_ > 0 && waitForPort(port_);
    }
    ~Tinyproxy() {
        stop();
        fsys::remove_all(dir_);
    }
    void stop() {
        if (pid_ > 0) {
            ::kill(pid_, SIGTERM);
            ::waitpid(pid_, nullptr, 0);
            pid_ = -1;
        }
    }
    bool ok() const { return ok_; }
    unsigned short port() const { return port_; }
    std::string log() const { return readWholeFile(dir_ / "tinyproxy.log"); }

private:
    static int& counter() {
        static int c = 0;
        return c;
    }
    fsys::path dir_;
    unsigned short port_ = 0;
    pid_t pid_ = -1;
    bool ok_ = false;
};

inline bool haveTinyproxy() { return std::system("command -v tinyproxy >/dev/null 2>&1") == 0; }

}  // namespace lptest
