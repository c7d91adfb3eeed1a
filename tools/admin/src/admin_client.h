// The admin session (server URL + admin macaroon, kept 0600 in a 0700
// directory: $LIVEPATCH_ADMIN_DIR, else ~/.config/livepatch-admin) and the
// HTTP calls of the admin API. The macaroon is a secret: it goes only into
// the session file and the Authorization header, never to output or errors.
#pragma once

#include <Poco/JSON/Object.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <istream>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "livepatch/error.h"
#include "livepatch/text.h"

namespace lpadmin {

struct Session {
    std::string server;  // base URL, e.g. https://patches.example:8443
    std::string caFile;  // "" = the system's CAs
    std::string macaroon;
    std::string expires;  // RFC 3339, shown by login
};

// $LIVEPATCH_ADMIN_DIR, else $HOME/.config/livepatch-admin.
livepatch::Result<std::string> sessionDir();
livepatch::Status saveSession(const Session& s);
// NotFound ("not logged in") when there is none; refused when the file is
// readable by others (someone could have copied the credential).
livepatch::Result<Session> loadSession();

struct Response {
    int status = 0;
    std::string body;
    std::string etag;  // the ETag header, "" if none
};

// An SSO assertion (OIDC token, SAML artefact: opaque) as it travels in
// "Authorization: Bearer <assertion>": 1 to kMaxSsoAssertionBytes of printable
// ASCII without spaces, so it cannot break the header. The bound is what fits
// in the 8192 bytes the server's HTTP layer takes for a header value. One
// check for livepatch-admin (before the header is built) and the server.
inline constexpr std::size_t kMaxSsoAssertionBytes = 8192 - 7;
bool validSsoAssertion(const std::string& assertion);

// One request. credentials: "Basic ..." or "Macaroon ..." for the
// Authorization header. A body stream (uploads) is sent with its size.
// headers: more request headers (If-Match, Content-Type), set by the caller
// from values it checked.
using Headers = std::vector<std::pair<std::string, std::string>>;
livepatch::Result<Response> request(const Session& s, const std::string& method, const std::string& path,
                                    const std::string& credentials, const std::string& body = "",
                                    std::istream* upload = nullptr, std::uint64_t uploadSize = 0,
                                    const Headers& headers = {});

// A GET whose body goes to `sink` as it arrives (false from sink: stop),
// from byte `from` on (a Range request) when from > 0; more than maxBytes is
// refused. Bytes already passed to the sink stay there when the transfer
// breaks, so that the caller can resume. Used by livepatch-server's
// upstream sync: one HTTP client for the admin tool and the server.
struct FetchResult {
    int status = 0;
    std::string contentRange;    // the Content-Range header, "" if none
    std::uint64_t received = 0;  // body bytes passed to the sink
};
livepatch::Result<FetchResult> fetch(const Session& s, const std::string& path, const std::string& credentials,
                                     std::uint64_t from, std::uint64_t maxBytes,
                                     const std::function<bool(const char*, std::size_t)>& sink);

// The "message" of the server's error body (error.schema.json), at most 200
// bytes and safe for a terminal; "" if there is none.
std::string serverMessage(const Response& r);

// A 2xx JSON object, or an error that says what went wrong in one line
// (the server's own message for 4xx, "log in again" for 401).
livepatch::Result<Poco::JSON::Object::Ptr> expectJson(const livepatch::Result<Response>& r);
livepatch::Status expectSuccess(const livepatch::Result<Response>& r);

}  // namespace lpadmin
