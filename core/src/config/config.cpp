#include "config/config.h"

#include <yaml-cpp/yaml.h>

#include <Poco/URI.h>

#include <algorithm>
#include <cstdio>
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
    return configValueError(key, expected, value);
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

// The form of a key name (and of a plugin name: `loader`, `verifiers`).
bool isKeyName(const std::string& v) {
    static const std::regex re("^[a-z0-9][a-z0-9-]{0,63}$");
    return std::regex_match(v, re);
}

ConfigKey minutesKey(std::string name, std::string defaultValue, std::string description) {
    return integerKey(std::move(name), std::move(defaultValue), 0, 525600, "minutes >= 0", std::move(description));
}

ConfigKey nameListKey(std::string name, std::string defaultValue, std::string description, const char* pattern) {
    return textKey(
        std::move(name), std::move(defaultValue), std::move(description),
        [](const std::string& key, const std::string& v) -> Status {
            auto items = splitConfigList(v);
            if (items.empty()) return bad(key, "a comma-separated list of plugin names", v);
            for (const auto& i : items)
                if (!isKeyName(i)) return bad(key, "a comma-separated list of plugin names", v);
            return {};
        },
        pattern);
}

// Core's keys: what the engine itself decides with (policy, schedule, limits,
// where plugins come from) and the few every plugin of a role reads
// (keyring-dir for verifiers, transition-timeout for loaders). A key only one
// plugin reads is declared by that plugin.
std::vector<ConfigKey> makeCoreKeys() {
    ConfigKey firstWindow = textKey(
        "first-check-window", "",
        "minutes over which the daemon spreads its first server check after a start (the cached patch is re-applied at "
        "once); empty = check-interval, 0 = check at once",
        [](const std::string& key, const std::string& v) -> Status {
            if (std::all_of(v.begin(), v.end(), ::isdigit) && v.size() <= 6 && std::stoll(v) <= 525600) return {};
            return bad(key, "minutes >= 0, or empty for check-interval", v);
        },
        "^[0-9]*$");
    return {
        textKey(
            "remote-server", "https://livepatch.example.invalid",
            "patch server base URL (https; http only with allow-insecure-http; file:///dir for an air-gapped mirror)",
            [](const std::string& key, const std::string& v) -> Status {
                if (v.rfind("file:///", 0) == 0 && v.size() > 8 && v.find("..") == std::string::npos) return {};
                if (validUrl(v, {"https", "http"})) return {};
                return bad(key, "an http(s) URL or file:///path", v);
            },
            R"(^(https?://[^/\s]+(/.*)?|file:///.+)$)"),
        choiceKey(
            "source-type", "server", {"server", "static"},
            "server (registers, reports) | static (a plain directory written by livepatch-repo, e.g. nginx or a CDN: "
            "needs trust-root; no registration, no reports)"),
        textKey(
            "trust-root", "",
            "the pinned TUF root.json of the signed patch catalogue: set with trust-root=@stdin < root.json (kept in "
            "<state>/tuf/, then changed only by signed root rotation); empty = the catalogue is unsigned",
            [](const std::string& key, const std::string& v) -> Status {
                // The config command turns the root.json read from stdin into "pinned" once it is checked and written.
                if (v.empty() || v == "pinned") return {};
                return bad(key, "a TUF root.json on stdin (trust-root=@stdin < root.json), or empty", v);
            },
            "^(pinned)?$"),
        minutesKey("check-interval", "60", "minutes between checks; 0 disables periodic checks"),
        firstWindow,
        choiceKey("log-level", "info", {"trace", "debug", "info", "warning", "error"},
                  "trace|debug|info|warning|error"),
        pathKey(
            "metrics-dir",
            "directory of node_exporter's textfile collector: the daemon writes livepatch-agent.prom there after each "
            "check (empty = off)"),
        textKey(
            "cutoff-date", "", "ignore patches published after this RFC 3339 time (must be in the past)",
            [](const std::string& key, const std::string& v) -> Status {
                auto t = timeutil::parseRfc3339(v);
                if (!t) return bad(key, "an RFC 3339 time like 2024-01-31T00:00:00Z", v);
                if (*t > nowFn()()) return bad(key, "a time in the past", v);
                return {};
            },
            R"(^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$)"),
        textKey(
            "patch-delay", "", "only apply patches published at least this long ago (s/m/h/d/w)",
            [](const std::string& key, const std::string& v) -> Status {
                if (timeutil::parseDuration(v)) return {};
                return bad(key, "a duration like 3d (units s, m, h, d, w)", v);
            },
            "^[0-9]+[smhdw]$|^0$"),
        flagKey("allow-insecure-http", "allow plain http:// servers (testing only)"),
        textKey(
            "plugin-dirs", "", "comma-separated extra plugin directories (root-owned)",
            [](const std::string& key, const std::string& v) -> Status {
                for (const auto& d : splitConfigList(v))
                    if (!isAbsolutePath(d)) return bad(key, "comma-separated absolute paths", v);
                return {};
            },
            R"(^/[^,]*(,\s*/[^,]*)*$)"),
        nameListKey("loader", "loader-klp", "loader plugin: loader-klp (real kernel) or loader-simulated",
                    "^[a-z0-9][a-z0-9-]{0,63}$"),
        nameListKey("verifiers", "verify-module-signature", "verifier plugins that must all pass",
                    R"(^[a-z0-9][a-z0-9-]{0,63}(,\s*[a-z0-9][a-z0-9-]{0,63})*$)"),
        pathKey("keyring-dir", "directory of trusted signing certificates / keys (root-owned), read by the verifiers"),
        choiceKey("run-mode", "normal", {"normal", "no-apply", "no-refresh", "stop"},
                  "normal|no-apply (check only)|no-refresh (apply cached only)|stop"),
        integerKey("transition-timeout", "60", 1, 3600, "seconds > 0",
                   "seconds to wait for a livepatch transition before it counts as stalled (every loader)"),
        flagKey(
            "allow-unversioned-modules",
            "accept modules without a signed version= in .modinfo (rollback protection then trusts unsigned metadata)"),
        integerKey("max-download-size", "268435456", 1, 1LL << 34, "bytes > 0", "largest patch download, bytes"),
        integerKey("unpack-max-entries", "64", 1, 100000, "a number > 0", "most entries in a patch tarball"),
        integerKey("unpack-max-bytes", "268435456", 1, 1LL << 34, "bytes > 0",
                   "most bytes decompressed from a patch tarball (the whole tar stream)"),
    };
}

