#include "server.h"

#include <argon2.h>
#include <macaroons.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>

#include <Poco/Base64Decoder.h>
#include <Poco/JSON/Array.h>
#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>
#include <Poco/Net/Context.h>
#include <Poco/Net/HTTPRequestHandler.h>
#include <Poco/Net/HTTPRequestHandlerFactory.h>
#include <Poco/Net/HTTPServer.h>
#include <Poco/Net/HTTPServerParams.h>
#include <Poco/Net/HTTPServerRequest.h>
#include <Poco/Net/HTTPServerResponse.h>
#include <Poco/Net/SecureServerSocket.h>
#include <Poco/Net/ServerSocket.h>
#include <Poco/StreamCopier.h>
#include <Poco/URI.h>

#include <chrono>
#include <cstring>
#include <ctime>
#include <fstream>
#include <optional>
#include <regex>
#include <sstream>
#include <thread>

#include "catalogue.h"
#include "store.h"
#include "util/fs.h"
#include "crypto/sha256.h"
#include "util/timeutil.h"

namespace lpserver {

using livepatch::Error;
using livepatch::ErrorCode;
using Poco::Net::HTTPResponse;
using Poco::Net::HTTPServerRequest;
using Poco::Net::HTTPServerResponse;

livepatch::Status applyFault(Faults& f, const std::string& spec) {
    auto eq = spec.find('=');
    std::string name = spec.substr(0, eq), value = eq == std::string::npos ? "" : spec.substr(eq + 1);
    auto num = [&](int def) {
        try {
            return value.empty() ? def : std::stoi(value);
        } catch (...) {
            return def;
        }
    };
    if (name == "slow") f.slowMs = num(2000);
    else if (name == "truncate") f.truncate = true;
    else if (name == "wrong-checksum") f.wrongChecksum = true;
    else if (name == "html-5xx") f.htmlError = num(502);
    else if (name == "redirect-http") f.redirectHttp = true;
    else if (name == "redirect") f.redirect = true;
    else if (name == "oversized") f.oversized = true;
    else if (name == "wrong-content-type") f.wrongContentType = true;
    else if (name == "retry-after") f.retryAfter = num(1);
    else if (name == "drip") f.dripMs = num(1000);
    else if (name == "none") f = Faults{};
    else return Error(ErrorCode::InvalidArgument, "unknown fault \"" + name + "\" (slow[=ms], truncate, wrong-checksum, html-5xx[=code], "
                                                   "redirect-http, redirect, oversized, wrong-content-type, retry-after[=s], drip[=ms], none)");
    return {};
}

std::string hashAdminPassword(const std::string& password) {
    unsigned char salt[16];
    RAND_bytes(salt, sizeof salt);
    char encoded[256];
    argon2id_hash_encoded(2, 1 << 15, 1, password.data(), password.size(), salt, sizeof salt, 32, encoded, sizeof encoded);
    return encoded;
}

void seedDownloadForTests(const std::string& dataDir, const std::string& machineToken, const std::string& file) {
    std::ofstream(dataDir + "/state.json") << "{\"machines\": {\"00000000000000000000000000000001\": {\"kind\": \"auth-token\", "
                                              "\"token-sha256\": \"" << livepatch::sha256Hex(machineToken) << "\", \"tier\": \"stable\"}}}";
    std::ofstream(dataDir + "/catalogue.yaml") << "kernels:\n  - {kernel: test, architecture: x86_64, patches: [{file: " << file
                                                << ", name: p, version: \"1\"}]}\n";
}

bool verifyAdminPassword(const std::string& encoded, const std::string& password) {
    return argon2id_verify(encoded.c_str(), password.data(), password.size()) == ARGON2_OK;  // constant time inside
}

namespace {

const char* kModernCiphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

const char* kHtml502 =
    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n"
    "<hr><center>nginx/1.18.0 (Ubuntu)</center>\r\n</body>\r\n</html>\r\n";


struct Shared {
    ServerOptions opt;
    std::mutex faultMu;
    std::unique_ptr<Store> store;
    std::atomic<unsigned> seq{0};
    std::atomic<int> active{0};         // handlers running now
    std::atomic<bool> stopping{false};  // server is shutting down
    std::string macaroonKey;
    std::string adminHash;
    std::string baseUrl;
    explicit Shared(ServerOptions o) : opt(std::move(o)) {}
    Faults faults() {
        std::lock_guard<std::mutex> l(faultMu);
        return opt.faults;
    }
    void record(const std::string& endpoint, const std::string& direction, const std::string& body) {
        if (opt.recordDir.empty() || body.empty()) return;
        char name[64];
        snprintf(name, sizeof name, "%05u", seq.fetch_add(1));
        std::ofstream(opt.recordDir + "/" + name + "-" + endpoint + "-" + direction + ".json") << body;
    }
};

void sendJson(HTTPServerResponse& resp, int status, const std::string& body, const std::string& etag = "") {
    resp.setStatusAndReason(static_cast<HTTPResponse::HTTPStatus>(status));
    resp.setContentType("application/json");
    if (!etag.empty()) resp.set("ETag", etag);
    resp.setContentLength(static_cast<std::streamsize>(body.size()));
    resp.send() << body;
}

void sendError(HTTPServerResponse& resp, int status, const std::string& code, const std::string& message, Shared* sh = nullptr) {
    Poco::JSON::Object o;
    o.set("error", code);
    o.set("message", message);
    std::ostringstream out;
    o.stringify(out);
    if (sh) sh->record("error", "response", out.str());
    sendJson(resp, status, out.str());
}

// What a resource token grants, once its signature and caveats verified.
struct MacaroonGrant {
    std::string tier = "stable";
    std::string idSha256;  // digest of the macaroon identifier: what a machine is bound to
};

// Caveat state collected while libmacaroons walks the first-party caveats.
struct CaveatCheck {
    std::optional<std::string> tier;
};

int checkMacaroonCaveat(void* ctx, const unsigned char* pred, size_t sz) {
    auto& check = *static_cast<CaveatCheck*>(ctx);
    std::string p(reinterpret_cast<const char*>(pred), sz);
    // Expiry, in either spelling the agent accepts; compared as instants, so
    // offsets and fractions of a second mean what they say.
    for (const char* prefix : {"time < ", "expires = "}) {
        const size_t n = std::strlen(prefix);
        if (p.compare(0, n, prefix) != 0) continue;
        auto when = livepatch::timeutil::parseRfc3339(p.substr(n));
        return when && std::chrono::system_clock::now() < *when ? 0 : -1;
    }
    if (p.rfind("tier = ", 0) == 0) {
        // Anyone holding a macaroon can append caveats without the key, so a
        // caveat may only narrow: every tier caveat must name the same tier.
        const std::string tier = p.substr(7);
        if (check.tier && *check.tier != tier) return -1;
        check.tier = tier;
        return 0;
    }
    return -1;
}

// A store call that failed because the database is unavailable.
struct StoreUnavailable : std::runtime_error {
    using std::runtime_error::runtime_error;
};

void must(const livepatch::Status& s) {
    if (!s) throw StoreUnavailable(s.error().message());
}
template <typename T>
T must(livepatch::Result<T> r) {
    if (!r) throw StoreUnavailable(r.error().message());
    return std::move(*r);
}

// Stable patches reach every tier; any other tier only its own machines.
bool visibleTo(const CataloguePatch& p, const std::string& tier) { return p.tier.empty() || p.tier == "stable" || p.tier == tier; }

class Handler : public Poco::Net::HTTPRequestHandler {
public:
    explicit Handler(Shared* sh) : sh_(sh) {}

