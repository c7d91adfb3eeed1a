// `livepatch-agent config` in the engine binary: the keys of core and of
// every loaded plugin, each validated by its owner (livepatch/config_keys.h).
#pragma once

#include <string>
#include <vector>

#include "cli/command_line.h"

namespace livepatch::agent_engine {

// No arguments: every key with its effective value, grouped by owner (a
// "# owner" line before each group; the `key: value` lines are what scripts
// and the snap configure hook read). KEY=VALUE ...: validated all-or-nothing
// across core and plugins, then saved (0600, atomic).
int configCommand(const cli::CommandLine& line);

// `__config-schema`: schemas/config.schema.json from the declarations of
// core and the plugins in the default plugin directory.
int configSchemaCommand(const cli::CommandLine& line);

// `completion bash`, with the config keys of core and the shipped plugins.
int completionCommand(const cli::CommandLine& line);

}  // namespace livepatch::agent_engine
