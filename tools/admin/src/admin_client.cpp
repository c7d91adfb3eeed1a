#include "admin_client.h"

#include <sys/stat.h>

#include <Poco/JSON/Parser.h>
#include <Poco/Net/Context.h>
#include <Poco/Net/HTTPClientSession.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/Net/HTTPSClientSession.h>
#include <Poco/Net/NetException.h>
#include <Poco/StreamCopier.h>
#include <Poco/URI.h>

#include <cstdlib>
#include <functional>
#include <memory>
#include <sstream>

#include "util/fs.h"

namespace lpadmin {

using livepatch::Error;
using livepatch::ErrorCode;

livepatch::Result<std::string> sessionDir() {
    if (const char* d = std::getenv("LIVEPATCH_ADMIN_DIR"); d && *d) return std::string(d);
    const char* home = std::getenv("HOME");
    if (!home || !*home) return Error(ErrorCode::ConfigInvalid, "neither LIVEPATCH_ADMIN_DIR nor HOME is set");
    return std::string(home) + "/.config/livepatch-admin";
}

livepatch::Status saveSession(const Session& s) {
    auto dir = sessionDir();
    if (!dir) return dir.error();
    LP_TRY(livepatch::fs::ensurePrivateDir(*dir, 0700));
    Poco::JSON::Object o(Poco::JSON_PRESERVE_KEY_ORDER);
    o.set("server", s.server);
    o.set("ca-file", s.caFile);
    o.set("macaroon", s.macaroon);
    o.set("expires", s.expires);
    std::ostringstream out;
    o.stringify(out);
    return livepatch::fs::writeFileAtomic(*dir + "/session.json", out.str(), 0600);
}

livepatch::Result<Session> loadSession() {
    auto dir = sessionDir();
    if (!dir) return dir.error();
    const std::string path = *dir + "/session.json";
    struct stat st;
    if (::lstat(path.c_str(), &st) != 0)
        return Error(ErrorCode::NotFound, "not logged in: run livepatch-admin login --server URL --auth USER");
    if ((st.st_mode & 077) != 0 || st.st_uid != ::getuid())
        return Error(ErrorCode::Permission, path + " is readable by others or not yours: remove it and log in again");
    auto text = livepatch::fs::readFile(path, 64 * 1024);
    if (!text) return text.error();
    try {
        auto o = Poco::JSON::Parser().parse(*text).extract<Poco::JSON::Object::Ptr>();
        Session s{o->getValue<std::string>("server"), o->optValue<std::string>("ca-file", ""),
                  o->getValue<std::string>("macaroon"), o->optValue<std::string>("expires", "")};
        return s;
    } catch (...) {
        return Error(ErrorCode::StateCorrupt, path + " is damaged: log in again");
    }
}

bool validSsoAssertion(const std::string& assertion) {
    if (assertion.empty() || assertion.size() > kMaxSsoAssertionBytes) return false;
    for (unsigned char c : assertion)
        if (c < 0x21 || c > 0x7e) return false;
    return true;
}

namespace {
// A connection to the session's server: TLS verified against its CA file
// (or the system's CAs); an error for a URL that is neither https nor http.
livepatch::Result<std::unique_ptr<Poco::Net::HTTPClientSession>> connect(const Session& s, const Poco::URI& base) {
    std::unique_ptr<Poco::Net::HTTPClientSession> http;
    if (base.getScheme() == "https") {
        Poco::Net::Context::Params params;
        params.verificationMode = Poco::Net::Context::VERIFY_STRICT;
        params.caLocation = s.caFile;
        params.loadDefaultCAs = s.caFile.empty();
        Poco::Net::Context::Ptr ctx = new Poco::Net::Context(Poco::Net::Context::TLS_CLIENT_USE, params);
        http = std::make_unique<Poco::Net::HTTPSClientSession>(base.getHost(), base.getPort(), ctx);
    } else if (base.getScheme() == "http") {
        http = std::make_unique<Poco::Net::HTTPClientSession>(base.getHost(), base.getPort());
    } else {
        return Error(ErrorCode::ConfigInvalid, "server URL must start with https:// (or http:// on a trusted network)");
    }
    http->setTimeout(Poco::Timespan(120, 0));
    return http;
}
}  // namespace

livepatch::Result<Response> request(const Session& s, const std::string& method, const std::string& path,
                                    const std::string& credentials, const std::string& body, std::istream* upload,
                                    std::uint64_t uploadSize, const Headers& headers) {
    try {
        Poco::URI base(s.server);
        auto connected = connect(s, base);
        if (!connected) return connected.error();
        auto& http = *connected;
        Poco::Net::HTTPRequest req(method, base.getPath() + path, Poco::Net::HTTPMessage::HTTP_1_1);
        if (!credentials.empty()) req.set("Authorization", credentials);
        for (const auto& h : headers) req.set(h.first, h.second);
        if (upload) {
            req.setContentType("application/octet-stream");
            req.setContentLength(static_cast<std::streamsize>(uploadSize));
            Poco::StreamCopier::copyStream(*upload, http->sendRequest(req));
        } else {
            if (!body.empty() && !req.has("Content-Type")) req.setContentType("application/json");
            req.setContentLength(static_cast<std::streamsize>(body.size()));
            http->sendRequest(req) << body;
        }
        Poco::Net::HTTPResponse resp;
        std::istream& in = http->receiveResponse(resp);
        Response r;
        r.status = resp.getStatus();
        r.etag = resp.get("ETag", "");
        char buf[8192];
        while (in.good() && r.body.size() < (64u << 20)) {
            in.read(buf, sizeof buf);
            r.body.append(buf, static_cast<std::size_t>(in.gcount()));
        }
        return r;
    } catch (const Poco::Exception& e) {
        // displayText names the host and the failure, never the headers.
        return Error(ErrorCode::Network, "cannot reach " + livepatch::terminalSafe(s.server) + ": " +
                                             livepatch::terminalSafe(e.displayText()));
    }
}

livepatch::Result<FetchResult> fetch(const Session& s, const std::string& path, const std::string& credentials,
                                     std::uint64_t from, std::uint64_t maxBytes,
                                     const std::function<bool(const char*, std::size_t)>& sink) {
    FetchResult out;
    try {
        Poco::URI base(s.server);
        auto connected = connect(s, base);
        if (!connected) return connected.error();
        auto& http = *connected;
        Poco::Net::HTTPRequest req("GET", base.getPath() + path, Poco::Net::HTTPMessage::HTTP_1_1);
        if (!credentials.empty()) req.set("Authorization", credentials);
        if (from > 0) req.set("Range", "bytes=" + std::to_string(from) + "-");
        http->sendRequest(req);
        Poco::Net::HTTPResponse resp;
        std::istream& in = http->receiveResponse(resp);
        out.status = resp.getStatus();
        out.contentRange = resp.get("Content-Range", "");
        char buf[65536];
        std::uint64_t drained = 0;
        while (in.good()) {
            in.read(buf, sizeof buf);
            const auto n = static_cast<std::size_t>(in.gcount());
            if (n == 0) break;
            // An error body is drained, not kept, and only so far: the
            // connection is not reused, and an endless one must not hold the
            // caller (a sync run) forever.
            if (out.status < 200 || out.status >= 300) {
                if ((drained += n) > (64u << 10)) break;
                continue;
            }
            if (out.received + n > maxBytes) return Error(ErrorCode::TooLarge, "the server sent more than announced");
            out.received += n;
            if (!sink(buf, n)) return Error(ErrorCode::Io, "cannot store the download");
        }
        return out;
    } catch (const Poco::Exception& e) {
        // What was received so far is kept by the sink: the caller resumes.
        return Error(ErrorCode::Network, "transfer from " + livepatch::terminalSafe(s.server) + " interrupted after " +
                                             std::to_string(out.received) +
                                             " bytes: " + livepatch::terminalSafe(e.displayText()));
    }
}

std::string serverMessage(const Response& r) {
    std::string message;
    try {
        message =
            Poco::JSON::Parser().parse(r.body).extract<Poco::JSON::Object::Ptr>()->optValue<std::string>("message", "");
    } catch (...) {
    }
    if (message.size() > 200) message.resize(200);
    return livepatch::terminalSafe(message);
}

namespace {
livepatch::Result<Response> checked(const livepatch::Result<Response>& r) {
    if (!r) return r.error();
    if (r->status >= 200 && r->status < 300) return *r;
    if (r->status == 401)
        return Error(ErrorCode::TokenInvalid,
                     "the server refused the credentials (401): log in again with livepatch-admin login");
    const std::string message = serverMessage(*r);
    return Error(ErrorCode::HttpStatus,
                 "the server answered " + std::to_string(r->status) + (message.empty() ? "" : ": " + message));
}
}  // namespace

livepatch::Result<Poco::JSON::Object::Ptr> expectJson(const livepatch::Result<Response>& r) {
    auto ok = checked(r);
    if (!ok) return ok.error();
    try {
        return Poco::JSON::Parser().parse(ok->body).extract<Poco::JSON::Object::Ptr>();
    } catch (...) {
        return Error(ErrorCode::Protocol, "the server's answer is not a JSON object");
    }
}

livepatch::Status expectSuccess(const livepatch::Result<Response>& r) {
    auto ok = checked(r);
    if (!ok) return ok.error();
    return {};
}

}  // namespace lpadmin