    void handleRequest(HTTPServerRequest& req, HTTPServerResponse& resp) override {
        // Server::stop() waits for this count to drop to zero before the
        // shared state goes away (ASan caught a slow handler outliving it).
        struct Active {
            std::atomic<int>& n;
            explicit Active(std::atomic<int>& c) : n(c) { ++n; }
            ~Active() { --n; }
        } active(sh_->active);
        try {
            handle(req, resp);
        } catch (const StoreUnavailable& e) {
            // The database is down or restarting: the agent retries after
            // Retry-After; the server reconnects by itself.
            if (!resp.sent()) {
                resp.set("Retry-After", "5");
                sendError(resp, 503, "unavailable", "the server's database is unavailable; try again later");
            }
        } catch (const std::exception& e) {
            if (!resp.sent()) sendError(resp, 500, "internal", "internal server error");
        }
    }

private:
    Shared* sh_;

    // Resource token: verified macaroon -> what it grants.
    std::optional<MacaroonGrant> verifyMacaroon(const std::string& token) {
        if (sh_->macaroonKey.empty()) return std::nullopt;
        macaroon_returncode err;
        macaroon* m = macaroon_deserialize(token.c_str(), &err);
        if (!m) return std::nullopt;
        macaroon_verifier* v = macaroon_verifier_create();
        CaveatCheck check;
        macaroon_verifier_satisfy_general(v, &checkMacaroonCaveat, &check, &err);
        int rc = macaroon_verify(v, m, reinterpret_cast<const unsigned char*>(sh_->macaroonKey.data()), sh_->macaroonKey.size(),
                                 nullptr, 0, &err);
        MacaroonGrant grant;
        const unsigned char* id = nullptr;
        size_t idLen = 0;
        macaroon_identifier(m, &id, &idLen);
        grant.idSha256 = livepatch::sha256Hex(std::string(reinterpret_cast<const char*>(id), idLen));
        macaroon_verifier_destroy(v);
        macaroon_destroy(m);
        if (rc != 0) return std::nullopt;
        if (check.tier) grant.tier = *check.tier;
        return grant;
    }

