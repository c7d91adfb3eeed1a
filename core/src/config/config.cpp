#include "config/config.h"

#include <yaml-cpp/yaml.h>

#include <Poco/Base64Decoder.h>
#include <Poco/URI.h>

#include <algorithm>
#include <regex>
#include <set>
#include <sstream>

#include "livepatch/url.h"
#include "util/fs.h"
#include "util/timeutil.h"

namespace livepatch {
namespace {

std::function<std::chrono::system_clock::time_point()>& nowFn() {
    static std::function<std::chrono::system_clock::time_point()> fn = [] { return std::chrono::system_clock::now(); };
    return fn;
}

Error bad(const std::string& key, const std::string& expected, const std::string& value) {
    std::string shown = value.size() > 80 ? value.substr(0, 77) + "..." : value;
    for (auto& c : shown)
        if (c == '\n' || c == '\r') c = ' ';
    return Error(ErrorCode::ConfigInvalid, key + ": expected " + expected + ", got \"" + shown + "\"");
}

std::vector<std::string> splitList(const std::string& v) {
    std::vector<std::string> out;
    std::stringstream ss(v);
    std::string item;
    while (std::getline(ss, item, ',')) {
        item.erase(0, item.find_first_not_of(" \t"));
        item.erase(item.find_last_not_of(" \t") + 1);
        if (!item.empty()) out.push_back(item);
    }
    return out;
}

bool isUnsigned(const std::string& v, long long min, long long max) {
    if (v.empty() || v.size() > 15 || !std::all_of(v.begin(), v.end(), ::isdigit)) return false;
    long long n = std::stoll(v);
    return n >= min && n <= max;
}

bool validUrl(const std::string& v, const std::set<std::string>& schemes) {
    try {
        Poco::URI uri(v);
        return schemes.count(uri.getScheme()) && isValidHost(uri.getHost());
    } catch (...) {
        return false;
    }
}

bool isAbsolutePath(const std::string& v) { return !v.empty() && v[0] == '/' && v.find('\0') == std::string::npos; }

// Structural check: one or more CERTIFICATE blocks whose bodies are base64
// of a DER SEQUENCE, and no private key. It runs wherever config is loaded,
// including `status`, which must not load libcrypto; `config ca-certs=...`
// additionally parses every certificate with OpenSSL before saving
// (runner/certificates.cpp), and the transport plugin parses them for use.
Status validatePem(const std::string& key, const std::string& v) {
    if (v.empty()) return {};
    if (v.find("PRIVATE KEY") != std::string::npos)
        return Error(ErrorCode::ConfigInvalid, key + ": contains a private key; give certificates only");
    static const std::string begin = "-----BEGIN CERTIFICATE-----", end = "-----END CERTIFICATE-----";
    int count = 0;
    for (size_t pos = v.find(begin); pos != std::string::npos; pos = v.find(begin, pos)) {
        size_t bodyStart = pos + begin.size();
        size_t stop = v.find(end, bodyStart);
        if (stop == std::string::npos) return bad(key, "one or more PEM certificates", v);
        std::istringstream body(v.substr(bodyStart, stop - bodyStart));
        Poco::Base64Decoder decoder(body);
        // istream::read turns the decoder's DataFormatException into badbit.
        // (Reading through istreambuf_iterator let it escape mid-copy and
        // leaked the partial string: found by fuzz-config.)
        std::string der;
        char chunk[1024];
        while (decoder.read(chunk, sizeof chunk), decoder.gcount() > 0) der.append(chunk, static_cast<size_t>(decoder.gcount()));
        if (decoder.bad()) return bad(key, "one or more PEM certificates", v);
        if (der.size() < 64 || static_cast<unsigned char>(der[0]) != 0x30) return bad(key, "one or more PEM certificates", v);
        ++count;
        pos = stop + end.size();
    }
    if (count == 0) return bad(key, "one or more PEM certificates", v);
    return {};
}

struct KeySpec {
    ConfigKeyInfo info;
    std::function<Status(const std::string& key, const std::string& value)> check;
};

auto enumOf(std::vector<std::string> allowed) {
    return [allowed](const std::string& key, const std::string& v) -> Status {
        if (std::find(allowed.begin(), allowed.end(), v) != allowed.end()) return {};
        std::string list;
        for (const auto& a : allowed) list += (list.empty() ? "" : "|") + a;
        return bad(key, list, v);
    };
}

auto number(long long min, long long max, std::string what) {
    return [=](const std::string& key, const std::string& v) -> Status {
        if (isUnsigned(v, min, max)) return {};
        return bad(key, what, v);
    };
}

auto proxyUrl() {
    return [](const std::string& key, const std::string& v) -> Status {
        if (v.empty()) return {};
        const std::string problem = proxyProblem(v);
        if (problem.empty()) return {};
        return Error(ErrorCode::ConfigInvalid, key + ": " + problem);
    };
}

auto absPath() {
    return [](const std::string& key, const std::string& v) -> Status {
        if (v.empty() || isAbsolutePath(v)) return {};
        return bad(key, "an absolute path", v);
    };
}

auto nameList(bool allowEmpty) {
    return [=](const std::string& key, const std::string& v) -> Status {
        static const std::regex re("^[a-z0-9][a-z0-9-]{0,63}$");
        auto items = splitList(v);
        if (items.empty() && !allowEmpty) return bad(key, "a comma-separated list of plugin names", v);
        for (const auto& i : items)
            if (!std::regex_match(i, re)) return bad(key, "a comma-separated list of plugin names", v);
        return {};
    };
}

const std::vector<KeySpec>& specs() {
    static const std::vector<KeySpec> table = {
        {{"remote-server", "https://livepatch.example.invalid",
          "patch server base URL (https; http only with allow-insecure-http; file:///dir for an air-gapped mirror)"},
         [](const std::string& key, const std::string& v) -> Status {
             if (v.rfind("file:///", 0) == 0 && v.size() > 8 && v.find("..") == std::string::npos) return {};
             if (validUrl(v, {"https", "http"})) return {};
             return bad(key, "an http(s) URL or file:///path", v);
         }},
        {{"check-interval", "60", "minutes between checks; 0 disables periodic checks"},
         number(0, 525600, "minutes >= 0")},
        {{"first-check-window", "",
          "minutes over which the daemon spreads its first server check after a start (the cached patch is "
          "re-applied at once); empty = check-interval, 0 = check at once"},
         [](const std::string& key, const std::string& v) -> Status {
             if (v.empty() || isUnsigned(v, 0, 525600)) return {};
             return bad(key, "minutes >= 0, or empty for check-interval", v);
         }},
        {{"ca-certs", "", "extra trusted CA certificates (PEM) for the server; set with ca-certs=@stdin"}, validatePem},
        {{"server-pins", "", "comma-separated base64 SHA-256 SPKI pins of the server key"},
         [](const std::string& key, const std::string& v) -> Status {
             static const std::regex re("^[A-Za-z0-9+/]{43}=$");
             for (const auto& p : splitList(v))
                 if (!std::regex_match(p, re)) return bad(key, "comma-separated base64 SHA-256 pins (44 chars)", v);
             return {};
         }},
        {{"http-proxy", "", "proxy for http:// URLs (an http:// proxy URL)", true}, proxyUrl()},
        {{"https-proxy", "", "proxy for https:// URLs (an http:// proxy URL; the tunnel is TLS)", true}, proxyUrl()},
        {{"no-proxy", "", "comma-separated hosts/domains that bypass the proxy"},
         [](const std::string& key, const std::string& v) -> Status {
             static const std::regex re(R"(^(\*|\.?[A-Za-z0-9.\-:\[\]/]+)$)");
             for (const auto& h : splitList(v))
                 if (!std::regex_match(h, re)) return bad(key, "comma-separated host names", v);
             return {};
         }},
        {{"dial-timeout", "10", "seconds to wait for a connection"}, number(1, 3600, "seconds > 0")},
        {{"request-timeout", "300", "overall deadline of one request or download, seconds"}, number(1, 86400, "seconds > 0")},
        {{"log-level", "info", "trace|debug|info|warning|error"}, enumOf({"trace", "debug", "info", "warning", "error"})},
        {{"metrics-dir", "",
          "directory of node_exporter's textfile collector: the daemon writes livepatch-agent.prom there after each check "
          "(empty = off)"},
         absPath()},
        {{"cutoff-date", "", "ignore patches published after this RFC 3339 time (must be in the past)"},
         [](const std::string& key, const std::string& v) -> Status {
             if (v.empty()) return {};
             auto t = timeutil::parseRfc3339(v);
             if (!t) return bad(key, "an RFC 3339 time like 2024-01-31T00:00:00Z", v);
             if (*t > nowFn()()) return bad(key, "a time in the past", v);
             return {};
         }},
        {{"patch-delay", "", "only apply patches published at least this long ago (s/m/h/d/w)"},
         [](const std::string& key, const std::string& v) -> Status {
             if (v.empty() || timeutil::parseDuration(v)) return {};
             return bad(key, "a duration like 3d (units s, m, h, d, w)", v);
         }},
        {{"allow-insecure-http", "false", "allow plain http:// servers (testing only)"}, enumOf({"true", "false"})},
        {{"plugin-dirs", "", "comma-separated extra plugin directories (root-owned)"},
         [](const std::string& key, const std::string& v) -> Status {
             for (const auto& d : splitList(v))
                 if (!isAbsolutePath(d)) return bad(key, "comma-separated absolute paths", v);
             return {};
         }},
        {{"loader", "loader-klp", "loader plugin: loader-klp (real kernel) or loader-simulated"}, nameList(false)},
        {{"verifiers", "verify-module-signature", "verifier plugins that must all pass"}, nameList(false)},
        {{"keyring-dir", "", "directory of trusted signing certificates / keys (root-owned)"}, absPath()},
        {{"signature-hashes", "sha512", "allowed module signature digests: sha512[,sha256]"},
         [](const std::string& key, const std::string& v) -> Status {
             auto items = splitList(v);
             if (items.empty()) return bad(key, "sha512 and/or sha256", v);
             for (const auto& i : items)
                 if (i != "sha512" && i != "sha256") return bad(key, "sha512 and/or sha256", v);
             return {};
         }},
        {{"run-mode", "normal", "normal|no-apply (check only)|no-refresh (apply cached only)|stop"},
         enumOf({"normal", "no-apply", "no-refresh", "stop"})},
        {{"transition-timeout", "60", "seconds to wait for a livepatch transition before reverting"},
         number(1, 3600, "seconds > 0")},
        {{"stalled-transition-policy", "revert", "revert|wait: what to do when a transition outlasts transition-timeout"},
         enumOf({"revert", "wait"})},
        {{"allow-force-transition", "false", "write `force` to a stalled transition (makes the module unremovable)"},
         enumOf({"true", "false"})},
        {{"allow-unversioned-modules", "false",
          "accept modules without a signed version= in .modinfo (rollback protection then trusts unsigned metadata)"},
         enumOf({"true", "false"})},
        {{"simulated-kernel-root", "", "root directory of the simulated kernel (loader-simulated)"}, absPath()},
        {{"max-download-size", "268435456", "largest patch download, bytes"}, number(1, 1LL << 34, "bytes > 0")},
        {{"unpack-max-entries", "64", "most entries in a patch tarball"}, number(1, 100000, "a number > 0")},
        {{"unpack-max-bytes", "268435456", "most bytes decompressed from a patch tarball (the whole tar stream)"}, number(1, 1LL << 34, "bytes > 0")},
    };
    return table;
}

const KeySpec* findSpec(const std::string& key) {
    for (const auto& s : specs())
        if (s.info.key == key) return &s;
    return nullptr;
}

Error unknownKey(const std::string& key) {
    std::string shown = key.size() > 40 ? key.substr(0, 37) + "..." : key;
    return Error(ErrorCode::ConfigInvalid,
                 "unknown config key \"" + shown + "\" (see `livepatch-agent config` for the list)");
}

Status crossCheck(const Config& c) {
    auto server = c.getOr("remote-server", "");
    if (server.rfind("http://", 0) == 0 && !c.allowInsecureHttp())
        return Error(ErrorCode::ConfigInvalid,
                     "remote-server: plain http is refused; use https, or set allow-insecure-http=true (testing only)");
    return {};
}

std::string redactUserinfo(const std::string& v) {
    auto scheme = v.find("://");
    if (scheme == std::string::npos) return v;
    auto at = v.find('@', scheme + 3);
    auto slash = v.find('/', scheme + 3);
    if (at == std::string::npos || (slash != std::string::npos && at > slash)) return v;
    return v.substr(0, scheme + 3) + "***" + v.substr(at);
}

}  // namespace

void Config::setNowForTesting(std::function<std::chrono::system_clock::time_point()> now) {
    nowFn() = now ? std::move(now) : [] { return std::chrono::system_clock::now(); };
}

const std::vector<ConfigKeyInfo>& Config::keys() {
    static const std::vector<ConfigKeyInfo> infos = [] {
        std::vector<ConfigKeyInfo> v;
        for (const auto& s : specs()) v.push_back(s.info);
        return v;
    }();
    return infos;
}

Status Config::validate(const std::string& key, const std::string& value) {
    const KeySpec* spec = findSpec(key);
    if (!spec) return unknownKey(key);
    // Only PEM bundles span lines; a newline anywhere else is an injection
    // (a URL with a newline passed Poco::URI; found by fuzz-config).
    if (key != "ca-certs")
        for (char c : value)
            if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return bad(key, "a single line without control characters", value);
    return spec->check(key, value);
}

Result<Config> Config::parse(const std::string& yamlText, const std::string& origin) {
    Config c;
    YAML::Node root;
    try {
        root = YAML::Load(yamlText);
    } catch (const YAML::Exception& e) {
        return Error(ErrorCode::ConfigInvalid, origin + ": not valid YAML (line " + std::to_string(e.mark.line + 1) + ")");
    }
    if (root.IsNull()) return c;
    if (!root.IsMap()) return Error(ErrorCode::ConfigInvalid, origin + ": expected a mapping of config keys");
    for (const auto& kv : root) {
        if (!kv.first.IsScalar() || !(kv.second.IsScalar() || kv.second.IsNull()))
            return Error(ErrorCode::ConfigInvalid, origin + ": every value must be a scalar");
        std::string key = kv.first.as<std::string>();
        std::string value = kv.second.IsNull() ? "" : kv.second.as<std::string>();
        auto s = value.empty() ? (findSpec(key) ? Status{} : Status(unknownKey(key))) : validate(key, value);
        if (!s) return s.error().wrap(origin);
        if (!value.empty()) c.values_[key] = value;
    }
    auto s = crossCheck(c);
    if (!s) return s.error().wrap(origin);
    return c;
}

Result<Config> Config::load(const std::string& path) {
    auto text = fs::readFile(path, 1u << 20);
    if (!text) {
        if (text.error().code() == ErrorCode::NotFound) return Config();
        return Error(ErrorCode::ConfigInvalid, text.error().message());
    }
    return parse(*text, path);
}

Status Config::apply(const std::vector<std::string>& assignments) {
    std::map<std::string, std::string> next = values_;
    for (const auto& a : assignments) {
        auto eq = a.find('=');
        if (eq == std::string::npos || eq == 0)
            return Error(ErrorCode::ConfigInvalid, "expected key=value, got \"" + a.substr(0, 40) + "\"");
        std::string key = a.substr(0, eq);
        std::string value = a.substr(eq + 1);
        if (value.empty()) {
            if (!findSpec(key)) return unknownKey(key);  // "key=" clears back to the default
        } else {
            LP_TRY(validate(key, value));
        }
        if (value.empty())
            next.erase(key);
        else
            next[key] = value;
    }
    Config candidate;
    candidate.values_ = next;
    LP_TRY(crossCheck(candidate));
    values_ = std::move(next);
    return {};
}

std::string Config::toYaml() const {
    YAML::Emitter out;
    out << YAML::BeginMap;
    for (const auto& info : keys()) {
        auto it = values_.find(info.key);
        if (it == values_.end()) continue;
        out << YAML::Key << info.key << YAML::Value;
        if (it->second.find('\n') != std::string::npos)
            out << YAML::Literal << it->second;
        else
            out << YAML::DoubleQuoted << it->second;
    }
    out << YAML::EndMap;
    std::string s = values_.empty() ? "{}" : out.c_str();
    return "# livepatch-agent configuration; edit with `livepatch-agent config key=value`\n" + s + "\n";
}

Status Config::save(const std::string& path) const { return fs::writeFileAtomic(path, toYaml(), 0600); }

std::optional<std::string> Config::get(const std::string& key) const noexcept {
    const KeySpec* spec = findSpec(key);
    if (!spec) return std::nullopt;
    auto it = values_.find(key);
    return it != values_.end() ? it->second : spec->info.defaultValue;
}

bool Config::isSet(const std::string& key) const { return values_.count(key) > 0; }

std::vector<std::pair<std::string, std::string>> Config::effective() const {
    std::vector<std::pair<std::string, std::string>> out;
    for (const auto& info : keys()) out.emplace_back(info.key, *get(info.key));
    return out;
}

std::vector<std::pair<std::string, std::string>> Config::display(bool showSecrets) const {
    auto out = effective();
    for (auto& kv : out) {
        const KeySpec* spec = findSpec(kv.first);
        if (spec->info.secret && !showSecrets) kv.second = redactUserinfo(kv.second);
    }
    return out;
}

bool Config::allowInsecureHttp() const { return getOr("allow-insecure-http", "false") == "true"; }

std::vector<std::string> Config::list(const std::string& key) const { return splitList(getOr(key, "")); }

long long Config::firstCheckWindowMinutes() const {
    return getOr("first-check-window", "").empty() ? number("check-interval") : number("first-check-window");
}

long long Config::number(const std::string& key) const {
    auto v = get(key);
    if (!v || v->empty()) return 0;
    try {
        return std::stoll(*v);
    } catch (...) {
        return 0;
    }
}

}  // namespace livepatch
