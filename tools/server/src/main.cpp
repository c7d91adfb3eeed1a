// livepatch-server: the reference patch server. See tools/server/README.md.
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <iostream>

#include "server.h"

namespace {
const char* kUsage =
    "livepatch-server --data-dir DIR [--listen HOST:PORT] (--tls-cert PEM --tls-key PEM | --plain)\n"
    "                 [--port-file FILE] [--record-dir DIR] [--fault NAME[=VALUE]]... [--tls-max-version 1.1]\n"
    "                 [--max-request-bytes N] [--database sqlite:PATH | postgresql://USER[:PW]@HOST:PORT/DB]\n"
    "                 [--patch-store filesystem|database] [--catalogue FILE]\n"
    "                 [--catalogue-store file|database]\n"
    "                 [--threads N] [--database-connections N] [--flush-interval MS] [--auto-promote-interval MS (0: "
    "off)]\n"
    "                 [--upstream URL --sync-token-file FILE [--upstream-ca-file PEM] [--sync-interval SECONDS (0: on "
    "demand)]\n"
    "                  [--sync-filter kernels=K1,K2,...,architectures=A1,...,flavours=F1,...]\n"
    "                  [--upstream-trust-root ROOT.JSON (mirror only what the upstream's signed catalogue lists)]]\n"
    "                 [--tuf-repo DIR [--tuf-online-keys DIR] [--tuf-resign-interval MS]]\n"
    "                 [--admin-sso-hook PATH [--admin-sso-timeout SECONDS (1-300, default 10)]]\n"
    "livepatch-server hash-password        (reads a password on stdin, prints an argon2id hash)\n";
}

int main(int argc, char** argv) {
    lpserver::ServerOptions opt;
    std::string portFile;
    if (argc >= 2 && std::strcmp(argv[1], "hash-password") == 0) {
        std::string pw;
        std::getline(std::cin, pw);
        std::cout << lpserver::hashAdminPassword(pw) << "\n";
        return 0;
    }
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        try {
            auto next = [&]() -> std::string {
                if (i + 1 >= argc) {
                    std::cerr << "missing value for " << a << "\n" << kUsage;
                    std::exit(2);
                }
                return argv[++i];
            };
            if (a == "--data-dir") opt.dataDir = next();
            else if (a == "--listen") {
                std::string v = next();
                auto colon = v.rfind(':');
                opt.host = v.substr(0, colon);
                opt.port = static_cast<unsigned short>(std::stoi(v.substr(colon + 1)));
            } else if (a == "--tls-cert") opt.tlsCert = next();
            else if (a == "--tls-key") opt.tlsKey = next();
            else if (a == "--plain") opt.plain = true;
            else if (a == "--port-file") portFile = next();
            else if (a == "--record-dir") opt.recordDir = next();
            else if (a == "--tls-max-version") opt.tlsMaxVersion = next();
            else if (a == "--max-request-bytes") opt.maxRequestBytes = std::stoul(next());
            else if (a == "--database") opt.database = next();
            else if (a == "--patch-store") {
                auto kind = lpserver::parsePatchStoreKind(next());
                if (!kind) {
                    std::cerr << kind.error().message() << "\n";
                    return 2;
                }
                opt.patchStore = *kind;
            } else if (a == "--catalogue-store") {
                auto kind = lpserver::parseCatalogueStoreKind(next());
                if (!kind) {
                    std::cerr << kind.error().message() << "\n";
                    return 2;
                }
                opt.catalogueStore = *kind;
            } else if (a == "--catalogue") opt.catalogue = next();
            else if (a == "--threads") opt.threads = std::max(1ul, std::stoul(next()));
            else if (a == "--database-connections") opt.databaseConnections = std::max(1ul, std::stoul(next()));
            else if (a == "--flush-interval") opt.flushInterval = std::chrono::milliseconds(std::stoul(next()));
            else if (a == "--auto-promote-interval")
                opt.autoPromoteInterval = std::chrono::milliseconds(std::stoul(next()));
            else if (a == "--upstream") opt.sync.upstream = next();
            else if (a == "--sync-token-file") opt.sync.tokenFile = next();
            else if (a == "--upstream-ca-file") opt.sync.caFile = next();
            else if (a == "--upstream-trust-root") opt.sync.trustRoot = next();
            else if (a == "--sync-interval") opt.sync.interval = std::chrono::seconds(std::stoul(next()));
            else if (a == "--sync-filter") {
                auto s = lpserver::parseSyncFilter(next(), opt.sync);
                if (!s) {
                    std::cerr << s.error().message() << "\n";
                    return 2;
                }
            } else if (a == "--tuf-repo") opt.tufRepo = next();
            else if (a == "--tuf-online-keys") opt.tufOnlineKeys = next();
            else if (a == "--tuf-resign-interval")
                opt.tufResignInterval = std::chrono::milliseconds(std::max(1000ul, std::stoul(next())));
            else if (a == "--admin-sso-hook") opt.adminSsoHook = next();
            else if (a == "--admin-sso-timeout")
                opt.adminSsoTimeout = std::chrono::seconds(std::clamp(std::stoul(next()), 1ul, 300ul));
            else if (a == "--fault") {
                auto s = lpserver::applyFault(opt.faults, next());
                if (!s) {
                    std::cerr << s.error().message() << "\n";
                    return 2;
                }
            } else {
                std::cerr << kUsage;
                return a == "--help" ? 0 : 2;
            }
        } catch (const std::logic_error&) {  // std::stoul and friends
            std::cerr << "invalid value for " << a << ": \"" << argv[i] << "\"\n";
            return 2;
        }
    }
    if (opt.dataDir.empty() || (!opt.plain && (opt.tlsCert.empty() || opt.tlsKey.empty())) ||
        (!opt.tufOnlineKeys.empty() && opt.tufRepo.empty())) {
        std::cerr << kUsage;
        return 2;
    }
    if (!opt.sync.trustRoot.empty() && opt.sync.upstream.empty()) {
        std::cerr << "--upstream-trust-root needs --upstream\n" << kUsage;
        return 2;
    }
    if (!opt.sync.trustRoot.empty()) {  // a wrong file is said now, not at the first sync
        auto s = lpserver::readSyncTrustRoot(opt.sync.trustRoot);
        if (!s) {
            std::cerr << s.error().message() << "\n";
            return 2;
        }
    }
    if (!opt.sync.upstream.empty() && opt.sync.tokenFile.empty()) {
        std::cerr << "--upstream needs --sync-token-file\n" << kUsage;
        return 2;
    }
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
    lpserver::Server server(opt);
    auto s = server.start();
    if (!s) {
        std::cerr << s.error().message() << "\n";
        return 1;
    }
    std::cout << "listening on " << server.baseUrl() << std::endl;
    if (!portFile.empty()) {
        std::ofstream tmp(portFile + ".tmp");
        tmp << server.port() << "\n";
        tmp.close();
        std::rename((portFile + ".tmp").c_str(), portFile.c_str());
    }
    int sig = 0;
    sigwait(&set, &sig);
    server.stop();
    return 0;
}