    // Authenticated machine for /v1/client/{id}/... ; tier out. A macaroon
    // is shared by a fleet, so it acts only on the ids it registered itself.
    bool authenticate(HTTPServerRequest& req, const std::string& id, std::string& tier) {
        const std::string auth = req.get("Authorization", "");
        if (auth.rfind("Bearer ", 0) == 0) {
            auto m = must(sh_->store->machine(id));
            if (!m || m->kind != MachineKind::AuthToken || !livepatch::digestEquals(m->credentialSha256, livepatch::sha256Hex(auth.substr(7))))
                return false;
            tier = m->tier;
            return true;
        }
        if (auth.rfind("Macaroon ", 0) == 0) {
            auto g = verifyMacaroon(auth.substr(9));
            if (!g) return false;
            auto m = must(sh_->store->machine(id));
            if (!m || m->kind != MachineKind::ResourceToken || !livepatch::digestEquals(m->credentialSha256, g->idSha256)) return false;
            tier = g->tier;
            return true;
        }
        return false;
    }

    // Tier of whoever asks for a download: a registered machine's token or
    // a valid resource token (the URL carries no machine id).
    std::optional<std::string> downloaderTier(HTTPServerRequest& req) {
        const std::string auth = req.get("Authorization", "");
        if (auth.rfind("Bearer ", 0) == 0) {
            if (auto m = must(sh_->store->machineByToken(auth.substr(7)))) return m->tier;
        } else if (auth.rfind("Macaroon ", 0) == 0) {
            if (auto g = verifyMacaroon(auth.substr(9))) return g->tier;
        }
        return std::nullopt;
    }

    bool readBody(HTTPServerRequest& req, HTTPServerResponse& resp, std::string& body) {
        if (req.getContentLength() > static_cast<std::streamsize>(sh_->opt.maxRequestBytes)) {
            sendError(resp, 413, "too-large", "request body too large");
            return false;
        }
        char buf[8192];
        while (req.stream().good()) {
            req.stream().read(buf, sizeof buf);
            body.append(buf, static_cast<size_t>(req.stream().gcount()));
            if (body.size() > sh_->opt.maxRequestBytes) {
                sendError(resp, 413, "too-large", "request body too large");
                return false;
            }
        }
        return true;
    }

