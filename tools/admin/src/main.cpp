// livepatch-admin: administer a livepatch-server through its admin API.
// Verbs follow the established on-prem product's admin tool (login --auth,
// tier list, patch promote, auth-token add) so its admins feel at home.
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <Poco/JSON/Array.h>
#include <Poco/Net/HTTPBasicCredentials.h>
#include <Poco/Net/HTTPRequest.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <iomanip>
#include <iostream>
#include <map>
#include <regex>
#include <sstream>
#include <vector>

#include "admin_client.h"
#include "util/fs.h"

namespace {

using livepatch::Error;
using livepatch::ErrorCode;
using livepatch::terminalSafe;

const char* kUsage =
    "livepatch-admin login --server URL --auth USER[:PASSWORD] [--ca-file PEM] [--valid-for 1h]\n"
    "                (no :PASSWORD: read from the terminal or stdin)\n"
    "livepatch-admin login --server URL --sso [--sso-assertion-file FILE] [--ca-file PEM] [--valid-for 1h]\n"
    "                (the IdP's assertion from FILE, else from the terminal or stdin)\n"
    "livepatch-admin tier list\n"
    "livepatch-admin catalogue get          (the YAML document on stdout, its etag on stderr)\n"
    "livepatch-admin catalogue put FILE (--if-match ETAG | --force)\n"
    "livepatch-admin catalogue edit         (in $VISUAL or $EDITOR, then put if it changed)\n"
    "livepatch-admin patch upload FILE [--tier TIER]\n"
    "livepatch-admin patch promote VERSION TIER [--name NAME] [--kernel KERNEL]\n"
    "livepatch-admin auth-token add TIER\n"
    "livepatch-admin auth-token revoke          (reads the token from stdin)\n"
    "livepatch-admin sync-tokens add TIER NAME [--valid-until RFC3339]   (prints the token, once)\n"
    "livepatch-admin sync-tokens list [--format table|json]\n"
    "livepatch-admin sync-tokens revoke NAME\n"
    "livepatch-admin sync trigger [--wait]\n"
    "livepatch-admin sync reports [--limit N] [--format table|json]\n"
    "livepatch-admin resource-token mint [--tier TIER] [--expires RFC3339]   (prints the token)\n"
    "livepatch-admin machines [--format table|json]\n"
    "livepatch-admin fleet [--format table|json]\n"
    "The session (server URL + admin macaroon) is kept 0600 in $LIVEPATCH_ADMIN_DIR\n"
    "or ~/.config/livepatch-admin.\n";

struct UsageError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// Positional words and --options of one verb; unknown options are refused.
struct Args {
    std::vector<std::string> words;
    std::map<std::string, std::string> options;
    // flags: options without a value (--wait), stored as "1".
    Args(int argc, char** argv, int from, const std::vector<std::string>& allowed,
         const std::vector<std::string>& flags = {}) {
        for (int i = from; i < argc; ++i) {
            std::string a = argv[i];
            if (a.rfind("--", 0) != 0) {
                words.push_back(a);
                continue;
            }
            if (std::find(flags.begin(), flags.end(), a) != flags.end()) {
                options[a] = "1";
                continue;
            }
            std::string value;
            auto eq = a.find('=');
            if (eq != std::string::npos) {
                value = a.substr(eq + 1);
                a = a.substr(0, eq);
            } else if (i + 1 < argc) {
                value = argv[++i];
            } else {
                throw UsageError("missing value for " + a);
            }
            if (std::find(allowed.begin(), allowed.end(), a) == allowed.end())
                throw UsageError("unknown option " + terminalSafe(a));
            options[a] = value;
        }
    }
    std::string opt(const std::string& name, const std::string& def = "") const {
        auto it = options.find(name);
        return it == options.end() ? def : it->second;
    }
    void expectWords(std::size_t n) const {
        if (words.size() != n) throw UsageError("expected " + std::to_string(n) + " argument(s)");
    }
};

std::string basicCredentials(const std::string& user, const std::string& password) {
    Poco::Net::HTTPRequest req;
    Poco::Net::HTTPBasicCredentials(user, password).authenticate(req);
    return req.get("Authorization");
}

// One line from stdin, without echo when it is a terminal.
std::string readSecretLine(const char* prompt) {
    termios old{};
    const bool tty = ::isatty(STDIN_FILENO) && ::tcgetattr(STDIN_FILENO, &old) == 0;
    if (tty) {
        std::cerr << prompt << std::flush;
        termios quiet = old;
        quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
        ::tcsetattr(STDIN_FILENO, TCSANOW, &quiet);
    }
    std::string line;
    std::getline(std::cin, line);
    if (tty) {
        ::tcsetattr(STDIN_FILENO, TCSANOW, &old);
        std::cerr << "\n";
    }
    if (!line.empty() && line.back() == '\r') line.pop_back();
    return line;
}

livepatch::Status login(const Args& a) {
    a.expectWords(0);
    lpadmin::Session s;
    s.server = a.opt("--server", std::getenv("LIVEPATCH_ADMIN_SERVER") ? std::getenv("LIVEPATCH_ADMIN_SERVER") : "");
    if (s.server.empty()) throw UsageError("login needs --server URL (or LIVEPATCH_ADMIN_SERVER)");
    while (!s.server.empty() && s.server.back() == '/') s.server.pop_back();
    s.caFile = a.opt("--ca-file");
    const bool sso = a.options.count("--sso") || a.options.count("--sso-assertion-file");
    const std::string auth = a.opt("--auth");
    if (sso == !auth.empty()) throw UsageError("login needs either --auth USER[:PASSWORD] or --sso");
    std::string user, credentials;
    if (sso) {
        // Never from argv or the environment, which other users can read in /proc.
        std::string assertion;
        if (a.options.count("--sso-assertion-file")) {
            auto text = livepatch::fs::readFile(a.opt("--sso-assertion-file"), 64 * 1024);
            if (!text) return text.error().wrap("--sso-assertion-file");
            assertion = *text;
            while (!assertion.empty() && std::isspace(static_cast<unsigned char>(assertion.back())))
                assertion.pop_back();
        } else {
            assertion = readSecretLine("SSO assertion: ");
        }
        if (!lpadmin::validSsoAssertion(assertion))
            return Error(ErrorCode::InvalidArgument, "the SSO assertion must be 1 to " +
                                                         std::to_string(lpadmin::kMaxSsoAssertionBytes) +
                                                         " printable ASCII characters without spaces");
        credentials = "Bearer " + assertion;
    } else {
        const auto colon = auth.find(':');
        user = auth.substr(0, colon);
        credentials =
            basicCredentials(user, colon == std::string::npos ? readSecretLine("password: ") : auth.substr(colon + 1));
    }
    std::string body;
    if (a.options.count("--valid-for")) {
        Poco::JSON::Object o;
        o.set("valid-for", a.opt("--valid-for"));
        std::ostringstream out;
        o.stringify(out);
        body = out.str();
    }
    auto answer = lpadmin::request(s, "POST", "/admin/login", credentials, body);
    // Why an SSO login was refused (not configured, a malformed assertion) is the server's to say.
    if (sso && answer && answer->status == 401)
        return Error(ErrorCode::TokenInvalid,
                     "the server refused the SSO login (401): " + lpadmin::serverMessage(*answer));
    auto r = lpadmin::expectJson(answer);
    if (!r) return r.error();
    s.macaroon = (*r)->optValue<std::string>("macaroon", "");
    s.expires = (*r)->optValue<std::string>("expires", "");
    if (s.macaroon.empty()) return Error(ErrorCode::Protocol, "the server's login answer has no macaroon");
    LP_TRY(lpadmin::saveSession(s));
    std::cout << "logged in to " << terminalSafe(s.server) << (sso ? " by SSO" : " as " + terminalSafe(user))
              << " until " << terminalSafe(s.expires) << "\n";
    return {};
}

// A call with the stored admin macaroon.
livepatch::Result<lpadmin::Response> call(const std::string& method, const std::string& path,
                                          const std::string& body = "", std::istream* upload = nullptr,
                                          std::uint64_t size = 0, const lpadmin::Headers& headers = {}) {
    auto s = lpadmin::loadSession();
    if (!s) return s.error();
    return lpadmin::request(*s, method, path, "Macaroon " + s->macaroon, body, upload, size, headers);
}

std::string jsonBody(const std::map<std::string, std::string>& fields) {
    Poco::JSON::Object o;
    for (const auto& kv : fields) o.set(kv.first, kv.second);
    std::ostringstream out;
    o.stringify(out);
    return out.str();
}

std::string str(const Poco::JSON::Object::Ptr& o, const std::string& key) {
    if (!o || !o->has(key) || o->isNull(key)) return "-";
    return terminalSafe(o->get(key).toString());
}

void printTable(const std::vector<std::string>& header, const std::vector<std::vector<std::string>>& rows) {
    std::vector<std::size_t> width(header.size());
    for (std::size_t c = 0; c < header.size(); ++c) {
        width[c] = header[c].size();
        for (const auto& r : rows) width[c] = std::max(width[c], r[c].size());
    }
    auto line = [&](const std::vector<std::string>& cells) {
        for (std::size_t c = 0; c < cells.size(); ++c)
            std::cout << (c + 1 == cells.size() ? cells[c]
                                                : cells[c] + std::string(width[c] - cells[c].size() + 2, ' '));
        std::cout << "\n";
    };
    line(header);
    for (const auto& r : rows) line(r);
}

// A listing as --format asks: the server's JSON as it came, or a table with
// one row per element of `list`, columns named by their JSON field.
struct Column {
    const char* header;
    const char* field;
};
livepatch::Status printListing(const std::string& format, const Poco::JSON::Object::Ptr& document,
                               const Poco::JSON::Array::Ptr& list, const std::vector<Column>& columns) {
    if (format == "json") {
        document->stringify(std::cout);
        std::cout << "\n";
        return {};
    }
    std::vector<std::string> header;
    for (const auto& c : columns) header.push_back(c.header);
    std::vector<std::vector<std::string>> rows;
    for (std::size_t i = 0; list && i < list->size(); ++i) {
        rows.emplace_back();
        for (const auto& c : columns) rows.back().push_back(str(list->getObject(i), c.field));
    }
    printTable(header, rows);
    return {};
}

std::string format(const Args& a) {
    std::string f = a.opt("--format", "table");
    if (f != "table" && f != "json") throw UsageError("--format: expected table or json");
    return f;
}

livepatch::Status tierList(const Args& a) {
    a.expectWords(0);
    auto r = lpadmin::expectJson(call("GET", "/admin/tiers"));
    if (!r) return r.error();
    std::vector<std::vector<std::string>> rows;
    auto tiers = (*r)->getArray("tiers");
    for (std::size_t i = 0; tiers && i < tiers->size(); ++i) {
        auto t = tiers->getObject(i);
        std::string patches;
        auto ps = t->getArray("patches");
        for (std::size_t j = 0; ps && j < ps->size(); ++j)
            patches += (patches.empty() ? "" : " ") + str(ps->getObject(j), "name") + "@" +
                       str(ps->getObject(j), "version") + "(" + str(ps->getObject(j), "kernel") + ")";
        rows.push_back({str(t, "name"), str(t, "soak"), str(t, "machines"), str(t, "auth-tokens"),
                        patches.empty() ? "-" : patches});
    }
    printTable({"TIER", "SOAK", "MACHINES", "AUTH-TOKENS", "PATCHES"}, rows);
    return {};
}

livepatch::Status patchUpload(const Args& a) {
    a.expectWords(1);
    const std::string path = a.words[0];
    const std::string name = path.substr(path.rfind('/') == std::string::npos ? 0 : path.rfind('/') + 1);
    static const std::regex fileRe("^[A-Za-z0-9][A-Za-z0-9._+-]{0,199}$");
    if (!std::regex_match(name, fileRe))
        return Error(ErrorCode::InvalidArgument,
                     "the patch file name must be 1-200 of [A-Za-z0-9._+-], starting with a letter or digit");
    std::ifstream in(path, std::ios::binary);
    if (!in) return Error(ErrorCode::Io, "cannot read " + terminalSafe(path));
    in.seekg(0, std::ios::end);
    const auto size = static_cast<std::uint64_t>(in.tellg());
    in.seekg(0);
    std::string query;
    if (a.options.count("--tier")) {
        static const std::regex tierRe("^[a-z0-9][a-z0-9._-]{0,31}$");
        if (!std::regex_match(a.opt("--tier"), tierRe))
            return Error(ErrorCode::InvalidArgument, "--tier: expected a tier name ([a-z0-9._-], at most 32)");
        query = "?tier=" + a.opt("--tier");
    }
    auto r = lpadmin::expectJson(call("PUT", "/admin/patches/" + name + query, "", &in, size));
    if (!r) return r.error();
    std::cout << "uploaded " << str(*r, "name") << " version " << str(*r, "version") << " for " << str(*r, "kernel")
              << " (" << str(*r, "architecture") << ") to tier " << str(*r, "tier") << "\n";
    return {};
}

// The catalogue as a document (GET/PUT /admin/catalogue): edited by hand
// on any catalogue store, replaced only if nobody changed it meanwhile.
struct CatalogueCopy {
    std::string text, etag;
};

livepatch::Result<CatalogueCopy> fetchCatalogue() {
    auto r = call("GET", "/admin/catalogue");
    LP_TRY(lpadmin::expectSuccess(r));
    static const std::regex etagRe("^\"([0-9a-f]{64})\"$");
    std::smatch m;
    if (!std::regex_match(r->etag, m, etagRe))
        return Error(ErrorCode::Protocol, "the server's catalogue came without a valid ETag");
    // It goes to a terminal or an editor as it is: lines of UTF-8 text
    // without control characters (escape sequences), or nothing.
    if (!livepatch::isPrintableLines(r->body, 16u << 20, /*allowCarriageReturn=*/false))
        return Error(ErrorCode::Protocol, "the server's catalogue is not plain text (control characters); not shown");
    return CatalogueCopy{r->body, m[1]};
}

// ifMatch: the etag the edit started from, or "" for any (--force).
livepatch::Status putCatalogue(const std::string& text, const std::string& ifMatch) {
    auto r = call("PUT", "/admin/catalogue", text, nullptr, 0,
                  {{"If-Match", ifMatch.empty() ? "*" : "\"" + ifMatch + "\""}, {"Content-Type", "application/yaml"}});
    if (r && r->status == 412)
        return Error(ErrorCode::Stale,
                     "the catalogue changed since it was read (someone else edited it): get it again");
    LP_TRY(lpadmin::expectSuccess(r));
    std::cout << "catalogue replaced\n";
    return {};
}

livepatch::Status catalogueGet(const Args& a) {
    a.expectWords(0);
    auto c = fetchCatalogue();
    if (!c) return c.error();
    std::cout << c->text;
    std::cerr << "etag: " << c->etag << "\n";
    return {};
}

livepatch::Status cataloguePut(const Args& a) {
    a.expectWords(1);
    const bool force = a.options.count("--force") > 0;
    static const std::regex etagRe("^[0-9a-f]{64}$");
    if (force == a.options.count("--if-match") > 0)
        throw UsageError(
            "say which catalogue this edit is based on: --if-match ETAG (as catalogue get printed it), "
            "or --force to replace whatever is there");
    if (!force && !std::regex_match(a.opt("--if-match"), etagRe))
        throw UsageError("--if-match: expected the 64 hex digits catalogue get printed");
    auto text = livepatch::fs::readFile(a.words[0], 16u << 20);
    if (!text) return Error(text.error().code(), "cannot read " + terminalSafe(a.words[0]));
    return putCatalogue(*text, force ? "" : a.opt("--if-match"));
}

// kubectl-edit style: a 0600 temporary copy in the editor; put with the
// etag it was read with; a refused edit keeps the file for another try.
livepatch::Status catalogueEdit(const Args& a) {
    a.expectWords(0);
    auto c = fetchCatalogue();
    if (!c) return c.error();
    const char* tmp = std::getenv("TMPDIR");
    std::string path = std::string(tmp && *tmp ? tmp : "/tmp") + "/livepatch-catalogue-XXXXXX.yaml";
    int fd = ::mkstemps(&path[0], 5);
    if (fd < 0) return Error(ErrorCode::Io, "cannot create a temporary file for the edit");
    ::close(fd);
    LP_TRY(livepatch::fs::writeFileAtomic(path, c->text, 0600));
    const char* visual = std::getenv("VISUAL");
    const char* editor = std::getenv("EDITOR");
    std::string command = visual && *visual ? visual : editor && *editor ? editor : "vi";
    // The editor may carry arguments ("code -w"): split on spaces, no shell.
    std::vector<std::string> words;
    std::istringstream split(command);
    for (std::string w; split >> w;) words.push_back(w);
    words.push_back(path);
    std::vector<char*> argv;
    for (auto& w : words) argv.push_back(&w[0]);
    argv.push_back(nullptr);
    pid_t pid = ::fork();
    if (pid == 0) {
        ::execvp(argv[0], argv.data());
        _exit(127);
    }
    int status = 0;
    if (pid < 0 || ::waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        ::unlink(path.c_str());
        return Error(ErrorCode::Cancelled, "the editor (" + terminalSafe(words[0]) + ") failed; nothing changed");
    }
    auto edited = livepatch::fs::readFile(path, 16u << 20);
    if (!edited) return edited.error();
    if (*edited == c->text) {
        ::unlink(path.c_str());
        std::cout << "no change\n";
        return {};
    }
    auto s = putCatalogue(*edited, c->etag);
    if (!s) return Error(s.error().code(), s.error().message() + "; your edit is kept in " + path);
    ::unlink(path.c_str());
    return {};
}

livepatch::Status patchPromote(const Args& a) {
    a.expectWords(2);
    std::map<std::string, std::string> body = {{"version", a.words[0]}, {"tier", a.words[1]}};
    if (a.options.count("--name")) body["name"] = a.opt("--name");
    if (a.options.count("--kernel")) body["kernel"] = a.opt("--kernel");
    auto r = lpadmin::expectJson(call("POST", "/admin/patches/promote", jsonBody(body)));
    if (!r) return r.error();
    auto moved = (*r)->getArray("promoted");
    for (std::size_t i = 0; moved && i < moved->size(); ++i) {
        auto m = moved->getObject(i);
        std::cout << "promoted " << str(m, "file") << " (" << str(m, "kernel") << ") from " << str(m, "from") << " to "
                  << str(m, "to") << "\n";
    }
    return {};
}

livepatch::Status authTokenAdd(const Args& a) {
    a.expectWords(1);
    auto r = lpadmin::expectJson(call("POST", "/admin/tokens", jsonBody({{"tier", a.words[0]}})));
    if (!r) return r.error();
    // The one place a token is shown: creating it is asking for it.
    std::cout << str(*r, "token") << "\n";
    return {};
}

livepatch::Status authTokenRevoke(const Args& a) {
    a.expectWords(0);  // not on the command line: argv is visible to every user
    const std::string token = readSecretLine("auth token to revoke: ");
    if (token.empty()) return Error(ErrorCode::InvalidArgument, "no token on stdin");
    auto r = call("POST", "/admin/tokens/revoke", jsonBody({{"token", token}}));
    if (r && r->status == 404) return Error(ErrorCode::NotFound, "no such auth token");
    LP_TRY(lpadmin::expectSuccess(r));
    std::cout << "revoked\n";
    return {};
}

livepatch::Status syncTokenAdd(const Args& a) {
    a.expectWords(2);
    std::map<std::string, std::string> body = {{"tier", a.words[0]}, {"name", a.words[1]}};
    if (a.options.count("--valid-until")) body["valid-until"] = a.opt("--valid-until");
    auto r = lpadmin::expectJson(call("POST", "/admin/sync-tokens", jsonBody(body)));
    if (!r) return r.error();
    // The one time the token is shown: the server keeps only its digest.
    std::cout << str(*r, "token") << "\n";
    return {};
}

livepatch::Status syncTokenList(const Args& a) {
    a.expectWords(0);
    const std::string f = format(a);
    auto r = lpadmin::expectJson(call("GET", "/admin/sync-tokens"));
    if (!r) return r.error();
    return printListing(f, *r, (*r)->getArray("sync-tokens"),
                        {{"NAME", "name"},
                         {"TIER", "tier"},
                         {"VALID-UNTIL", "valid-until"},
                         {"EXPIRED", "expired"},
                         {"CREATED", "created"}});
}

livepatch::Status syncTokenRevoke(const Args& a) {
    a.expectWords(1);  // by name: the token itself is never needed again
    auto r = call("POST", "/admin/sync-tokens/revoke", jsonBody({{"name", a.words[0]}}));
    if (r && r->status == 404) return Error(ErrorCode::NotFound, "no such sync token");
    LP_TRY(lpadmin::expectSuccess(r));
    std::cout << "revoked\n";
    return {};
}

void printReport(const Poco::JSON::Object::Ptr& r) {
    std::cout << str(r, "started") << "  " << str(r, "finished") << "  " << str(r, "result") << "  added "
              << str(r, "added");
    if (r->has("error") && !r->isNull("error")) std::cout << "  " << str(r, "error");
    std::cout << "\n";
}

livepatch::Status syncTrigger(const Args& a) {
    a.expectWords(0);
    const bool wait = a.options.count("--wait") > 0;
    auto r = lpadmin::expectJson(call("POST", "/admin/sync", wait ? "{\"wait\":true}" : "{}"));
    if (!r) return r.error();
    if (!wait) {
        std::cout << "sync triggered\n";
        return {};
    }
    printReport(*r);
    // --wait: the exit status says whether the run succeeded.
    if (str(*r, "result") != "ok") return Error(ErrorCode::Network, "the sync failed: " + str(*r, "error"));
    return {};
}

livepatch::Status syncReports(const Args& a) {
    a.expectWords(0);
    const std::string f = format(a);
    std::string query;
    if (a.options.count("--limit")) {
        static const std::regex limitRe("^[0-9]{1,4}$");
        if (!std::regex_match(a.opt("--limit"), limitRe)) throw UsageError("--limit: expected a count from 1 to 1000");
        query = "?limit=" + a.opt("--limit");
    }
    auto r = lpadmin::expectJson(call("GET", "/admin/sync/reports" + query));
    if (!r) return r.error();
    return printListing(f, *r, (*r)->getArray("reports"),
                        {{"STARTED", "started"},
                         {"FINISHED", "finished"},
                         {"RESULT", "result"},
                         {"ADDED", "added"},
                         {"ERROR", "error"}});
}

livepatch::Status resourceTokenMint(const Args& a) {
    a.expectWords(0);
    std::map<std::string, std::string> body;
    if (a.options.count("--tier")) body["tier"] = a.opt("--tier");
    if (a.options.count("--expires")) body["expires"] = a.opt("--expires");
    auto r = lpadmin::expectJson(call("POST", "/admin/resource-tokens", jsonBody(body)));
    if (!r) return r.error();
    // Minting is asking for the token: the one place it is shown.
    std::cout << str(*r, "token") << "\n";
    return {};
}

livepatch::Status machines(const Args& a) {
    a.expectWords(0);
    const std::string f = format(a);
    Poco::JSON::Array all;
    std::string after;
    for (;;) {
        auto r =
            lpadmin::expectJson(call("GET", "/admin/machines?limit=1000" + (after.empty() ? "" : "&after=" + after)));
        if (!r) return r.error();
        auto page = (*r)->getArray("machines");
        for (std::size_t i = 0; page && i < page->size(); ++i) all.add(page->getObject(i));
        static const std::regex idRe("^[0-9a-f]{32}$");
        const std::string next = (*r)->has("next") && !(*r)->isNull("next") ? (*r)->getValue<std::string>("next") : "";
        if (next.empty()) break;
        if (!std::regex_match(next, idRe) || next <= after)
            return Error(ErrorCode::Protocol, "the server's machine listing does not advance");
        after = next;
    }
    if (f == "json") {
        all.stringify(std::cout);
        std::cout << "\n";
        return {};
    }
    std::vector<std::vector<std::string>> rows;
    for (std::size_t i = 0; i < all.size(); ++i) {
        auto m = all.getObject(i);
        rows.push_back({str(m, "id"), str(m, "tier"), str(m, "kernel"), str(m, "patch-state"), str(m, "patch-version"),
                        str(m, "check-state"), str(m, "last-seen")});
    }
    printTable({"MACHINE", "TIER", "KERNEL", "PATCH-STATE", "PATCH-VERSION", "CHECK-STATE", "LAST-SEEN"}, rows);
    return {};
}

livepatch::Status fleet(const Args& a) {
    a.expectWords(0);
    const std::string f = format(a);
    auto r = lpadmin::expectJson(call("GET", "/admin/fleet"));
    if (!r) return r.error();
    if (f == "json") {
        (*r)->stringify(std::cout);
        std::cout << "\n";
        return {};
    }
    std::cout << "machines: " << str(*r, "machines") << "\n";
    for (const char* group : {"kernels", "tiers", "patch-states", "check-states"}) {
        std::cout << group << ":\n";
        auto g = (*r)->getObject(group);
        if (!g) continue;
        for (const auto& k : g->getNames()) std::cout << "  " << terminalSafe(k) << ": " << str(g, k) << "\n";
    }
    return {};
}

}  // namespace

