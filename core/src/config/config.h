// Agent configuration: a YAML file of validated keys.
//
// Keys (all values are strings on the way in; see keys() for the table):
//   remote-server       https URL (http only with allow-insecure-http=true)
//   check-interval      minutes >= 0 (0 disables periodic checks), default 60
//   first-check-window  minutes >= 0 over which the daemon's first check after
//                       a start is spread; empty (default) = check-interval
//   ca-certs            PEM bundle text added to the host CA pool ("" = none)
//   server-pins         comma-separated base64 SPKI SHA-256 pins
//   http-proxy, https-proxy  proxy URLs; no-proxy  comma-separated hosts
//   dial-timeout        seconds > 0, default 10
//   request-timeout     overall deadline seconds > 0, default 300
//   log-level           trace|debug|info|warning|error, default info
//   metrics-dir         absolute dir for livepatch-agent.prom (Prometheus), off if empty
//   cutoff-date         RFC 3339, must be in the past
//   patch-delay         duration s|m|h|d|w
//   allow-insecure-http true|false, default false
//   plugin-dirs         comma-separated absolute dirs (vendor plugins)
//   loader              plugin name of the loader, default loader-klp
//   verifiers           comma-separated verifier plugin names,
//                       default verify-module-signature
//   keyring-dir         absolute dir of trusted certificates / keys
//   signature-hashes    comma-separated from sha512,sha256; default sha512
//   run-mode            normal|no-apply|no-refresh|stop, default normal
//   simulated-kernel-root  absolute dir (loader-simulated)
//   max-download-size   bytes, default 268435456
//   unpack-max-entries  default 64; unpack-max-bytes default 268435456
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

struct ConfigKeyInfo {
    std::string key;
    std::string defaultValue;
    std::string description;  // one line, for `config --help` / README
    bool secret = false;      // value hidden in output unless --show-secrets
};

class Config : public ConfigView {
public:
    Config() = default;

    // Known keys in display order.
    static const std::vector<ConfigKeyInfo>& keys();

    // Missing file -> defaults. Unreadable/invalid YAML or an invalid value
    // -> ConfigInvalid naming the file and key. Never silently resets.
    static Result<Config> load(const std::string& path);

    // Parse YAML text (same rules as load()).
    static Result<Config> parse(const std::string& yamlText, const std::string& origin);

    // Validate and apply "key=value" assignments all-or-nothing; "key="
    // clears the key back to its default. On error nothing changes and the
    // message is precise: `check-interval: expected minutes >= 0, got "abc"`.
    Status apply(const std::vector<std::string>& assignments);

    // Validate one value without applying it.
    static Status validate(const std::string& key, const std::string& value);

    // "Now" for cutoff-date validation (tests inject a fixed time).
    static void setNowForTesting(std::function<std::chrono::system_clock::time_point()> now);

    // Effective values for display: secret values (proxy credentials) are
    // redacted unless showSecrets.
    std::vector<std::pair<std::string, std::string>> display(bool showSecrets) const;

    // Typed accessors for the core.
    bool allowInsecureHttp() const;
    std::vector<std::string> list(const std::string& key) const;  // comma-separated
    long long number(const std::string& key) const;
    // first-check-window in minutes; unset or empty follows check-interval.
    long long firstCheckWindowMinutes() const;

    // Atomic, 0600.
    Status save(const std::string& path) const;
    std::string toYaml() const;  // only explicitly set keys

    // ConfigView: effective value (explicit or default); nullopt if unknown key.
    std::optional<std::string> get(const std::string& key) const noexcept override;
    // All keys with effective values, display order.
    std::vector<std::pair<std::string, std::string>> effective() const;
    bool isSet(const std::string& key) const;

private:
    std::map<std::string, std::string> values_;  // explicitly set keys only
};

}  // namespace livepatch
