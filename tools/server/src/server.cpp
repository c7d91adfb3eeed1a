#include "server.h"

#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <sys/stat.h>
#include <unistd.h>

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

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <ctime>
#include <fstream>
#include <iostream>
#include <optional>
#include <regex>
#include <set>
#include <sstream>
#include <thread>
#include <vector>

#include "admin_auth.h"
#include "catalogue.h"
#include "crypto/sha256.h"
#include "input.h"
#include "livepatch/text.h"
#include "package/patch_package.h"
#include "patch_store.h"
#include "publish.h"
#include "sso_hook.h"
#include "store.h"
#include "tuf_service.h"
#include "util/fs.h"
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
    else
        return Error(ErrorCode::InvalidArgument,
                     "unknown fault \"" + name +
                         "\" (slow[=ms], truncate, wrong-checksum, html-5xx[=code], "
                         "redirect-http, redirect, oversized, wrong-content-type, retry-after[=s], drip[=ms], none)");
    return {};
}

void seedDownloadForTests(const std::string& dataDir, const std::string& machineToken, const std::string& file) {
    std::ofstream(dataDir + "/state.json")
        << "{\"machines\": {\"00000000000000000000000000000001\": {\"kind\": \"auth-token\", "
           "\"token-sha256\": \""
        << livepatch::sha256Hex(machineToken) << "\", \"tier\": \"stable\"}}}";
    std::ofstream(dataDir + "/catalogue.yaml")
        << "kernels:\n  - {kernel: test, architecture: x86_64, patches: [{file: " << file
        << ", name: p, version: \"1\"}]}\n";
}