Error unknownKey(const std::string& key) {
    std::string shown = key.size() > 40 ? key.substr(0, 37) + "..." : key;
    return Error(ErrorCode::ConfigInvalid,
                 "unknown config key \"" + shown + "\" (see `livepatch-agent config` for the list)");
}

std::string redactUserinfo(const std::string& v) {
    auto scheme = v.find("://");
    if (scheme == std::string::npos) return v;
    auto at = v.find('@', scheme + 3);
    auto slash = v.find('/', scheme + 3);
    if (at == std::string::npos || (slash != std::string::npos && at > slash)) return v;
    return v.substr(0, scheme + 3) + "***" + v.substr(at);
}

std::string jsonString(const std::string& v) {
    std::string out = "\"";
    for (char c : v) {
        switch (c) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\n': out += "\\n"; break;
        case '\t': out += "\\t"; break;
        default:
            if (static_cast<unsigned char>(c) < 0x20) {
                char buf[8];
                std::snprintf(buf, sizeof buf, "\\u%04x", c);
                out += buf;
            } else {
                out += c;
            }
        }
    }
    return out + "\"";
}

// What a valid value of a declaration looks like, as JSON Schema members.
std::vector<std::string> schemaOf(const ConfigKey& k) {
    auto strings = [](const std::vector<std::string>& v) {
        std::string out = "[";
        for (size_t i = 0; i < v.size(); ++i) out += (i ? ", " : "") + jsonString(v[i]);
        return out + "]";
    };
    switch (k.type) {
    case ConfigType::Flag: return {"\"enum\": " + strings({"true", "false"})};
    case ConfigType::Choice: return {"\"enum\": " + strings(k.choices)};
    case ConfigType::Integer:
        return {"\"type\": \"string\"",
                std::string("\"pattern\": ") + (k.min >= 1 ? "\"^[1-9][0-9]*$\"" : "\"^[0-9]+$\"")};
    case ConfigType::AbsolutePath: return {"\"type\": \"string\"", "\"pattern\": \"^/\""};
    case ConfigType::Pem:
        return {"\"type\": \"string\"",
                "\"pattern\": " + jsonString(k.schemaPattern.empty() ? "-----BEGIN " : k.schemaPattern)};
    case ConfigType::Text: break;
    }
    if (k.schemaPattern.empty()) return {"\"type\": \"string\""};
    return {"\"type\": \"string\"", "\"pattern\": " + jsonString(k.schemaPattern)};
}

}  // namespace

