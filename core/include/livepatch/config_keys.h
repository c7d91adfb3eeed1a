// livepatch-agent plugin SDK: the configuration keys a plugin owns.
//
// As Fluent Bit's config_map: each plugin declares the keys it reads (name,
// type, default, validator, one-line description) from Plugin::configKeys().
// The agent then
//   * validates `livepatch-agent config KEY=VALUE` with the declaration of
//     the plugin that owns KEY (all-or-nothing across core and plugins: one
//     bad value and nothing is written),
//   * lists every key with its owner (`livepatch-agent config`),
//   * generates schemas/config.schema.json from the declarations,
//   * hands the plugin effective values (the declared default when unset)
//     through ConfigView, so a plugin never repeats its defaults.
// A key has exactly one owner: core or one plugin. A plugin may read keys it
// does not own (e.g. keyring-dir, transition-timeout, which core owns).
#pragma once

#include <algorithm>
#include <functional>
#include <string>
#include <vector>

#include "livepatch/error.h"

namespace livepatch {

enum class ConfigType {
    Text,          // one line; `check` says what else is needed
    Flag,          // true | false
    Integer,       // decimal digits within [min, max]
    Choice,        // one of `choices`
    AbsolutePath,  // an absolute path, or empty (= unset)
    Pem,           // PEM text, may span lines (set with KEY=@stdin); never a private key
};

inline const char* configTypeName(ConfigType t) noexcept {
    switch (t) {
    case ConfigType::Text: return "text";
    case ConfigType::Flag: return "flag";
    case ConfigType::Integer: return "integer";
    case ConfigType::Choice: return "choice";
    case ConfigType::AbsolutePath: return "path";
    case ConfigType::Pem: return "pem";
    }
    return "text";
}

struct ConfigKey {
    std::string name;  // kebab-case, [a-z0-9-], at most 64 characters
    ConfigType type = ConfigType::Text;
    std::string defaultValue;  // "" = unset
    std::string description;   // one line: `config`, README, schema
    // Integer: allowed range, and how a valid value is described in the
    // error ("seconds > 0" -> `dial-timeout: expected seconds > 0, got "0"`).
    long long min = 0, max = 0;
    std::string expected;
    std::vector<std::string> choices;  // Choice
    // Further rule after the type's own check, given the key and a non-empty
    // value; return Error(ErrorCode::ConfigInvalid, ...) naming the key
    // (configValueError() words it like every other key).
    std::function<Status(const std::string& key, const std::string& value)> check;
    std::string schemaPattern;  // Text: JSON Schema pattern of a valid value
    bool secret = false;        // may hold credentials: redacted by `config`
};

// `key: expected <expected>, got "<value>"`, the value cut and kept on one
// line (it may be an attacker's or a typo; never echo a whole PEM bundle).
inline Error configValueError(const std::string& key, const std::string& expected, const std::string& value) {
    std::string shown = value.size() > 80 ? value.substr(0, 77) + "..." : value;
    for (auto& c : shown)
        if (c == '\n' || c == '\r') c = ' ';
    return Error(ErrorCode::ConfigInvalid, key + ": expected " + expected + ", got \"" + shown + "\"");
}

// A comma-separated list value ("a, b,,c" -> a, b, c): every list key.
inline std::vector<std::string> splitConfigList(const std::string& v) {
    std::vector<std::string> out;
    size_t start = 0;
    while (start <= v.size()) {
        size_t end = v.find(',', start);
        if (end == std::string::npos) end = v.size();
        std::string item = v.substr(start, end - start);
        item.erase(0, item.find_first_not_of(" \t"));
        item.erase(item.find_last_not_of(" \t") + 1);
        if (!item.empty()) out.push_back(item);
        start = end + 1;
    }
    return out;
}

// ---- declarations, one line each in a plugin's configKeys() ---------------

inline ConfigKey integerKey(std::string name, std::string defaultValue, long long min, long long max,
                            std::string expected, std::string description) {
    ConfigKey k;
    k.name = std::move(name);
    k.type = ConfigType::Integer;
    k.defaultValue = std::move(defaultValue);
    k.min = min;
    k.max = max;
    k.expected = std::move(expected);
    k.description = std::move(description);
    return k;
}

inline ConfigKey flagKey(std::string name, std::string description) {
    ConfigKey k;
    k.name = std::move(name);
    k.type = ConfigType::Flag;
    k.defaultValue = "false";
    k.description = std::move(description);
    return k;
}

inline ConfigKey choiceKey(std::string name, std::string defaultValue, std::vector<std::string> choices,
                           std::string description) {
    ConfigKey k;
    k.name = std::move(name);
    k.type = ConfigType::Choice;
    k.defaultValue = std::move(defaultValue);
    k.choices = std::move(choices);
    k.description = std::move(description);
    return k;
}

inline ConfigKey pathKey(std::string name, std::string description) {
    ConfigKey k;
    k.name = std::move(name);
    k.type = ConfigType::AbsolutePath;
    k.description = std::move(description);
    return k;
}

inline ConfigKey textKey(std::string name, std::string defaultValue, std::string description,
                         std::function<Status(const std::string&, const std::string&)> check,
                         std::string schemaPattern = "") {
    ConfigKey k;
    k.name = std::move(name);
    k.defaultValue = std::move(defaultValue);
    k.description = std::move(description);
    k.check = std::move(check);
    k.schemaPattern = std::move(schemaPattern);
    return k;
}

inline ConfigKey pemKey(std::string name, std::string description,
                        std::function<Status(const std::string&, const std::string&)> check) {
    ConfigKey k;
    k.name = std::move(name);
    k.type = ConfigType::Pem;
    k.description = std::move(description);
    k.check = std::move(check);
    return k;
}

// ---- the one check of a value against its declaration -----------------------

// An empty value means "unset" (the default applies) and is always valid.
inline Status checkConfigValue(const ConfigKey& k, const std::string& value) {
    if (value.empty()) return {};
    // Only PEM spans lines; a newline anywhere else is an injection (a URL
    // with a newline passed Poco::URI; found by fuzz-config).
    if (k.type != ConfigType::Pem)
        for (char c : value)
            if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f)
                return configValueError(k.name, "a single line without control characters", value);
    switch (k.type) {
    case ConfigType::Text: break;
    case ConfigType::Flag:
        if (value != "true" && value != "false") return configValueError(k.name, "true|false", value);
        break;
    case ConfigType::Integer: {
        const bool digits =
            value.size() <= 15 && std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; });
        if (!digits || std::stoll(value) < k.min || std::stoll(value) > k.max)
            return configValueError(k.name, k.expected, value);
        break;
    }
    case ConfigType::Choice:
        if (std::find(k.choices.begin(), k.choices.end(), value) == k.choices.end()) {
            std::string list;
            for (const auto& c : k.choices) list += (list.empty() ? "" : "|") + c;
            return configValueError(k.name, list, value);
        }
        break;
    case ConfigType::AbsolutePath:
        if (value[0] != '/' || value.find('\0') != std::string::npos)
            return configValueError(k.name, "an absolute path", value);
        break;
    case ConfigType::Pem:
        if (value.find("PRIVATE KEY") != std::string::npos)
            return Error(ErrorCode::ConfigInvalid, k.name + ": contains a private key; give certificates only");
        break;
    }
    return k.check ? k.check(k.name, value) : Status{};
}

}  // namespace livepatch