    void handle(HTTPServerRequest& req, HTTPServerResponse& resp) {
        Faults f = sh_->faults();
        for (int waited = 0; waited < f.slowMs && !sh_->stopping; waited += 20)
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        Poco::URI uri(req.getURI());
        const std::string path = uri.getPath();
        static const std::regex clientRe("^/v1/client/([0-9a-f]{32})$");
        static const std::regex updatesRe("^/v1/client/([0-9a-f]{32})/updates$");
        static const std::regex patchRe("^/v1/(patches|files)/([A-Za-z0-9._+-]{1,200})$");
        std::smatch m;
        if (path.rfind("/admin/", 0) == 0) return admin(req, resp, path);
        if (f.dripMs > 0 && path.rfind("/v1/", 0) == 0) return drip(resp, f.dripMs);
        if (f.htmlError && path.rfind("/v1/client", 0) == 0) {
            resp.setStatusAndReason(static_cast<HTTPResponse::HTTPStatus>(f.htmlError));
            resp.setContentType("text/html");
            resp.setContentLength(static_cast<std::streamsize>(std::strlen(kHtml502)));
            resp.send() << kHtml502;
            return;
        }
        if (f.retryAfter >= 0 && path.rfind("/v1/client", 0) == 0) {
            {
                std::lock_guard<std::mutex> l(sh_->faultMu);
                sh_->opt.faults.retryAfter = -1;  // once
            }
            resp.set("Retry-After", std::to_string(f.retryAfter));
            sendError(resp, 503, "unavailable", "try again later");
            return;
        }
        std::string body;
        if (std::regex_match(path, m, clientRe)) {
            if (!readBody(req, resp, body)) return;
            if (req.getMethod() == "POST") return registerMachine(req, resp, m[1], body);
            if (req.getMethod() == "DELETE") {
                std::string tier;
                if (!authenticate(req, m[1], tier)) return sendError(resp, 401, "unauthorized", "invalid credentials", sh_);
                must(sh_->store->removeMachine(m[1]));
                resp.setStatusAndReason(HTTPResponse::HTTP_NO_CONTENT);
                resp.send();
                return;
            }
        } else if (std::regex_match(path, m, updatesRe) && req.getMethod() == "POST") {
            if (!readBody(req, resp, body)) return;
            return updates(req, resp, m[1], body, f);
        } else if (std::regex_match(path, m, patchRe) && req.getMethod() == "GET") {
            return download(req, resp, m[1], m[2], f);
        } else if (path == "/v1/api/kernels/supported" && req.getMethod() == "GET") {
            return supported(uri, resp);
        }
        sendError(resp, 404, "not-found", "no such endpoint");
    }

    // Fault `drip`: a trickle that never lets a client's read time out.
    void drip(HTTPServerResponse& resp, int intervalMs) {
        const std::string body = "{\"drip\":\"" + std::string(88, '.') + "\"}";  // 100 bytes
        resp.setContentType("application/json");
        resp.setContentLength(static_cast<std::streamsize>(body.size()));
        std::ostream& out = resp.send();
        for (char c : body) {
            for (int waited = 0; waited < intervalMs && !sh_->stopping; waited += 10)
                std::this_thread::sleep_for(std::chrono::milliseconds(10));
            if (sh_->stopping || !out.put(c).flush()) return;
        }
    }

    void registerMachine(HTTPServerRequest& req, HTTPServerResponse& resp, const std::string& id, const std::string& body) {
        sh_->record("register", "request", body);
        const std::string auth = req.get("Authorization", "");
        Poco::JSON::Object out(Poco::JSON_PRESERVE_KEY_ORDER);
        if (auth.rfind("Bearer ", 0) == 0) {
            auto tier = must(sh_->store->tierForAuthToken(auth.substr(7)));
            if (!tier) return sendError(resp, 401, "unauthorized", "unknown auth token", sh_);
            auto token = sh_->store->registerWithAuthToken(id, *tier);
            if (!token) return registrationFailed(resp, token.error());
            out.set("machine-token", *token);
            out.set("tier", *tier);
        } else if (auth.rfind("Macaroon ", 0) == 0) {
            auto grant = verifyMacaroon(auth.substr(9));
            if (!grant) return sendError(resp, 401, "unauthorized", "invalid resource token", sh_);
            auto s = sh_->store->registerResource(id, grant->tier, grant->idSha256);
            if (!s) return registrationFailed(resp, s.error());
            out.set("tier", grant->tier);
        } else {
            return sendError(resp, 401, "unauthorized", "missing credentials", sh_);
        }
        std::ostringstream s;
        out.stringify(s);
        sh_->record("register", "response", s.str());
        sendJson(resp, 200, s.str());
    }

    void registrationFailed(HTTPServerResponse& resp, const Error& e) {
        if (e.code() == ErrorCode::AlreadyEnabled) return sendError(resp, 409, "conflict", e.message(), sh_);
        throw StoreUnavailable(e.message());
    }