Config::Config() {
    for (const auto& k : coreKeys()) declared_.push_back({k, kCoreOwner});
}

const std::vector<ConfigKey>& Config::coreKeys() {
    static const std::vector<ConfigKey> keys = makeCoreKeys();
    return keys;
}

const DeclaredKey* Config::find(const std::string& key) const noexcept {
    for (const auto& d : declared_)
        if (d.key.name == key) return &d;
    return nullptr;
}

Status Config::declare(const std::string& owner, const std::vector<ConfigKey>& keys) {
    auto refuse = [&](const std::string& why) {
        return Error(ErrorCode::PluginInvalid, "plugin " + owner + ": " + why);
    };
    for (size_t i = 0; i < keys.size(); ++i) {
        const ConfigKey& k = keys[i];
        if (!isKeyName(k.name))
            return refuse("config key name \"" + k.name.substr(0, 64) + "\" is not [a-z0-9-], at most 64 characters");
        if (const DeclaredKey* d = find(k.name))
            return refuse("declares config key \"" + k.name + "\", which " +
                          (d->owner == kCoreOwner ? std::string("core") : "plugin " + d->owner) + " already declares");
        for (size_t j = 0; j < i; ++j)
            if (keys[j].name == k.name) return refuse("declares config key \"" + k.name + "\" twice");
        if (auto s = checkConfigValue(k, k.defaultValue); !s)
            return refuse("the default of config key " + s.error().message());
    }
    for (const auto& k : keys) {
        auto it = values_.find(k.name);
        if (it != values_.end()) LP_TRY(checkConfigValue(k, it->second));
    }
    for (const auto& k : keys) declared_.push_back({k, owner});
    return {};
}

Status Config::requireDeclared() const {
    for (const auto& [key, value] : values_)
        if (!find(key))
            return Error(ErrorCode::ConfigInvalid,
                         "config key \"" + key.substr(0, 64) +
                             "\" is set, but no loaded plugin declares it (see `livepatch-agent plugins`); "
                             "remove it with `livepatch-agent config " +
                             key.substr(0, 64) + "=`");
    return {};
}

Status Config::crossCheck() const {
    auto server = getOr("remote-server", "");
    if (server.rfind("http://", 0) == 0 && !allowInsecureHttp())
        return Error(ErrorCode::ConfigInvalid,
                     "remote-server: plain http is refused; use https, or set allow-insecure-http=true (testing only)");
    return {};
}

void Config::setNowForTesting(std::function<std::chrono::system_clock::time_point()> now) {
    nowFn() = now ? std::move(now) : [] { return std::chrono::system_clock::now(); };
}

Status Config::validate(const std::string& key, const std::string& value) const {
    const DeclaredKey* d = find(key);
    if (!d) return unknownKey(key);
    return checkConfigValue(d->key, value);
}

Result<Config> Config::parse(const std::string& yamlText, const std::string& origin) {
    Config c;
    YAML::Node root;
    try {
        root = YAML::Load(yamlText);
    } catch (const YAML::Exception& e) {
        return Error(ErrorCode::ConfigInvalid,
                     origin + ": not valid YAML (line " + std::to_string(e.mark.line + 1) + ")");
    }
    if (root.IsNull()) return c;
    if (!root.IsMap()) return Error(ErrorCode::ConfigInvalid, origin + ": expected a mapping of config keys");
    for (const auto& kv : root) {
        if (!kv.first.IsScalar() || !(kv.second.IsScalar() || kv.second.IsNull()))
            return Error(ErrorCode::ConfigInvalid, origin + ": every value must be a scalar");
        std::string key = kv.first.as<std::string>();
        std::string value = kv.second.IsNull() ? "" : kv.second.as<std::string>();
        // A key core does not declare may be a plugin's: kept, and validated
        // by its owner once the engine has loaded the plugins (declare()).
        auto s = c.find(key) ? c.validate(key, value) : isKeyName(key) ? Status{} : Status(unknownKey(key));
        if (!s) return s.error().wrap(origin);
        if (!value.empty()) c.values_[key] = value;
    }
    auto s = c.crossCheck();
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
        // "key=" clears back to the default; also a key set in the file that
        // nobody declares any more, so it can always be removed.
        if (!(value.empty() && values_.count(key))) LP_TRY(validate(key, value));
        if (value.empty()) next.erase(key);
        else next[key] = value;
    }
    Config candidate = *this;
    candidate.values_ = next;
    LP_TRY(candidate.crossCheck());
    values_ = std::move(next);
    return {};
}

