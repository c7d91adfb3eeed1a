// livepatch-agent-engine: the commands that load plugins and the network
// stack. Reached by exec from livepatch-agent (same argv) or, for the
// daemon's jobs, as `__worker JOB` with a line protocol on stdout.
#pragma once

#include "cli/command_line.h"

namespace livepatch::agent_engine {

int engineCommand(const cli::CommandLine& line);

// Worker jobs for the daemon supervisor: start (re-apply from the cache),
// scheduled (a periodic check), refresh, refresh-allow-rollback, health.
// Prints progress lines and one result line (cli/engine_binary.h).
int runWorkerJob(const cli::CommandLine& line, const std::string& job);

int runEngine(int argc, char** argv);

}  // namespace livepatch::agent_engine