int main(int argc, char** argv) {
    std::vector<std::string> v(argv + 1, argv + argc);
    auto is = [&](std::initializer_list<const char*> words) {
        if (v.size() < words.size()) return false;
        std::size_t i = 0;
        for (const char* w : words)
            if (v[i++] != w) return false;
        return true;
    };
    try {
        livepatch::Status s;
        if (is({"login"}))
            s = login(Args(argc, argv, 2, {"--server", "--auth", "--ca-file", "--valid-for", "--sso-assertion-file"},
                           {"--sso"}));
        else if (is({"tier", "list"})) s = tierList(Args(argc, argv, 3, {}));
        else if (is({"catalogue", "get"})) s = catalogueGet(Args(argc, argv, 3, {}));
        else if (is({"catalogue", "put"})) s = cataloguePut(Args(argc, argv, 3, {"--if-match"}, {"--force"}));
        else if (is({"catalogue", "edit"})) s = catalogueEdit(Args(argc, argv, 3, {}));
        else if (is({"patch", "upload"})) s = patchUpload(Args(argc, argv, 3, {"--tier"}));
        else if (is({"patch", "promote"})) s = patchPromote(Args(argc, argv, 3, {"--name", "--kernel"}));
        else if (is({"auth-token", "add"})) s = authTokenAdd(Args(argc, argv, 3, {}));
        else if (is({"auth-token", "revoke"})) s = authTokenRevoke(Args(argc, argv, 3, {}));
        else if (is({"sync-tokens", "add"})) s = syncTokenAdd(Args(argc, argv, 3, {"--valid-until"}));
        else if (is({"sync-tokens", "list"})) s = syncTokenList(Args(argc, argv, 3, {"--format"}));
        else if (is({"sync-tokens", "revoke"})) s = syncTokenRevoke(Args(argc, argv, 3, {}));
        else if (is({"sync", "trigger"})) s = syncTrigger(Args(argc, argv, 3, {}, {"--wait"}));
        else if (is({"sync", "reports"})) s = syncReports(Args(argc, argv, 3, {"--limit", "--format"}));
        else if (is({"resource-token", "mint"})) s = resourceTokenMint(Args(argc, argv, 3, {"--tier", "--expires"}));
        else if (is({"machines"})) s = machines(Args(argc, argv, 2, {"--format"}));
        else if (is({"fleet"})) s = fleet(Args(argc, argv, 2, {"--format"}));
        else if (is({"--help"}) || is({"help"})) {
            std::cout << kUsage;
            return 0;
        } else {
            std::cerr << kUsage;
            return 2;
        }
        if (!s) {
            std::cerr << "livepatch-admin: " << s.error().message() << "\n";
            return 1;
        }
        return 0;
    } catch (const UsageError& e) {
        std::cerr << "livepatch-admin: " << e.what() << "\n" << kUsage;
        return 2;
    }
}