std::string Config::toYaml() const {
    YAML::Emitter out;
    out << YAML::BeginMap;
    // Declared keys in declaration order, then any others in name order.
    std::vector<std::string> order;
    for (const auto& d : declared_)
        if (values_.count(d.key.name)) order.push_back(d.key.name);
    for (const auto& kv : values_)
        if (!find(kv.first)) order.push_back(kv.first);
    for (const auto& key : order) {
        const std::string& value = values_.at(key);
        out << YAML::Key << key << YAML::Value;
        // A PEM bundle stays readable; anything else (also a key nobody
        // declares here) is double-quoted, which round-trips any text.
        const DeclaredKey* d = find(key);
        if (d && d->key.type == ConfigType::Pem && value.find('\n') != std::string::npos) out << YAML::Literal << value;
        else out << YAML::DoubleQuoted << value;
    }
    out << YAML::EndMap;
    std::string s = values_.empty() ? "{}" : out.c_str();
    return "# livepatch-agent configuration; edit with `livepatch-agent config key=value`\n" + s + "\n";
}

Status Config::save(const std::string& path) const { return fs::writeFileAtomic(path, toYaml(), 0600); }

std::optional<std::string> Config::get(const std::string& key) const noexcept {
    const DeclaredKey* d = find(key);
    if (!d) return std::nullopt;
    auto it = values_.find(key);
    return it != values_.end() ? it->second : d->key.defaultValue;
}

bool Config::isSet(const std::string& key) const { return values_.count(key) > 0; }

std::vector<std::pair<std::string, std::string>> Config::effective() const {
    std::vector<std::pair<std::string, std::string>> out;
    for (const auto& d : declared_) out.emplace_back(d.key.name, *get(d.key.name));
    return out;
}

std::vector<ConfigEntry> Config::display(bool showSecrets) const {
    std::vector<ConfigEntry> out;
    for (const auto& d : declared_) {
        std::string v = *get(d.key.name);
        out.push_back({d.key.name, d.key.secret && !showSecrets ? redactUserinfo(v) : v, d.owner});
    }
    // Set but declared by nobody: shown (redacted, since nobody says it is not
    // a secret) so the operator sees what requireDeclared() refuses.
    for (const auto& kv : values_)
        if (!find(kv.first)) out.push_back({kv.first, showSecrets ? kv.second : redactUserinfo(kv.second), ""});
    return out;
}

std::string Config::schemaJson() const {
    std::ostringstream out;
    out << "{\n"
           "  \"$schema\": \"https://json-schema.org/draft/2020-12/schema\",\n"
           "  \"$id\": \"https://livepatch-agent.invalid/schemas/config.schema.json\",\n"
           "  \"title\": \"livepatch-agent config.yaml (all values are strings; unset keys take their defaults)\",\n"
           "  \"description\": \"Generated from the key declarations of core and the shipped plugins "
           "(livepatch-agent-engine __config-schema); do not edit.\",\n"
           "  \"type\": \"object\",\n"
           "  \"additionalProperties\": false,\n"
           "  \"properties\": {";
    for (size_t i = 0; i < declared_.size(); ++i) {
        const auto& d = declared_[i];
        out << (i ? "," : "") << "\n    " << jsonString(d.key.name) << ": {";
        std::vector<std::string> members = schemaOf(d.key);
        members.push_back("\"description\": " + jsonString(d.key.description));
        if (!d.key.defaultValue.empty()) members.push_back("\"default\": " + jsonString(d.key.defaultValue));
        members.push_back("\"x-owner\": " + jsonString(d.owner));
        for (size_t m = 0; m < members.size(); ++m) out << (m ? "," : "") << "\n      " << members[m];
        out << "\n    }";
    }
    out << "\n  }\n}\n";
    return out.str();
}

bool Config::allowInsecureHttp() const { return getOr("allow-insecure-http", "false") == "true"; }

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
