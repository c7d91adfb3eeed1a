#include "livepatch-agent-engine/runtime.h"

#include <unistd.h>

namespace livepatch::agent_engine {

Runtime::~Runtime() {
    engine.reset();
    config = Config();
    host.reset();
}

Status Runtime::build(const std::optional<std::string>& rootDir, const RuntimeOptions& options) {
    paths = Paths::resolve(Paths::processEnvironment(), rootDir);
    if (options.createDirs) LP_TRY(paths.ensure());
    auto cfg = Config::load(paths.configFile());
    if (!cfg) return cfg.error();
    LogLevel level = parseLogLevel(cfg->getOr("log-level", "info"));
    // Interactive commands print their own result; the log only adds warnings
    // unless the operator asked for debug output.
    if (options.interactive && level == LogLevel::Info) level = LogLevel::Warning;
    if (!logger) logger = std::make_unique<AgentLogger>(AgentLogger::defaultSink(), level);
    else logger->setLevel(level);
    engine.reset();  // before the plugins it points into
    config = *cfg;   // drops the old plugins' key checks while their code is loaded
    host.reset();
    if (!options.plugins) return {};
    PluginHost::Options hostOptions;
    hostOptions.dirs.push_back(PluginHost::defaultPluginDir());
    for (const auto& d : config.list("plugin-dirs")) hostOptions.dirs.push_back(d);
    hostOptions.enforceOwnership = ::geteuid() == 0;
    host = std::make_unique<PluginHost>(hostOptions);
    pluginErrors = host->loadAll();
    for (const auto& e : pluginErrors) logger->warning(e.message());
    // Each plugin's keys are validated by their owner before any plugin is
    // configured with them.
    for (const auto& p : host->loaded()) LP_TRY(config.declare(p.info.name, host->find(p.info.name)->configKeys()));
    if (!options.configure) return {};
    LP_TRY(config.requireDeclared());
    context.config = &config;
    context.logger = logger.get();
    context.clock = &clock;
    context.stateDir = paths.stateDir;
    context.cacheDir = paths.cacheDir;
    context.rootDir = paths.hostRoot;
    LP_TRY(host->configureAll(context));
    if (!options.engine) return {};
    EngineDeps deps;
    deps.paths = paths;
    deps.config = &config;
    deps.host = host.get();
    deps.clock = &clock;
    deps.logger = logger.get();
    engine = std::make_unique<Engine>(deps);
    return {};
}

}  // namespace livepatch::agent_engine
