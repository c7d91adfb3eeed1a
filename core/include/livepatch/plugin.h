// livepatch-agent plugin SDK: what every plugin is and what the host gives it.
//
// A plugin is a shared object that contains exactly one class deriving from
// one of the four role interfaces (transport.h, auth.h, verifier.h,
// loader.h) and registers it with LIVEPATCH_PLUGIN(ClassName) once, in one
// source file. The host loads it with Poco::ClassLoader, checks the exported
// ABI version before creating anything, then calls configure() once.
//
// Rules for plugin authors:
//  * Include only <livepatch/...> SDK headers from this directory.
//  * Every entry point is noexcept and reports failure as livepatch::Error.
//  * Never put a token, key or machine-id in a log line or error message.
//  * Anything touching the network, clock, filesystem root or kernel goes
//    through what PluginContext provides or what configure() is told, so
//    tests can substitute it.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <Poco/ClassLibrary.h>
#include <Poco/Version.h>

#include "livepatch/config_keys.h"
#include "livepatch/error.h"
#include "livepatch/version.h"

// What must match between the agent and a plugin for C++ objects to cross
// between them: the SDK ABI, the compiler's C++ ABI (__GXX_ABI_VERSION), the
// library's std::string/std::list ABI (_GLIBCXX_USE_CXX11_ABI), and the Poco
// version (Poco classes cross the boundary: ClassLoader manifests, exceptions).
// Expanded where LIVEPATCH_PLUGIN is used, i.e. with the plugin's compiler.
#define LIVEPATCH_STRINGIFY_(x) #x
#define LIVEPATCH_STRINGIFY(x) LIVEPATCH_STRINGIFY_(x)
#define LIVEPATCH_BUILD_ABI                                                                    \
    "sdk-abi=" LIVEPATCH_STRINGIFY(LIVEPATCH_SDK_ABI_VERSION) " gxx-abi=" LIVEPATCH_STRINGIFY( \
        __GXX_ABI_VERSION) " cxx11-abi=" LIVEPATCH_STRINGIFY(_GLIBCXX_USE_CXX11_ABI) " poco=" LIVEPATCH_STRINGIFY(POCO_VERSION)

namespace livepatch {

enum class PluginRole { Transport, Auth, Verifier, Loader };

inline const char* pluginRoleName(PluginRole r) noexcept {
    switch (r) {
    case PluginRole::Transport: return "transport";
    case PluginRole::Auth: return "auth";
    case PluginRole::Verifier: return "verification";
    case PluginRole::Loader: return "loading";
    }
    return "unknown";
}

struct PluginInfo {
    std::string name;  // unique, kebab-case: "transport-https"
    PluginRole role = PluginRole::Transport;
    std::string version;  // plugin's own version, "1.0.0"
    int abiVersion = LIVEPATCH_SDK_ABI_VERSION;
    std::string description;  // one line
};

enum class LogLevel { Trace = 0, Debug, Info, Warning, Error };

class Logger {
public:
    virtual ~Logger() = default;
    virtual void log(LogLevel level, const std::string& message) noexcept = 0;
    void debug(const std::string& m) noexcept { log(LogLevel::Debug, m); }
    void info(const std::string& m) noexcept { log(LogLevel::Info, m); }
    void warning(const std::string& m) noexcept { log(LogLevel::Warning, m); }
    void error(const std::string& m) noexcept { log(LogLevel::Error, m); }
};

// Cooperative cancellation (SIGTERM, CLI interrupt). Long operations poll it.
class CancelToken {
public:
    void cancel() noexcept { cancelled_.store(true); }
    bool cancelled() const noexcept { return cancelled_.load(); }

private:
    std::atomic<bool> cancelled_{false};
};

// Injected clock: wall time for timestamps, steady time for deadlines, and a
// cancellable sleep (tests make it return at once and advance time).
class Clock {
public:
    virtual ~Clock() = default;
    virtual std::chrono::system_clock::time_point now() const noexcept = 0;
    virtual std::chrono::steady_clock::time_point steadyNow() const noexcept = 0;
    // Returns false if cancelled before the duration elapsed.
    virtual bool sleepFor(std::chrono::milliseconds d, const CancelToken* cancel) noexcept = 0;
};

// Read-only view of the validated agent configuration. Values are the
// effective strings: the value set, else the declared default (config_keys.h),
// so a plugin reads a key without repeating its default; list values are
// comma-separated. Every value has passed its declaration's check.
class ConfigView {
public:
    virtual ~ConfigView() = default;
    // nullopt: no loaded plugin and not core declares the key.
    virtual std::optional<std::string> get(const std::string& key) const noexcept = 0;
    std::string getOr(const std::string& key, const std::string& fallback) const {
        auto v = get(key);
        return v && !v->empty() ? *v : fallback;
    }
    // The effective value; "" if unset without default or undeclared.
    std::string value(const std::string& key) const { return get(key).value_or(""); }
    // An Integer key's effective value (0 if unset or undeclared).
    long long integer(const std::string& key) const {
        const std::string v = value(key);
        return !v.empty() && v.size() <= 18 &&
                       std::all_of(v.begin(), v.end(), [](char c) { return c >= '0' && c <= '9'; })
                   ? std::stoll(v)
                   : 0;
    }
    // A list key's effective items (comma-separated).
    std::vector<std::string> list(const std::string& key) const { return splitConfigList(value(key)); }
    // A Flag key's effective value.
    bool flag(const std::string& key) const { return value(key) == "true"; }
};

struct PluginContext {
    const ConfigView* config = nullptr;  // never null when passed to configure()
    Logger* logger = nullptr;            // never null
    Clock* clock = nullptr;              // never null
    std::string stateDir;                // root-only (0700) directory the plugin may use
    std::string cacheDir;                // root-only (0700) cache directory
    std::string rootDir;                 // filesystem root for host data ("/" normally)
};

// Base of every plugin. Use a role interface, not this, directly.
class Plugin {
public:
    virtual ~Plugin() = default;
    virtual PluginInfo info() const noexcept = 0;
    // The config keys this plugin owns (config_keys.h). Asked once after
    // loading, before configure(); a key another plugin or core already
    // declares is refused. Default: none.
    virtual std::vector<ConfigKey> configKeys() const noexcept { return {}; }
    // Called once per process, after the config file has been validated
    // against every declaration. The config does not change while the
    // process runs: `livepatch-agent config` writes the file and the daemon
    // starts a new engine process for its next job, which configures its
    // plugins afresh. The context's pointers outlive the plugin.
    virtual Status configure(const PluginContext& /*ctx*/) noexcept { return {}; }
};

using ProgressCallback = std::function<void(std::uint64_t done, std::uint64_t total)>;

}  // namespace livepatch

// ---------------------------------------------------------------------------
// Registration: exactly one per plugin shared object.
//
//   LIVEPATCH_PLUGIN(my::HttpsTransport)
//
// exports `livepatch_plugin_abi` (LIVEPATCH_BUILD_ABI as the plugin was
// built; the host compares it with its own before anything is instantiated)
// and a Poco ClassLoader manifest for livepatch::Plugin.
#define LIVEPATCH_PLUGIN(CLASS)                                                            \
    extern "C" __attribute__((visibility("default"))) const char* livepatch_plugin_abi() { \
        return LIVEPATCH_BUILD_ABI;                                                        \
    }                                                                                      \
    POCO_BEGIN_MANIFEST(livepatch::Plugin)                                                 \
    POCO_EXPORT_CLASS(CLASS)                                                               \
    POCO_END_MANIFEST
