// Agent configuration: a YAML file of validated keys.
//
// Every key is declared once, by its owner (livepatch/config_keys.h): core
// declares its own in config.cpp (policy, schedule, paths, limits); each
// plugin declares the keys it reads (Plugin::configKeys()), and the engine
// adds them with declare() once the plugins are loaded. A Config that knows
// only core's keys (the light front-end) keeps other keys of the file as
// they are, unvalidated and unused: they are validated by their owner in
// the engine binary, which refuses a key nobody declares
// (requireDeclared()).
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "livepatch/error.h"
#include "livepatch/plugin.h"

namespace livepatch {

// A declaration and who made it: "core" or a plugin name.
struct DeclaredKey {
    ConfigKey key;
    std::string owner;
};

// One line of `livepatch-agent config`.
struct ConfigEntry {
    std::string key;
    std::string value;  // effective; secrets redacted unless asked
    std::string owner;  // "core", a plugin name, or "" (declared by nobody loaded)
};

inline constexpr const char* kCoreOwner = "core";

class Config : public ConfigView {
public:
    Config();

    // Core's own keys in display order.
    static const std::vector<ConfigKey>& coreKeys();
    // Every declared key: core's, then each plugin's in declaration order.
    const std::vector<DeclaredKey>& declared() const noexcept { return declared_; }

    // Adds a plugin's keys. Refused (PluginInvalid), with nothing added: a
    // malformed name, a key already declared (by core or another plugin), a
    // default its own check refuses. A value of one of these keys already
    // in the file must pass the new declaration (ConfigInvalid otherwise).
    Status declare(const std::string& owner, const std::vector<ConfigKey>& keys);
    // ConfigInvalid naming a key that is set but declared by nobody (e.g.
    // the plugin that owned it was removed), and how to remove it.
    Status requireDeclared() const;

    // Missing file -> defaults. Unreadable/invalid YAML or an invalid value
    // -> ConfigInvalid naming the file and key. Never silently resets.
    static Result<Config> load(const std::string& path);

    // Parse YAML text (same rules as load()).
    static Result<Config> parse(const std::string& yamlText, const std::string& origin);

    // Validate and apply "key=value" assignments all-or-nothing; "key="
    // clears the key back to its default. On error nothing changes and the
    // message is precise: `check-interval: expected minutes >= 0, got "abc"`.
    Status apply(const std::vector<std::string>& assignments);

    // Validate one value against its declaration without applying it.
    Status validate(const std::string& key, const std::string& value) const;

    // "Now" for cutoff-date validation (tests inject a fixed time).
    static void setNowForTesting(std::function<std::chrono::system_clock::time_point()> now);

    // Effective values with their owners for display, declared keys first,
    // then keys set but declared by nobody; secret values (proxy
    // credentials) are redacted unless showSecrets.
    std::vector<ConfigEntry> display(bool showSecrets) const;

    // JSON Schema of config.yaml from the declarations
    // (schemas/config.schema.json is this, for core and the shipped plugins).
    std::string schemaJson() const;

    // Typed accessors for the core.
    bool allowInsecureHttp() const;
    long long number(const std::string& key) const;
    // first-check-window in minutes; unset or empty follows check-interval.
    long long firstCheckWindowMinutes() const;

    // Atomic, 0600.
    Status save(const std::string& path) const;
    std::string toYaml() const;  // only explicitly set keys

    // ConfigView: effective value (explicit or default); nullopt if unknown key.
    std::optional<std::string> get(const std::string& key) const noexcept override;
    // All declared keys with effective values, display order.
    std::vector<std::pair<std::string, std::string>> effective() const;
    bool isSet(const std::string& key) const;

private:
    const DeclaredKey* find(const std::string& key) const noexcept;
    Status crossCheck() const;

    std::vector<DeclaredKey> declared_;
    std::map<std::string, std::string> values_;  // explicitly set keys only
};

}  // namespace livepatch