    void updates(HTTPServerRequest& req, HTTPServerResponse& resp, const std::string& id, const std::string& body, const Faults& f) {
        std::string tier;
        if (!authenticate(req, id, tier)) return sendError(resp, 401, "unauthorized", "invalid credentials", sh_);
        sh_->record("updates", "request", body);
        std::string kernel, arch;
        try {
            Poco::JSON::Parser p;
            auto o = p.parse(body).extract<Poco::JSON::Object::Ptr>();
            kernel = o->getValue<std::string>("kernel");
            arch = o->getValue<std::string>("architecture");
        } catch (...) {
            return sendError(resp, 400, "bad-request", "report must be JSON with kernel and architecture", sh_);
        }
        sh_->store->checkIn(id, body);
        auto cat = cachedCatalogue(sh_->opt.dataDir + "/catalogue.yaml");
        if (!cat) return sendError(resp, 500, "internal", "catalogue unavailable", sh_);
        Poco::JSON::Object out(Poco::JSON_PRESERVE_KEY_ORDER);
        Poco::JSON::Array::Ptr patches(new Poco::JSON::Array);
        std::string supportedState = "unsupported", upgradeDate;
        for (const auto& k : **cat) {
            if (k.kernel != kernel || k.architecture != arch) continue;
            supportedState = k.supported;
            upgradeDate = k.upgradeRequiredDate;
            for (const auto& p : k.patches) {
                if (!visibleTo(p, tier)) continue;
                auto d = fileDigest(sh_->opt.dataDir + "/patches/" + p.file);
                if (!d) continue;
                Poco::JSON::Object::Ptr po(new Poco::JSON::Object(Poco::JSON_PRESERVE_KEY_ORDER));
                po->set("version", p.version);
                po->set("name", p.name);
                po->set("filename", p.file);
                po->set("url", "/v1/patches/" + p.file);
                po->set("sha256", f.wrongChecksum ? livepatch::sha256Hex("wrong" + d->first) : d->first);
                po->set("size", d->second);
                if (!p.published.empty()) po->set("published", p.published);
                po->set("replace", p.replace);
                Poco::JSON::Array::Ptr fixes(new Poco::JSON::Array);
                for (const auto& fx : p.fixes) {
                    Poco::JSON::Object::Ptr fo(new Poco::JSON::Object(Poco::JSON_PRESERVE_KEY_ORDER));
                    fo->set("name", fx.name);
                    fo->set("description", fx.description);
                    fo->set("bug", fx.bug);
                    fo->set("patched", fx.patched);
                    fixes->add(fo);
                }
                po->set("fixes", fixes);
                patches->add(po);
            }
        }
        out.set("supported", supportedState);
        if (upgradeDate.empty()) out.set("upgrade-required-date", Poco::Dynamic::Var());
        else out.set("upgrade-required-date", upgradeDate);
        out.set("tier", tier);
        out.set("patches", patches);
        std::ostringstream s;
        out.stringify(s);
        std::string json = s.str();
        if (f.oversized) json.insert(json.size() - 1, ",\"padding\":\"" + std::string(9u << 20, 'x') + "\"");
        const std::string etag = "\"" + livepatch::sha256Hex(json).substr(0, 32) + "\"";
        if (req.get("If-None-Match", "") == etag) {
            resp.setStatusAndReason(HTTPResponse::HTTP_NOT_MODIFIED);
            resp.set("ETag", etag);
            resp.send();
            return;
        }
        if (!f.oversized) sh_->record("updates", "response", json);
        if (f.wrongContentType) {
            resp.setStatusAndReason(HTTPResponse::HTTP_OK);
            resp.setContentType("text/html");
            resp.setContentLength(static_cast<std::streamsize>(json.size()));
            resp.send() << json;
            return;
        }
        sendJson(resp, 200, json, etag);
    }

    // Whether a patch file is published to this tier in the catalogue (a
    // file the catalogue does not list is not served at all).
    bool publishedTo(const std::string& file, const std::string& tier) {
        auto cat = cachedCatalogue(sh_->opt.dataDir + "/catalogue.yaml");
        if (!cat) return false;
        for (const auto& k : **cat)
            for (const auto& p : k.patches)
                if (p.file == file && visibleTo(p, tier)) return true;
        return false;
    }