namespace {

const char* kModernCiphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-"
    "SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

const char* kHtml502 =
    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n"
    "<hr><center>nginx/1.18.0 (Ubuntu)</center>\r\n</body>\r\n</html>\r\n";

struct Shared {
    ServerOptions opt;
    std::mutex faultMu;
    std::unique_ptr<Store> store;
    std::unique_ptr<PatchStore> patches;
    std::unique_ptr<CatalogueStore> catalogue;
    std::atomic<unsigned> seq{0};
    std::atomic<int> active{0};         // handlers running now
    std::atomic<bool> stopping{false};  // server is shutting down
    std::string macaroonKey;
    AdminUsers adminUsers;
    std::string baseUrl;
    std::unique_ptr<Syncer> syncer;
    std::unique_ptr<SsoHook> ssoHook;  // --admin-sso-hook
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

// A strong validator of an answer: its body's SHA-256 (first 128 bits), quoted.
std::string contentTag(const std::string& body) { return "\"" + livepatch::sha256Hex(body).substr(0, 32) + "\""; }

// If the request's If-None-Match names `etag`: a 304 carrying it is sent, true.
bool answerNotModified(const HTTPServerRequest& req, HTTPServerResponse& resp, const std::string& etag) {
    if (req.get("If-None-Match", "") != etag) return false;
    resp.setStatusAndReason(HTTPResponse::HTTP_NOT_MODIFIED);
    resp.set("ETag", etag);
    resp.send();
    return true;
}

void sendJson(HTTPServerResponse& resp, int status, const std::string& body, const std::string& etag = "") {
    resp.setStatusAndReason(static_cast<HTTPResponse::HTTPStatus>(status));
    resp.setContentType("application/json");
    if (!etag.empty()) resp.set("ETag", etag);
    resp.setContentLength(static_cast<std::streamsize>(body.size()));
    resp.send() << body;
}

void sendError(HTTPServerResponse& resp, int status, const std::string& code, const std::string& message,
               Shared* sh = nullptr) {
    Poco::JSON::Object o;
    o.set("error", code);
    o.set("message", message);
    std::ostringstream out;
    o.stringify(out);
    if (sh) sh->record("error", "response", out.str());
    sendJson(resp, status, out.str());
}

void sendObject(HTTPServerResponse& resp, int status, const Poco::JSON::Object& o) {
    std::ostringstream s;
    o.stringify(s);
    sendJson(resp, status, s.str());
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

// Admin input shapes (and input.h): bounded, no path separators or control characters.
const std::regex& kTierRe = tierNameRe();
const std::regex kMachineIdRe("^[0-9a-f]{32}$");
const std::regex kDurationRe("^[0-9]{1,6}[smhdw]?$");
const std::regex kFaultRe("^[a-z0-9-]{1,32}(=[0-9]{1,6})?$");

// A string field of an admin request that matches re; def when absent
// (BadInput when absent and no default).
std::string field(const Poco::JSON::Object::Ptr& o, const std::string& name, const std::regex& re,
                  const std::string& what, std::optional<std::string> def = std::nullopt) {
    if (!o->has(name)) {
        if (def) return *def;
        throw BadInput(name + ": missing (expected " + what + ")");
    }
    const Poco::Dynamic::Var v = o->get(name);
    if (!v.isString()) throw BadInput(name + ": expected " + what);
    std::string s = v.extract<std::string>();
    if (!std::regex_match(s, re)) throw BadInput(name + ": expected " + what);
    return s;
}

std::string joined(const std::vector<std::string>& items) {
    std::string out;
    for (const auto& i : items) out += (out.empty() ? "" : ", ") + i;
    return out;
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

// A failed health report: the patch failed or misbehaves, or the kernel
// oopsed. (Taint alone is not one: a live patch taints the kernel itself.)
std::optional<std::string> healthFailure(const Poco::JSON::Object::Ptr& report) {
    const std::string state = report->optValue<std::string>("patch-state", "");
    if (state == "apply-failed" || state == "applied-with-bug") return "patch-state " + state;
    if (auto health = report->getObject("health"); health && health->has("oops")) {
        const Poco::Dynamic::Var oops = health->get("oops");
        if (oops.isInteger() && oops.convert<long long>() > 0) return std::string("kernel oops");
    }
    return std::nullopt;
}

// The catalogue now. Its database being down is a 503 like any other store
// failure; a broken catalogue is the operator's to fix: a 500, and its
// reason in the log (once per reason, not once per request).
CatalogueSnapshot catalogueNow(CatalogueStore& catalogue) {
    auto cat = catalogue.snapshot();
    if (cat) return *cat;
    if (cat.error().code() == ErrorCode::Network) throw StoreUnavailable(cat.error().message());
    static std::mutex mu;
    static std::string logged;
    {
        std::lock_guard<std::mutex> l(mu);
        if (logged != cat.error().message()) {
            logged = cat.error().message();
            std::cerr << "the catalogue cannot be used: " << logged << std::endl;
        }
    }
    throw std::runtime_error("catalogue unavailable");
}

// Stable patches reach every tier; any other tier only its own machines.
bool visibleTo(const CataloguePatch& p, const std::string& tier) {
    return p.tier.empty() || p.tier == "stable" || p.tier == tier;
}

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
        finishRequestBody(req, resp);
    }

private:
    Shared* sh_;

    // Keep-alive: the next request on a connection starts where this one's
    // body ends, and an answer given before reading the body (a 503, a 401,
    // a 413) leaves it unread. What is left is read, up to a bound;
    // beyond it, or on a read error, the connection closes after this answer.
    static void finishRequestBody(HTTPServerRequest& req, HTTPServerResponse& resp) {
        if (!resp.getKeepAlive()) return;
        constexpr std::size_t kMaxUnread = 64u << 10;
        std::istream& in = req.stream();
        char buf[8192];
        std::size_t skipped = 0;
        while (in.good() && skipped <= kMaxUnread) {
            in.read(buf, sizeof buf);
            skipped += static_cast<std::size_t>(in.gcount());
        }
        if (!in.eof() || in.bad()) resp.setKeepAlive(false);
    }

    // Resource token: verified macaroon -> what it grants.
    std::optional<MacaroonGrant> verifyMacaroon(const std::string& token) {
        CaveatCheck check;
        std::string id;
        if (!lpserver::verifyMacaroon(sh_->macaroonKey, token, &checkMacaroonCaveat, &check, &id)) return std::nullopt;
        MacaroonGrant grant;
        grant.idSha256 = livepatch::sha256Hex(id);
        if (check.tier) grant.tier = *check.tier;
        return grant;
    }

    // Authenticated machine for /v1/client/{id}/... ; tier out. A macaroon
    // is shared by a fleet, so it acts only on the ids it registered itself.
    bool authenticate(HTTPServerRequest& req, const std::string& id, std::string& tier) {
        const std::string auth = req.get("Authorization", "");
        if (auth.rfind("Bearer ", 0) == 0) {
            auto m = must(sh_->store->machine(id));
            if (!m || m->kind != MachineKind::AuthToken ||
                !livepatch::digestEquals(m->credentialSha256, livepatch::sha256Hex(auth.substr(7))))
                return false;
            tier = m->tier;
            return true;
        }
        if (auth.rfind("Macaroon ", 0) == 0) {
            auto g = verifyMacaroon(auth.substr(9));
            if (!g) return false;
            auto m = must(sh_->store->machine(id));
            if (!m || m->kind != MachineKind::ResourceToken ||
                !livepatch::digestEquals(m->credentialSha256, g->idSha256))
                return false;
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
        static const std::regex syncFileRe("^/v1/sync/files/([A-Za-z0-9][A-Za-z0-9._+-]{0,199})$");
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
                if (!authenticate(req, m[1], tier))
                    return sendError(resp, 401, "unauthorized", "invalid credentials", sh_);
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
        } else if (path == "/v1/sync/patches" && req.getMethod() == "GET") {
            return syncListing(req, resp, f);
        } else if (std::regex_match(path, m, syncFileRe) && req.getMethod() == "GET") {
            return download(req, resp, "sync", m[1], f);
        } else if (path == "/v1/api/kernels/supported" && req.getMethod() == "GET") {
            return supported(uri, resp);
        } else if (!sh_->opt.tufRepo.empty() && req.getMethod() == "GET") {
            if (auto rel = tufRepositoryPath(path)) return serveTuf(req, resp, *rel);
        }
        sendError(resp, 404, "not-found", "no such endpoint");
    }

    // The repository file as livepatch-repo wrote it: its signatures, not
    // this server, are what the agent trusts.
    // An ETag (the content's SHA-256) lets an agent's every-check fetch of
    // timestamp.json be a 304 while it is unchanged.
    void serveTuf(HTTPServerRequest& req, HTTPServerResponse& resp, const std::string& rel) {
        auto data = livepatch::fs::readFile(sh_->opt.tufRepo + "/" + rel, 512u << 20);
        if (!data) return sendError(resp, 404, "not-found", "no such repository file");
        const std::string etag = contentTag(*data);
        if (answerNotModified(req, resp, etag)) return;
        resp.set("ETag", etag);
        resp.setContentType(rel.rfind("metadata/", 0) == 0 ? "application/json" : "application/octet-stream");
        resp.setContentLength(static_cast<std::streamsize>(data->size()));
        resp.send().write(data->data(), static_cast<std::streamsize>(data->size()));
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

    void registerMachine(HTTPServerRequest& req, HTTPServerResponse& resp, const std::string& id,
                         const std::string& body) {
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

    void updates(HTTPServerRequest& req, HTTPServerResponse& resp, const std::string& id, const std::string& body,
                 const Faults& f) {
        std::string tier;
        if (!authenticate(req, id, tier)) return sendError(resp, 401, "unauthorized", "invalid credentials", sh_);
        sh_->record("updates", "request", body);
        std::string kernel, arch;
        std::optional<std::string> failure;
        try {
            Poco::JSON::Parser p;
            auto o = p.parse(body).extract<Poco::JSON::Object::Ptr>();
            kernel = o->getValue<std::string>("kernel");
            arch = o->getValue<std::string>("architecture");
            failure = healthFailure(o);
        } catch (...) {
            return sendError(resp, 400, "bad-request", "report must be JSON with kernel and architecture", sh_);
        }
        sh_->store->checkIn(id, body);
        if (failure && kernel.size() <= 128) sh_->store->recordHealthFailure(id, tier, kernel, *failure);
        const auto cat = catalogueNow(catalogue());
        Poco::JSON::Object out(Poco::JSON_PRESERVE_KEY_ORDER);
        Poco::JSON::Array::Ptr patches(new Poco::JSON::Array);
        std::string supportedState = "unsupported", upgradeDate;
        for (const auto& k : cat->kernels) {
            if (k.kernel != kernel || k.architecture != arch) continue;
            supportedState = k.supported;
            upgradeDate = k.upgradeRequiredDate;
            for (const auto& p : k.patches) {
                if (!visibleTo(p, tier)) continue;
                auto d = sh_->patches->info(p.file);
                if (!d && d.error().code() == ErrorCode::Network) throw StoreUnavailable(d.error().message());
                if (!d) continue;
                Poco::JSON::Object::Ptr po(new Poco::JSON::Object(Poco::JSON_PRESERVE_KEY_ORDER));
                po->set("version", p.version);
                po->set("name", p.name);
                po->set("filename", p.file);
                po->set("url", "/v1/patches/" + p.file);
                po->set("sha256", f.wrongChecksum ? livepatch::sha256Hex("wrong" + d->sha256) : d->sha256);
                po->set("size", d->length);
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
        const std::string etag = contentTag(json);
        if (answerNotModified(req, resp, etag)) return;
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
        for (const auto& k : catalogueNow(catalogue())->kernels)
            for (const auto& p : k.patches)
                if (p.file == file && visibleTo(p, tier)) return true;
        return false;
    }

    void download(HTTPServerRequest& req, HTTPServerResponse& resp, const std::string& kind, const std::string& file,
                  const Faults& f) {
        std::optional<std::string> tier;
        if (kind == "sync") {  // a downstream server, with its sync token
            SyncAnswer refused;
            tier = must(syncTokenTier(*sh_->store, req.get("Authorization", ""), refused));
            if (!tier) return sendJson(resp, refused.status, refused.body);
        } else {
            tier = downloaderTier(req);
        }
        if (!tier) return sendError(resp, 401, "unauthorized", "invalid credentials", sh_);
        // 404, not 403: a tier does not learn the names of another tier's patches.
        if (!publishedTo(file, *tier)) return sendError(resp, 404, "not-found", "no such patch", sh_);
        if (kind == "patches" && (f.redirectHttp || f.redirect)) {
            std::string target = f.redirectHttp ? "http://" + sh_->opt.host + ":" +
                                                      std::to_string(req.serverAddress().port()) + "/v1/files/" + file
                                                : "/v1/files/" + file;
            resp.redirect(target, HTTPResponse::HTTP_FOUND);
            return;
        }
        auto opened = sh_->patches->open(file);
        if (!opened && opened.error().code() == ErrorCode::Network) throw StoreUnavailable(opened.error().message());
        if (!opened && opened.error().code() == ErrorCode::NotFound)
            return sendError(resp, 404, "not-found", "no such patch");
        if (!opened) return sendError(resp, 500, "internal", "the patch file cannot be read");
        const int fd = opened->fd.get();
        const std::uint64_t size = opened->length;
        std::uint64_t start = 0;
        const std::string range = req.get("Range", "");
        static const std::regex rangeRe("^bytes=([0-9]{1,19})-$");  // 19 digits: within uint64_t
        std::smatch m;
        resp.setContentType("application/octet-stream");
        if (std::regex_match(range, m, rangeRe)) {
            start = std::stoull(m[1]);
            if (start >= size) {
                resp.setStatusAndReason(HTTPResponse::HTTP_REQUESTED_RANGE_NOT_SATISFIABLE);
                resp.send();
                return;
            }
            resp.setStatusAndReason(HTTPResponse::HTTP_PARTIAL_CONTENT);
            resp.set("Content-Range",
                     "bytes " + std::to_string(start) + "-" + std::to_string(size - 1) + "/" + std::to_string(size));
        }
        resp.setContentLength64(static_cast<Poco::UInt64>(size - start));
        std::ostream& out = resp.send();
        // Streamed from the descriptor opened above in bounded chunks: a
        // download holds 64 KiB, not the file (8 request threads would
        // otherwise hold up to 8 whole patches).
        const std::uint64_t end = f.truncate ? start + (size - start) / 2 : size;
        std::vector<char> buf(64u << 10);
        for (std::uint64_t at = start; at < end;) {
            const ssize_t n =
                ::pread(fd, buf.data(), static_cast<std::size_t>(std::min<std::uint64_t>(buf.size(), end - at)),
                        static_cast<off_t>(at));
            if (n < 0 && errno == EINTR) continue;
            // Shorter than fstat said (truncated in place): the connection
            // is closed, so the client sees a short body, never a wrong one.
            if (n <= 0) throw std::runtime_error("the patch file ended early");
            out.write(buf.data(), n);
            if (!out) return;  // the client went away
            at += static_cast<std::uint64_t>(n);
        }
        if (f.truncate) {
            out.flush();
            throw std::runtime_error("truncated on purpose");  // closes the connection
        }
    }

    // GET /v1/sync/patches: what a downstream server with this sync token
    // mirrors (the patches its tier sees, as machines of that tier do).
    void syncListing(HTTPServerRequest& req, HTTPServerResponse& resp, const Faults& f) {
        SyncAnswer refused;
        auto tier = must(syncTokenTier(*sh_->store, req.get("Authorization", ""), refused));
        if (!tier) return sendJson(resp, refused.status, refused.body);
        auto a = lpserver::syncListing(
            catalogue(), *sh_->patches, [&](const CataloguePatch& p) { return visibleTo(p, *tier); }, *tier);
        if (f.wrongChecksum &&
            a.status == 200) {  // fault: a listing that does not match the files (tampering on the way)
            static const std::string key = "\"sha256\":\"";
            for (auto at = a.body.find(key); at != std::string::npos && at + key.size() < a.body.size();
                 at = a.body.find(key, at + 1)) {
                char& c = a.body[at + key.size()];
                c = c == '0' ? '1' : '0';  // still a well-formed digest, never the right one
            }
        }
        if (a.status == 200) sh_->record("sync-patches", "response", a.body);
        if (a.status == 503) resp.set("Retry-After", "5");  // the patch store's database: as StoreUnavailable
        sendJson(resp, a.status, a.body);
    }

    void supported(const Poco::URI& uri, HTTPServerResponse& resp) {
        std::string kernel, flavour, arch, codename;
        for (const auto& kv : uri.getQueryParameters()) {
            if (kv.first == "kernel-version") kernel = kv.second;
            else if (kv.first == "flavour") flavour = kv.second;
            else if (kv.first == "architecture") arch = kv.second;
            else if (kv.first == "codename") codename = kv.second;
        }
        std::string state = "unknown";
        for (const auto& k : catalogueNow(catalogue())->kernels)
            if ((k.kernel == kernel || k.kernel == kernel + "-" + flavour) && (arch.empty() || k.architecture == arch))
                state = k.supported;
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

    // Admin credential: an admin macaroon from POST /admin/login, or HTTP
    // Basic (kept for scripts; each call then pays the password hash).
    std::optional<std::string> adminCaller(HTTPServerRequest& req, bool basicOnly) {
        const std::string auth = req.get("Authorization", "");
        if (auth.size() > 8192) return std::nullopt;
        if (auth.rfind("Macaroon ", 0) == 0 && !basicOnly) return verifyAdminMacaroon(sh_->macaroonKey, auth.substr(9));
        if (auth.rfind("Basic ", 0) != 0) return std::nullopt;
        std::istringstream in(auth.substr(6));
        Poco::Base64Decoder dec(in);
        std::string decoded;
        try {
            decoded.assign(std::istreambuf_iterator<char>(dec), std::istreambuf_iterator<char>());
        } catch (const Poco::Exception&) {
            return std::nullopt;
        }
        auto colon = decoded.find(':');
        if (colon == std::string::npos) return std::nullopt;
        const std::string user = decoded.substr(0, colon);
        if (!sh_->adminUsers.verify(user, decoded.substr(colon + 1))) return std::nullopt;
        return user;
    }

    // POST /admin/login with "Authorization: Bearer <assertion>": the site's
    // SSO hook decides (sso_hook.h). Refusals are answered here and logged
    // with their reason, never with the assertion.
    std::optional<SsoHookAnswer> ssoLogin(HTTPServerRequest& req, HTTPServerResponse& resp) {
        auto refuse = [&](const std::string& message) {
            resp.set("WWW-Authenticate", "Bearer realm=\"livepatch-server admin\"");
            sendError(resp, 401, "unauthorized", message);
            return std::nullopt;
        };
        if (!sh_->ssoHook)
            return refuse("SSO login is not configured on this server (livepatch-server --admin-sso-hook)");
        const std::string assertion = req.get("Authorization").substr(7);
        if (!validSsoAssertion(assertion))
            return refuse("the SSO assertion must be 1 to " + std::to_string(kMaxSsoAssertionBytes) +
                          " printable ASCII characters without spaces");
        auto verdict = sh_->ssoHook->run(assertion);
        if (verdict.outcome == SsoHook::Outcome::Busy) {
            resp.set("Retry-After", "1");
            sendError(resp, 503, "unavailable", "too many SSO logins at once; try again later");
            return std::nullopt;
        }
        const std::string client = req.clientAddress().host().toString();
        if (verdict.outcome == SsoHook::Outcome::Refused) {
            std::cerr << "admin SSO login from " << client << " refused: " << verdict.why << std::endl;
            return refuse("the SSO login was refused");
        }
        std::cout << "admin SSO login from " << client << " accepted for " << verdict.answer.user << std::endl;
        return verdict.answer;
    }

    void admin(HTTPServerRequest& req, HTTPServerResponse& resp, const std::string& path) {
        const std::string method = req.getMethod();
        const bool login = path == "/admin/login";
        std::optional<std::string> user;
        std::optional<std::chrono::seconds> lifetime;  // an SSO hook's "expires="
        if (login && method == "POST" && req.get("Authorization", "").rfind("Bearer ", 0) == 0) {
            auto sso = ssoLogin(req, resp);
            if (!sso) return;
            user = sso->user;
            lifetime = sso->lifetime;
        } else {
            user = adminCaller(req, login);
        }
        if (!user) {
            resp.set("WWW-Authenticate", "Basic realm=\"livepatch-server admin\"");
            return sendError(resp, 401, "unauthorized",
                             login ? "admin login needs HTTP Basic credentials of an admin user"
                                   : "admin credentials required (log in again)");
        }
        static const std::regex uploadRe("^/admin/patches/([A-Za-z0-9][A-Za-z0-9._+-]{0,199})$");
        std::smatch m;
        try {
            if (std::regex_match(path, m, uploadRe) && method == "PUT")
                return uploadPatch(req, resp, m[1], Poco::URI(req.getURI()));
            if (path == "/admin/tiers" && method == "GET") return listTiers(resp);
            if (path == "/admin/catalogue" && method == "GET") return getCatalogue(resp);
            if (path == "/admin/catalogue" && method == "PUT") return putCatalogue(req, resp);
            if (path == "/admin/machines" && method == "GET") return listMachines(resp, Poco::URI(req.getURI()));
            if (path == "/admin/fleet" && method == "GET") return fleet(resp);
            if (path == "/admin/sync" || path.rfind("/admin/sync/", 0) == 0 ||
                path.rfind("/admin/sync-tokens", 0) == 0) {  // sync.cpp
                std::string body;
                if (method == "POST" && !readBody(req, resp, body)) return;
                auto a = must(sh_->syncer->admin(method, path, Poco::URI(req.getURI()).getRawQuery(), body));
                return sendJson(resp, a.status, a.body);
            }
            static const std::set<std::string> jsonEndpoints = {
                "/admin/login",           "/admin/tokens", "/admin/tokens/revoke", "/admin/resource-tokens",
                "/admin/patches/promote", "/admin/faults", "/admin/patches"};
            if (method != "POST" || !jsonEndpoints.count(path))
                return sendError(resp, 404, "not-found", "no such admin endpoint");
            std::string body;
            if (!readBody(req, resp, body)) return;
            const Poco::JSON::Object::Ptr o = parseJsonObject(body);
            if (login && method == "POST") return adminLogin(resp, *user, o, lifetime);
            if (path == "/admin/tokens" && method == "POST") return addAuthToken(resp, o);
            if (path == "/admin/tokens/revoke" && method == "POST") return revokeAuthToken(resp, o);
            if (path == "/admin/resource-tokens" && method == "POST") return mintResourceToken(resp, o);
            if (path == "/admin/patches/promote" && method == "POST") return promote(resp, o);
            if (path == "/admin/faults" && method == "POST") {
                std::lock_guard<std::mutex> l(sh_->faultMu);
                Faults next = sh_->opt.faults;
                auto s = applyFault(next, field(o, "fault", kFaultRe, "a fault switch"));
                if (!s) return sendError(resp, 400, "bad-request", s.error().message());
                sh_->opt.faults = next;
                return sendJson(resp, 200, "{}");
            }
            if (path == "/admin/patches" && method == "POST") {
                // {"file": name, "content-base64": ...}: the file only; the
                // catalogue entry is edited separately (PUT uploads do both).
                std::string name = field(o, "file", kFileRe, "a file name ([A-Za-z0-9._+-], no path)");
                if (!o->has("content-base64") || !o->get("content-base64").isString())
                    throw BadInput("content-base64: expected base64");
                std::istringstream in(o->getValue<std::string>("content-base64"));
                Poco::Base64Decoder dec(in);
                std::string data((std::istreambuf_iterator<char>(dec)), std::istreambuf_iterator<char>());
                if (data.size() > sh_->opt.maxUploadBytes)
                    return sendError(resp, 413, "too-large", "patch larger than the server's upload limit");
                // Staged under a dot name, then put as an upload is.
                const std::string staged = sh_->patches->stagingDir() + "/.admin-" + name;
                auto s = livepatch::fs::writeFileAtomic(staged, data, 0644);
                if (s) s = sh_->patches->put(name, staged);
                ::unlink(staged.c_str());
                if (!s && s.error().code() == ErrorCode::AlreadyEnabled)
                    return sendError(resp, 409, "conflict", s.error().message());
                if (!s && s.error().code() == ErrorCode::Network) throw StoreUnavailable(s.error().message());
                if (!s) return sendError(resp, 500, "internal", "cannot store patch");
                return sendJson(resp, 201, "{}");
            }
        } catch (const BadInput& e) {
            return sendError(resp, 400, "bad-request", e.what());
        } catch (const StoreUnavailable&) {
            throw;
        } catch (const Poco::Exception&) {
            return sendError(resp, 400, "bad-request", "invalid admin request");
        }
        sendError(resp, 404, "not-found", "no such admin endpoint");
    }

    // maxLifetime: an SSO hook's limit, which shortens and never lengthens.
    void adminLogin(HTTPServerResponse& resp, const std::string& user, const Poco::JSON::Object::Ptr& o,
                    std::optional<std::chrono::seconds> maxLifetime) {
        if (sh_->macaroonKey.empty()) return sendError(resp, 500, "internal", "no macaroon-key in the data dir");
        std::chrono::seconds validFor{3600};
        if (o->has("valid-for")) {
            auto d =
                livepatch::timeutil::parseDuration(field(o, "valid-for", kDurationRe, "a duration such as 15m or 8h"));
            if (!d || d->count() < 60 || d->count() > 86400)
                throw BadInput("valid-for: expected a duration from 1m to 24h");
            validFor = *d;
        }
        if (maxLifetime) validFor = std::min(validFor, *maxLifetime);
        const auto expires = std::chrono::system_clock::now() + validFor;
        Poco::JSON::Object out(Poco::JSON_PRESERVE_KEY_ORDER);
        out.set("macaroon", mintAdminMacaroon(sh_->macaroonKey, user, expires));
        out.set("expires", livepatch::timeutil::formatRfc3339(expires));
        sendObject(resp, 200, out);
    }

    // Tier of an admin request, which must be one of the catalogue's tiers.
    std::string knownTier(const Poco::JSON::Object::Ptr& o, const std::string& name, std::optional<std::string> def) {
        std::string tier = field(o, name, kTierRe, "a tier name ([a-z0-9._-], at most 32)", std::move(def));
        const auto tiers = catalogueNow(catalogue())->tierNames();
        if (std::find(tiers.begin(), tiers.end(), tier) == tiers.end())
            throw BadInput(name + ": no such tier (the catalogue's tiers: are " + joined(tiers) + ")");
        return tier;
    }

    void addAuthToken(HTTPServerResponse& resp, const Poco::JSON::Object::Ptr& o) {
        const std::string tier = knownTier(o, "tier", std::string("stable"));
        std::string token = o->has("token") ? field(o, "token", kTokenRe, "8 to 128 of [A-Za-z0-9-]") : randomUuid();
        must(sh_->store->addAuthToken(token, tier));
        Poco::JSON::Object out(Poco::JSON_PRESERVE_KEY_ORDER);
        out.set("token", token);
        out.set("tier", tier);
        sendObject(resp, 201, out);
    }

    void revokeAuthToken(HTTPServerResponse& resp, const Poco::JSON::Object::Ptr& o) {
        if (!must(sh_->store->removeAuthToken(field(o, "token", kTokenRe, "8 to 128 of [A-Za-z0-9-]"))))
            return sendError(resp, 404, "not-found", "no such auth token");
        resp.setStatusAndReason(HTTPResponse::HTTP_NO_CONTENT);
        resp.send();
    }

    void mintResourceToken(HTTPServerResponse& resp, const Poco::JSON::Object::Ptr& o) {
        // Bound to this server's root key, with first-party caveats
        // "tier = X" and optionally "time < RFC3339".
        if (sh_->macaroonKey.empty()) return sendError(resp, 500, "internal", "no macaroon-key in the data dir");
        std::vector<std::string> caveats = {
            "tier = " + field(o, "tier", kTierRe, "a tier name ([a-z0-9._-], at most 32)", std::string("stable"))};
        if (o->has("expires")) {
            const std::string expires = field(o, "expires", kRfc3339Re, "an RFC 3339 time");
            if (!livepatch::timeutil::parseRfc3339(expires)) throw BadInput("expires: expected an RFC 3339 time");
            caveats.push_back("time < " + expires);
        }
        unsigned char rid[16];
        RAND_bytes(rid, sizeof rid);
        const std::string id =
            livepatch::sha256Hex(std::string(reinterpret_cast<char*>(rid), sizeof rid)).substr(0, 32);
        Poco::JSON::Object out;
        out.set("token", mintMacaroon(sh_->macaroonKey, id, caveats));
        sendObject(resp, 201, out);
    }

    void listTiers(HTTPServerResponse& resp) {
        const auto cat = catalogueNow(catalogue());
        auto tokens = must(sh_->store->authTokensPerTier());
        auto machines = must(sh_->store->machinesPerTier());
        Poco::JSON::Array list;
        for (const auto& spec : cat->tiers) {
            const std::string& t = spec.name;
            Poco::JSON::Object e(Poco::JSON_PRESERVE_KEY_ORDER);
            e.set("name", t);
            if (spec.soak) e.set("soak", std::to_string(spec.soak->count()) + "s");
            else e.set("soak", Poco::Dynamic::Var());
            e.set("machines", machines[t]);
            e.set("auth-tokens", tokens[t]);
            Poco::JSON::Array patches;
            for (const auto& k : cat->kernels)
                for (const auto& p : k.patches)
                    if ((p.tier.empty() ? "stable" : p.tier) == t) {
                        Poco::JSON::Object pe(Poco::JSON_PRESERVE_KEY_ORDER);
                        pe.set("kernel", k.kernel);
                        pe.set("architecture", k.architecture);
                        pe.set("name", p.name);
                        pe.set("version", p.version);
                        pe.set("file", p.file);
                        patches.add(pe);
                    }
            e.set("patches", patches);
            list.add(e);
        }
        Poco::JSON::Object out;
        out.set("tiers", list);
        sendObject(resp, 200, out);
    }

    // GET /admin/catalogue: the whole document, with its entity tag for a
    // later PUT (edit it by hand on any catalogue store).
    void getCatalogue(HTTPServerResponse& resp) {
        auto doc = catalogue().document();
        if (!doc && doc.error().code() == ErrorCode::Network) throw StoreUnavailable(doc.error().message());
        if (!doc) return sendError(resp, 500, "internal", "the catalogue cannot be read");
        resp.set("ETag", "\"" + doc->etag + "\"");
        resp.setStatusAndReason(HTTPResponse::HTTP_OK);
        resp.setContentType("application/yaml");
        resp.setContentLength(static_cast<std::streamsize>(doc->text.size()));
        resp.send() << doc->text;
    }

    // PUT /admin/catalogue with If-Match: the tag of the document the edit
    // started from (or * to replace whatever is there). Checked by the one
    // catalogue parser first: a document the server could not use is never
    // stored. 412 when someone else changed it meanwhile (read it again).
    void putCatalogue(HTTPServerRequest& req, HTTPServerResponse& resp) {
        static const std::regex ifMatchRe("^(\\*|\"([0-9a-f]{64})\")$");
        std::smatch m;
        const std::string ifMatch = req.get("If-Match", "");
        if (!std::regex_match(ifMatch, m, ifMatchRe))
            return sendError(resp, 428, "precondition-required",
                             "If-Match: the ETag of GET /admin/catalogue (quoted), or * to replace it unconditionally");
        std::string body;
        if (!readBody(req, resp, body)) return;
        auto s = catalogue().replace(body, m[2].matched ? m[2].str() : "*");
        if (!s) {
            const ErrorCode c = s.error().code();
            if (c == ErrorCode::Network) throw StoreUnavailable(s.error().message());
            if (c == ErrorCode::Stale)
                return sendError(resp, 412, "precondition-failed",
                                 "the catalogue changed since it was read: get it again and redo the edit");
            if (c == ErrorCode::ConfigInvalid)
                return sendError(resp, 400, "bad-request", livepatch::terminalSafe(s.error().message(), 400));
            return sendError(resp, 500, "internal", "the catalogue cannot be updated");
        }
        std::cout << "catalogue replaced through the admin API (" << catalogue().name() << ")" << std::endl;
        Poco::JSON::Object out;
        out.set("etag", catalogueEtag(body));
        sendObject(resp, 200, out);
    }

    // Moves every catalogue entry of this version (optionally of one patch
    // name / kernel) to the target tier.
    void promote(HTTPServerResponse& resp, const Poco::JSON::Object::Ptr& o) {
        const std::string version = field(o, "version", kVersionRe, "a patch version such as 3 or 95.1");
        if (!livepatch::isPatchVersion(version)) throw BadInput("version: expected a patch version such as 3 or 95.1");
        const std::string tier = knownTier(o, "tier", std::nullopt);
        const std::string name = o->has("name") ? field(o, "name", kPatchNameRe, "a livepatch name ([a-z0-9_])") : "";
        const std::string kernel = o->has("kernel") ? field(o, "kernel", kKernelRe, "a kernel version") : "";
        Poco::JSON::Array moved;
        auto s = catalogue().edit([&](YAML::Node& root) -> livepatch::Status {
            moved.clear();  // the edit may run again on a newer catalogue
            for (auto k : root["kernels"]) {
                if (!kernel.empty() && k["kernel"].as<std::string>() != kernel) continue;
                for (auto p : k["patches"]) {
                    if (p["version"].as<std::string>() != version ||
                        (!name.empty() && p["name"].as<std::string>() != name))
                        continue;
                    Poco::JSON::Object e(Poco::JSON_PRESERVE_KEY_ORDER);
                    e.set("kernel", k["kernel"].as<std::string>());
                    e.set("file", p["file"].as<std::string>());
                    e.set("from", p["tier"] ? p["tier"].as<std::string>() : std::string("stable"));
                    e.set("to", tier);
                    moved.add(e);
                    p["tier"] = tier;
                    p["tier-since"] = livepatch::timeutil::formatRfc3339(std::chrono::system_clock::now());
                }
            }
            if (moved.size() == 0) return Error(ErrorCode::NotFound, "no patch with this version in the catalogue");
            return {};
        });
        if (!s) {
            if (s.error().code() == ErrorCode::NotFound) return sendError(resp, 404, "not-found", s.error().message());
            if (s.error().code() == ErrorCode::Network) throw StoreUnavailable(s.error().message());
            return sendError(resp, 500, "internal", "the catalogue cannot be updated");
        }
        Poco::JSON::Object out;
        out.set("promoted", moved);
        sendObject(resp, 200, out);
    }

    // PUT /admin/patches/{file}[?tier=T]: a signed patch tarball. Stored
    // under a temporary name, checked (safe unpack, livepatch.json, a
    // module carrying an appended signature), then renamed into place and
    // listed in the catalogue under one lock: agents see the whole patch or
    // nothing. An existing file or version is never replaced.
    void uploadPatch(HTTPServerRequest& req, HTTPServerResponse& resp, const std::string& file, const Poco::URI& uri) {
        auto q = queryObject(uri);
        const std::string tier = knownTier(q, "tier", catalogueNow(catalogue())->tiers.front().name);
        if (req.getContentLength() > static_cast<std::streamsize>(sh_->opt.maxUploadBytes))
            return sendError(resp, 413, "too-large", "patch larger than the server's upload limit");
        const std::string& dir = sh_->patches->stagingDir();
        auto staged = stageUpload(req, dir);
        if (!staged) {
            const ErrorCode c = staged.error().code();
            return sendError(resp,
                             c == ErrorCode::TooLarge   ? 413
                             : c == ErrorCode::Protocol ? 400
                                                        : 500,
                             c == ErrorCode::TooLarge   ? "too-large"
                             : c == ErrorCode::Protocol ? "bad-request"
                                                        : "internal",
                             staged.error().message());
        }
        struct Cleanup {
            std::string path;
            ~Cleanup() {
                if (!path.empty()) ::unlink(path.c_str());
            }
        } cleanup{*staged};
        auto md = checkSignedPatch(*staged, dir);
        if (!md) return sendError(resp, 400, "bad-patch", md.error().message());
        auto s = publishStagedPatch(*sh_->patches, catalogue(), *staged, file, tier, *md);
        if (!s) {
            if (s.error().code() == ErrorCode::AlreadyEnabled)
                return sendError(resp, 409, "conflict", s.error().message());
            if (s.error().code() == ErrorCode::Network) throw StoreUnavailable(s.error().message());
            return sendError(resp, 500, "internal", "the catalogue cannot be updated");
        }
        Poco::JSON::Object out(Poco::JSON_PRESERVE_KEY_ORDER);
        out.set("file", file);
        out.set("name", md->name);
        out.set("version", md->version);
        out.set("kernel", md->kernel);
        out.set("architecture", md->architecture);
        out.set("tier", tier);
        sendObject(resp, 201, out);
    }

    // The request body in a new temporary file in dir (bounded by the
    // upload limit, whatever Content-Length said); its path.
    livepatch::Result<std::string> stageUpload(HTTPServerRequest& req, const std::string& dir) {
        std::string path = dir + "/.upload-XXXXXX";
        int fd = ::mkstemp(&path[0]);
        if (fd < 0) return Error(ErrorCode::Io, "cannot store the upload");
        livepatch::fs::UniqueFd out(fd);
        // Removed on every way out but success, a connection reset (an
        // exception from the stream) included: nothing half-received stays.
        struct Discard {
            std::string path;
            ~Discard() {
                if (!path.empty()) ::unlink(path.c_str());
            }
        } discard{path};
        ::fchmod(out.get(), 0644);
        char buf[65536];
        std::uint64_t total = 0;
        while (req.stream().good()) {
            req.stream().read(buf, sizeof buf);
            auto n = static_cast<std::size_t>(req.stream().gcount());
            total += n;
            if (total > sh_->opt.maxUploadBytes)
                return Error(ErrorCode::TooLarge, "patch larger than the server's upload limit");
            for (std::size_t off = 0; off < n;) {
                ssize_t w = ::write(out.get(), buf + off, n - off);
                if (w <= 0) return Error(ErrorCode::Io, "cannot store the upload");
                off += static_cast<std::size_t>(w);
            }
        }
        // A client that went away mid-body leaves an EOF, not an error:
        // what arrived is less than announced and is not a patch.
        if (req.getContentLength() != Poco::Net::HTTPMessage::UNKNOWN_CONTENT_LENGTH &&
            total != static_cast<std::uint64_t>(req.getContentLength()))
            return Error(ErrorCode::Protocol, "the upload ended before its Content-Length");
        if (::fsync(out.get()) != 0) return Error(ErrorCode::Io, "cannot store the upload");
        discard.path.clear();
        return path;
    }

    // Every machine, a page at a time; pending check-ins written first so
    // that the listing shows the latest reports.
    template <typename F>
    void forEachMachine(F&& fn) {
        must(sh_->store->flush());
        std::string after;
        for (;;) {
            auto page = must(sh_->store->machines(after, 5000));
            for (const auto& r : page) fn(r);
            if (page.size() < 5000) break;
            after = page.back().id;
        }
    }

    static Poco::JSON::Object::Ptr parsedReport(const std::string& report) {
        try {
            if (!report.empty()) return Poco::JSON::Parser().parse(report).extract<Poco::JSON::Object::Ptr>();
        } catch (...) {
        }
        return new Poco::JSON::Object;
    }

    // A string a machine reported: client input, so only short printable
    // text is passed on to an admin's terminal.
    static std::optional<std::string> reportField(const Poco::JSON::Object::Ptr& rep, const char* key) {
        if (!rep->has(key) || !rep->get(key).isString()) return std::nullopt;
        std::string v = rep->getValue<std::string>(key);
        if (v.empty() || !livepatch::isPrintableText(v, 128)) return std::nullopt;
        return v;
    }

    // Query parameters as an object, for field().
    static Poco::JSON::Object::Ptr queryObject(const Poco::URI& uri) {
        Poco::JSON::Object::Ptr q(new Poco::JSON::Object);
        for (const auto& kv : uri.getQueryParameters()) q->set(kv.first, kv.second);
        return q;
    }

    void listMachines(HTTPServerResponse& resp, const Poco::URI& uri) {
        auto q = queryObject(uri);
        const std::string after =
            q->has("after") ? field(q, "after", kMachineIdRe, "a machine id (32 hex digits)") : "";
        const std::size_t limit =
            std::stoul(field(q, "limit", kLimitRe, "a page size from 1 to 1000", std::string("100")));
        if (limit == 0 || limit > 1000) throw BadInput("limit: expected a page size from 1 to 1000");
        must(sh_->store->flush());
        auto page = must(sh_->store->machines(after, limit));
        Poco::JSON::Array list;
        for (const auto& r : page) {
            auto rep = parsedReport(r.report);
            Poco::JSON::Object e(Poco::JSON_PRESERVE_KEY_ORDER);
            e.set("id", r.id);
            e.set("tier", r.tier);
            e.set("kind", r.kind);
            e.set("registered",
                  livepatch::timeutil::formatRfc3339(std::chrono::system_clock::from_time_t(r.registered)));
            if (r.lastSeen)
                e.set("last-seen",
                      livepatch::timeutil::formatRfc3339(std::chrono::system_clock::from_time_t(r.lastSeen)));
            else e.set("last-seen", Poco::Dynamic::Var());
            for (const char* k :
                 {"kernel", "architecture", "patch-state", "patch-version", "check-state", "client-version"}) {
                auto v = reportField(rep, k);
                if (v) e.set(k, *v);
                else e.set(k, Poco::Dynamic::Var());
            }
            list.add(e);
        }
        Poco::JSON::Object out;
        out.set("machines", list);
        if (page.size() == limit) out.set("next", page.back().id);
        else out.set("next", Poco::Dynamic::Var());
        sendObject(resp, 200, out);
    }

    void fleet(HTTPServerResponse& resp) {
        std::map<std::string, std::map<std::string, std::size_t>> counts;
        std::size_t total = 0;
        forEachMachine([&](const MachineRow& r) {
            ++total;
            auto rep = parsedReport(r.report);
            auto value = [&](const char* k) { return reportField(rep, k).value_or("unknown"); };
            ++counts["kernels"][value("kernel")];
            ++counts["tiers"][r.tier];
            ++counts["patch-states"][r.lastSeen ? value("patch-state") : "never-checked-in"];
            ++counts["check-states"][r.lastSeen ? value("check-state") : "never-checked-in"];
        });
        Poco::JSON::Object out(Poco::JSON_PRESERVE_KEY_ORDER);
        out.set("machines", total);
        for (const char* k : {"kernels", "tiers", "patch-states", "check-states"}) {
            Poco::JSON::Object c(Poco::JSON_PRESERVE_KEY_ORDER);
            for (const auto& kv : counts[k]) c.set(kv.first, kv.second);
            out.set(k, c);
        }
        sendObject(resp, 200, out);
    }

    CatalogueStore& catalogue() const { return *sh_->catalogue; }
};

// Automatic promotion: a patch in a tier with a soak time moves on to the
// next tier once it has been in its tier that long and no machine of that
// tier on that kernel sent a failed health report since it entered. Every
// replica runs it; the catalogue lock and the re-check under it make a
// second replica's pass a no-op. Returns what moved, "file: from -> to".
livepatch::Result<std::vector<std::string>> autoPromote(Shared& sh) {
    CatalogueStore& catalogue = *sh.catalogue;
    auto cat = catalogue.snapshot();
    if (!cat) return cat.error();
    const auto& specs = (*cat)->tiers;
    std::map<std::string, std::pair<std::chrono::seconds, std::string>> soakThenNext;
    for (std::size_t i = 0; i + 1 < specs.size(); ++i)
        if (specs[i].soak) soakThenNext[specs[i].name] = {*specs[i].soak, specs[i + 1].name};
    if (soakThenNext.empty()) return std::vector<std::string>{};
    const auto now = std::chrono::system_clock::now();
    auto due = [&](const std::string& kernel, const std::string& tier,
                   const std::string& since) -> livepatch::Result<bool> {
        auto it = soakThenNext.find(tier);
        if (it == soakThenNext.end()) return false;
        auto entered = livepatch::timeutil::parseRfc3339(since);
        if (!entered || now - *entered < it->second.first) return false;  // no known entry time: never automatic
        auto failed = sh.store->healthFailureSince(
            tier, kernel, std::chrono::duration_cast<std::chrono::seconds>(entered->time_since_epoch()).count());
        if (!failed) return failed.error();
        return !*failed;
    };
    auto since = [](const std::string& tierSince, const std::string& published) {
        return tierSince.empty() ? published : tierSince;
    };
    // Candidates from the cached catalogue; only then the edit, which checks again.
    bool any = false;
    for (const auto& k : (*cat)->kernels)
        for (const auto& p : k.patches) {
            auto d = due(k.kernel, p.tier.empty() ? "stable" : p.tier, since(p.tierSince, p.published));
            if (!d) return d.error();
            any = any || *d;
        }
    std::vector<std::string> moved;
    if (!any) return moved;
    LP_TRY(catalogue.edit([&](YAML::Node& root) -> livepatch::Status {
        moved.clear();  // the edit may run again on a newer catalogue
        for (auto k : root["kernels"])
            for (auto p : k["patches"]) {
                const std::string tier = p["tier"] ? p["tier"].as<std::string>() : "stable";
                auto d = due(k["kernel"].as<std::string>(), tier,
                             since(p["tier-since"] ? p["tier-since"].as<std::string>() : "",
                                   p["published"] ? p["published"].as<std::string>() : ""));
                if (!d) return d.error();
                if (!*d) continue;
                const std::string next = soakThenNext[tier].second;
                p["tier"] = next;
                p["tier-since"] = livepatch::timeutil::formatRfc3339(now);
                moved.push_back(p["file"].as<std::string>() + ": " + tier + " -> " + next);
            }
        return {};
    }));
    return moved;
}

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
    std::thread promoter;
    std::thread tufSigner;
    std::mutex promoterMu;
    std::condition_variable promoterWake;
    bool promoterStop = false;

    bool keepTufFresh() {
        const auto now =
            std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
                .count();
        auto r = lpserver::keepTufFresh(shared->opt.tufRepo, shared->opt.tufOnlineKeys, now);
        if (!r) std::cerr << "TUF re-signing failed: " << r.error().message() << std::endl;
        else if (*r) std::cout << "TUF: re-signed the online metadata of " << shared->opt.tufRepo << std::endl;
        return static_cast<bool>(r);
    }

    void tufLoop() {
        std::unique_lock<std::mutex> l(promoterMu);
        while (!promoterWake.wait_for(l, shared->opt.tufResignInterval, [&] { return promoterStop; })) {
            l.unlock();
            (void)keepTufFresh();
            l.lock();
        }
    }

    void promoteLoop() {
        std::unique_lock<std::mutex> l(promoterMu);
        while (!promoterWake.wait_for(l, shared->opt.autoPromoteInterval, [&] { return promoterStop; })) {
            l.unlock();
            auto moved = autoPromote(*shared);
            if (!moved) {
                // Catalogue problems are the operator's to fix and safe to
                // show; anything else (the database) only by its kind.
                std::cerr << "auto-promotion skipped: "
                          << (moved.error().code() == ErrorCode::ConfigInvalid ? moved.error().message()
                                                                               : "the database is unavailable")
                          << std::endl;
            } else {
                for (const auto& m : *moved)
                    std::cout << "auto-promoted " << m << " (soak time passed, no failed health reports)" << std::endl;
            }
            l.lock();
        }
    }
};

Server::Server(ServerOptions options) : impl_(new Impl) {
    if (options.catalogue.empty()) options.catalogue = options.dataDir + "/catalogue.yaml";
    impl_->shared = std::make_unique<Shared>(std::move(options));
}

Server::~Server() { stop(); }

livepatch::Status Server::start() {
    auto& sh = *impl_->shared;
    if (!sh.opt.adminSsoHook.empty()) {
        LP_TRY(checkSsoHook(sh.opt.adminSsoHook));
        SsoHook::Options ho;
        ho.path = sh.opt.adminSsoHook;
        ho.timeout = sh.opt.adminSsoTimeout;
        sh.ssoHook = std::make_unique<SsoHook>(ho);
    }
    // The repository is fresh before the first agent asks (a server that was
    // down for a day would otherwise start by serving an expired timestamp).
    if (!sh.opt.tufOnlineKeys.empty() && !impl_->keepTufFresh())
        return Error(ErrorCode::ConfigInvalid, "cannot re-sign the TUF repository " + sh.opt.tufRepo);
    StoreOptions so;
    so.dataDir = sh.opt.dataDir;
    so.database = sh.opt.database;
    so.connections = sh.opt.databaseConnections
                         ? sh.opt.databaseConnections
                         : std::max<std::size_t>(2, 2 * std::max(1u, std::thread::hardware_concurrency()));
    so.flushInterval = sh.opt.flushInterval;
    auto store = Store::open(so);
    if (!store) return store.error();
    sh.store = std::move(*store);
    auto patches = openPatchStore(sh.opt.patchStore, sh.opt.dataDir, *sh.store, sh.opt.maxUploadBytes);
    if (!patches) return patches.error();
    sh.patches = std::move(*patches);
    auto catalogue = openCatalogueStore(sh.opt.catalogueStore, sh.opt.catalogue, *sh.store);
    if (!catalogue) return catalogue.error();
    sh.catalogue = std::move(*catalogue);
    sh.syncer = std::make_unique<Syncer>(sh.opt.sync, sh.opt.dataDir, *sh.catalogue, sh.opt.maxUploadBytes, *sh.store,
                                         *sh.patches);
    if (auto key = livepatch::fs::readFile(sh.opt.dataDir + "/macaroon-key", 4096)) sh.macaroonKey = *key;
    if (auto h = livepatch::fs::readFile(sh.opt.dataDir + "/admin-password", 1u << 20)) {
        auto users = AdminUsers::parse(*h);
        if (!users) return users.error();
        sh.adminUsers = std::move(*users);
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
                SSL_CTX_set_max_proto_version(ctx->sslContext(),
                                              sh.opt.tlsMaxVersion == "1.0" ? TLS1_VERSION : TLS1_1_VERSION);
            } else {
                SSL_CTX_set_min_proto_version(ctx->sslContext(), TLS1_2_VERSION);
            }
            impl_->socket = std::make_unique<Poco::Net::SecureServerSocket>(addr, 64, ctx);
        }
        auto* params = new Poco::Net::HTTPServerParams;
        params->setMaxThreads(static_cast<int>(sh.opt.threads));
        // Keep-alive: an agent's cycle (updates, the signed catalogue's
        // metadata, the download, the report) is several requests from one
        // worker process, which then exits and closes the connection. The
        // idle timeout bounds how long a quiet client holds a thread.
        params->setKeepAlive(true);
        params->setKeepAliveTimeout(Poco::Timespan(5, 0));
        params->setMaxKeepAliveRequests(100);
        impl_->http = std::make_unique<Poco::Net::HTTPServer>(new Factory(&sh), *impl_->socket, params);
        impl_->http->start();
        if (sh.opt.autoPromoteInterval.count() > 0) impl_->promoter = std::thread([this] { impl_->promoteLoop(); });
        sh.syncer->start();
        if (!sh.opt.tufOnlineKeys.empty()) impl_->tufSigner = std::thread([this] { impl_->tufLoop(); });
        sh.baseUrl = std::string(sh.opt.plain ? "http" : "https") + "://" + sh.opt.host + ":" + std::to_string(port());
        return {};
    } catch (const Poco::Exception& e) {
        return Error(ErrorCode::Io, "cannot start server: " + e.displayText());
    }
}

void Server::stop() {
    if (impl_->shared->syncer) impl_->shared->syncer->stop();
    if (impl_->promoter.joinable() || impl_->tufSigner.joinable()) {
        {
            std::lock_guard<std::mutex> l(impl_->promoterMu);
            impl_->promoterStop = true;
        }
        impl_->promoterWake.notify_all();
        if (impl_->promoter.joinable()) impl_->promoter.join();
        if (impl_->tufSigner.joinable()) impl_->tufSigner.join();
    }
    if (impl_->http) {
        impl_->shared->stopping = true;
        impl_->http->stopAll(true);
        for (int i = 0; i < 500 && impl_->shared->active > 0; ++i)
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        impl_->http.reset();
    }
}

unsigned short Server::port() const { return impl_->socket ? impl_->socket->address().port() : 0; }

std::string Server::baseUrl() const { return impl_->shared->baseUrl; }

}  // namespace lpserver
