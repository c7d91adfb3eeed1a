// Everything a command or the daemon needs, assembled in one place: paths,
// validated config, logger, clock, loaded + configured plugins, engine.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cli/system_clock.h"
#include "config/config.h"
#include "engine/engine.h"
#include "host/plugin_host.h"
#include "logging/logger.h"
#include "state/paths.h"

namespace livepatch::agent_engine {

using cli::SystemClock;

struct RuntimeOptions {
    bool plugins = true;      // load plugins and add their config keys
    bool configure = true;    // configure() the plugins (needs plugins; refuses config keys nobody declares)
    bool engine = true;       // build the Engine (needs plugins)
    bool createDirs = true;   // create the 0700 state layout
    bool interactive = true;  // CLI: log warnings only unless log-level is debug/trace
};

struct Runtime {
    // The clock is the process's: whoever cancels on a signal must be able
    // to wake a sleeper on it (livepatch-agent-engine/engine_app.cpp).
    explicit Runtime(SystemClock& processClock) : clock(processClock) {}
    // The config holds the plugins' key checks (code in their libraries):
    // it lets go of them before the plugins are unloaded.
    ~Runtime();
    Runtime(const Runtime&) = delete;
    Runtime& operator=(const Runtime&) = delete;

    Paths paths;
    Config config;
    std::unique_ptr<AgentLogger> logger;
    SystemClock& clock;
    std::unique_ptr<PluginHost> host;
    PluginContext context;
    std::vector<Error> pluginErrors;  // refused plugins (each already logged)
    std::unique_ptr<Engine> engine;

    // (Re)build from the current config; safe to call again to reload.
    Status build(const std::optional<std::string>& rootDir, const RuntimeOptions& options);
};

}  // namespace livepatch::agent_engine