    void download(HTTPServerRequest& req, HTTPServerResponse& resp, const std::string& kind, const std::string& file, const Faults& f) {
        const std::string path = sh_->opt.dataDir + "/patches/" + file;
        auto tier = downloaderTier(req);
        if (!tier) return sendError(resp, 401, "unauthorized", "invalid credentials", sh_);
        // 404, not 403: a tier does not learn the names of another tier's patches.
        if (!publishedTo(file, *tier)) return sendError(resp, 404, "not-found", "no such patch", sh_);
        if (kind == "patches" && (f.redirectHttp || f.redirect)) {
            std::string target = f.redirectHttp ? "http://" + sh_->opt.host + ":" + std::to_string(req.serverAddress().port()) + "/v1/files/" + file
                                                : "/v1/files/" + file;
            resp.redirect(target, HTTPResponse::HTTP_FOUND);
            return;
        }
        auto text = livepatch::fs::readFile(path, 512u << 20);
        if (!text) return sendError(resp, 404, "not-found", "no such patch");
        std::string data = *text;
        std::size_t start = 0;
        const std::string range = req.get("Range", "");
        static const std::regex rangeRe("^bytes=([0-9]+)-$");
        std::smatch m;
        resp.setContentType("application/octet-stream");
        if (std::regex_match(range, m, rangeRe)) {
            start = std::stoull(m[1]);
            if (start >= data.size()) {
                resp.setStatusAndReason(HTTPResponse::HTTP_REQUESTED_RANGE_NOT_SATISFIABLE);
                resp.send();
                return;
            }
            resp.setStatusAndReason(HTTPResponse::HTTP_PARTIAL_CONTENT);
            resp.set("Content-Range", "bytes " + std::to_string(start) + "-" + std::to_string(data.size() - 1) + "/" + std::to_string(data.size()));
        }
        resp.setContentLength(static_cast<std::streamsize>(data.size() - start));
        std::ostream& out = resp.send();
        if (f.truncate) {
            out.write(data.data() + start, static_cast<std::streamsize>((data.size() - start) / 2));
            out.flush();
            throw std::runtime_error("truncated on purpose");  // closes the connection
        }
        out.write(data.data() + start, static_cast<std::streamsize>(data.size() - start));
    }

    void supported(const Poco::URI& uri, HTTPServerResponse& resp) {
        std::string kernel, flavour, arch, codename;
        for (const auto& kv : uri.getQueryParameters()) {
            if (kv.first == "kernel-version") kernel = kv.second;
            else if (kv.first == "flavour") flavour = kv.second;
            else if (kv.first == "architecture") arch = kv.second;
            else if (kv.first == "codename") codename = kv.second;
        }
        auto cat = cachedCatalogue(sh_->opt.dataDir + "/catalogue.yaml");
        std::string state = "unknown";
        if (cat)
            for (const auto& k : **cat)
                if ((k.kernel == kernel || k.kernel == kernel + "-" + flavour) && (arch.empty() || k.architecture == arch)) state = k.supported;
        Poco::JSON::Object o(Poco::JSON_PRESERVE_KEY_ORDER);
        o.set("kernel-version", kernel);
        o.set("flavour", flavour);
        o.set("architecture", arch);
        o.set("codename", codename);
        o.set("supported", state);
        std::ostringstream s;
        o.stringify(s);
        sh_->record("kernels-supported", "response", s.str());
        sendJson(resp, 200, s.str());
    }

    void admin(HTTPServerRequest& req, HTTPServerResponse& resp, const std::string& path) {
        std::string user, pass;
        const std::string auth = req.get("Authorization", "");
        if (auth.rfind("Basic ", 0) == 0) {
            std::istringstream in(auth.substr(6));
            Poco::Base64Decoder dec(in);
            std::string decoded((std::istreambuf_iterator<char>(dec)), std::istreambuf_iterator<char>());
            auto colon = decoded.find(':');
            if (colon != std::string::npos) {
                user = decoded.substr(0, colon);
                pass = decoded.substr(colon + 1);
            }
        }
        if (sh_->adminHash.empty() || user != "admin" || !verifyAdminPassword(sh_->adminHash, pass)) {
            resp.set("WWW-Authenticate", "Basic realm=\"livepatch-server admin\"");
            return sendError(resp, 401, "unauthorized", "admin credentials required");
        }
        std::string body;
        if (!readBody(req, resp, body)) return;
        try {
            Poco::JSON::Parser p;
            auto o = body.empty() ? Poco::JSON::Object::Ptr(new Poco::JSON::Object) : p.parse(body).extract<Poco::JSON::Object::Ptr>();
            if (path == "/admin/tokens" && req.getMethod() == "POST") {
                std::string token = o->optValue<std::string>("token", "");
                if (token.empty()) {
                    unsigned char r[16];
                    RAND_bytes(r, 16);
                    r[6] = (r[6] & 0x0F) | 0x40;
                    r[8] = (r[8] & 0x3F) | 0x80;
                    char buf[40];
                    snprintf(buf, sizeof buf, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", r[0], r[1], r[2], r[3],
                             r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11], r[12], r[13], r[14], r[15]);
                    token = buf;
                }
                must(sh_->store->addAuthToken(token, o->optValue<std::string>("tier", "stable")));
                Poco::JSON::Object out;
                out.set("token", token);
                std::ostringstream s;
                out.stringify(s);
                return sendJson(resp, 201, s.str());
            }
            if (path == "/admin/resource-tokens" && req.getMethod() == "POST") {
                // A macaroon bound to this server's root key, with first-party
                // caveats "tier = X" and optionally "time < RFC3339".
                if (sh_->macaroonKey.empty()) return sendError(resp, 500, "internal", "no macaroon-key in the data dir");
                unsigned char rid[16];
                RAND_bytes(rid, sizeof rid);
                std::string id = livepatch::sha256Hex(std::string(reinterpret_cast<char*>(rid), sizeof rid)).substr(0, 32);
                const std::string loc = "livepatch-server";
                macaroon_returncode err;
                macaroon* m = macaroon_create(reinterpret_cast<const unsigned char*>(loc.data()), loc.size(),
                                              reinterpret_cast<const unsigned char*>(sh_->macaroonKey.data()), sh_->macaroonKey.size(),
                                              reinterpret_cast<const unsigned char*>(id.data()), id.size(), &err);
                if (o->has("expires") && !livepatch::timeutil::parseRfc3339(o->getValue<std::string>("expires"))) {
                    macaroon_destroy(m);
                    return sendError(resp, 400, "invalid-request", "expires: expected an RFC 3339 time");
                }
                std::vector<std::string> caveats = {"tier = " + o->optValue<std::string>("tier", "stable")};
                if (o->has("expires")) caveats.push_back("time < " + o->getValue<std::string>("expires"));
                for (const auto& c : caveats) {
                    macaroon* n = macaroon_add_first_party_caveat(m, reinterpret_cast<const unsigned char*>(c.data()), c.size(), &err);
                    macaroon_destroy(m);
                    m = n;
                }
                std::string out(macaroon_serialize_size_hint(m), '\0');
                macaroon_serialize(m, &out[0], out.size(), &err);
                macaroon_destroy(m);
                out.resize(out.find('\0'));
                Poco::JSON::Object res;
                res.set("token", out);
                std::ostringstream js;
                res.stringify(js);
                return sendJson(resp, 201, js.str());
            }
            if (path == "/admin/faults" && req.getMethod() == "POST") {
                std::lock_guard<std::mutex> l(sh_->faultMu);
                Faults next = sh_->opt.faults;
                auto s = applyFault(next, o->getValue<std::string>("fault"));
                if (!s) return sendError(resp, 400, "bad-request", s.error().message());
                sh_->opt.faults = next;
                return sendJson(resp, 200, "{}");
            }
            if (path == "/admin/patches" && req.getMethod() == "POST") {
                // {"file": name, "content-base64": ...}; the catalogue entry is edited separately.
                std::string name = o->getValue<std::string>("file");
                static const std::regex fileRe("^[A-Za-z0-9._+-]{1,200}$");
                if (!std::regex_match(name, fileRe)) return sendError(resp, 400, "bad-request", "invalid file name");
                std::istringstream in(o->getValue<std::string>("content-base64"));
                Poco::Base64Decoder dec(in);
                std::string data((std::istreambuf_iterator<char>(dec)), std::istreambuf_iterator<char>());
                auto s = livepatch::fs::writeFileAtomic(sh_->opt.dataDir + "/patches/" + name, data, 0644);
                if (!s) return sendError(resp, 500, "internal", "cannot store patch");
                return sendJson(resp, 201, "{}");
            }
        } catch (...) {
            return sendError(resp, 400, "bad-request", "invalid admin request");
        }
        sendError(resp, 404, "not-found", "no such admin endpoint");
    }
};

class Factory : public Poco::Net::HTTPRequestHandlerFactory {
public:
    explicit Factory(Shared* sh) : sh_(sh) {}
    Poco::Net::HTTPRequestHandler* createRequestHandler(const HTTPServerRequest&) override { return new Handler(sh_); }

private:
    Shared* sh_;
};

}  // namespace

struct Server::Impl {
    std::unique_ptr<Shared> shared;
    std::unique_ptr<Poco::Net::ServerSocket> socket;
    std::unique_ptr<Poco::Net::HTTPServer> http;
};

Server::Server(ServerOptions options) : impl_(new Impl) { impl_->shared = std::make_unique<Shared>(std::move(options)); }

Server::~Server() { stop(); }

livepatch::Status Server::start() {
    auto& sh = *impl_->shared;
    StoreOptions so;
    so.dataDir = sh.opt.dataDir;
    so.database = sh.opt.database;
    so.connections = sh.opt.threads;
    so.flushInterval = sh.opt.flushInterval;
    auto store = Store::open(so);
    if (!store) return store.error();
    sh.store = std::move(*store);
    if (auto key = livepatch::fs::readFile(sh.opt.dataDir + "/macaroon-key", 4096)) sh.macaroonKey = *key;
    if (auto h = livepatch::fs::readFile(sh.opt.dataDir + "/admin-password", 4096)) {
        sh.adminHash = *h;
        while (!sh.adminHash.empty() && (sh.adminHash.back() == '\n' || sh.adminHash.back() == ' ')) sh.adminHash.pop_back();
    }
    try {
        Poco::Net::SocketAddress addr(sh.opt.host, sh.opt.port);
        if (sh.opt.plain) {
            impl_->socket = std::make_unique<Poco::Net::ServerSocket>(addr);
        } else {
            Poco::Net::Context::Params params;
            params.privateKeyFile = sh.opt.tlsKey;
            params.certificateFile = sh.opt.tlsCert;
            params.verificationMode = Poco::Net::Context::VERIFY_NONE;
            params.loadDefaultCAs = false;
            const bool legacy = sh.opt.tlsMaxVersion == "1.1" || sh.opt.tlsMaxVersion == "1.0";
            // Forward-secret AEAD suites only (TLS 1.3 suites are OpenSSL's
            // defaults); the legacy-TLS fault mode must still speak 1.0/1.1.
            params.cipherList = legacy ? "ALL:@SECLEVEL=0" : kModernCiphers;
            Poco::Net::Context::Ptr ctx = new Poco::Net::Context(Poco::Net::Context::TLS_SERVER_USE, params);
            if (legacy) {
                SSL_CTX_set_security_level(ctx->sslContext(), 0);
                SSL_CTX_set_min_proto_version(ctx->sslContext(), TLS1_VERSION);
                SSL_CTX_set_max_proto_version(ctx->sslContext(), sh.opt.tlsMaxVersion == "1.0" ? TLS1_VERSION : TLS1_1_VERSION);
            } else {
                SSL_CTX_set_min_proto_version(ctx->sslContext(), TLS1_2_VERSION);
            }
            impl_->socket = std::make_unique<Poco::Net::SecureServerSocket>(addr, 64, ctx);
        }
        auto* params = new Poco::Net::HTTPServerParams;
        params->setMaxThreads(static_cast<int>(sh.opt.threads));
        params->setKeepAlive(false);
        impl_->http = std::make_unique<Poco::Net::HTTPServer>(new Factory(&sh), *impl_->socket, params);
        impl_->http->start();
        sh.baseUrl = std::string(sh.opt.plain ? "http" : "https") + "://" + sh.opt.host + ":" + std::to_string(port());
        return {};
    } catch (const Poco::Exception& e) {
        return Error(ErrorCode::Io, "cannot start server: " + e.displayText());
    }
}

void Server::stop() {
    if (impl_->http) {
        impl_->shared->stopping = true;
        impl_->http->stopAll(true);
        for (int i = 0; i < 500 && impl_->shared->active > 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
        impl_->http.reset();
    }
}

unsigned short Server::port() const { return impl_->socket ? impl_->socket->address().port() : 0; }

std::string Server::baseUrl() const { return impl_->shared->baseUrl; }

}  // namespace lpserver
