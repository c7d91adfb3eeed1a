// livepatch-agent-engine: the commands that load plugins and the network
// stack. Reached by exec from livepatch-agent (same argv) or, for the
// daemon's jobs, as `__worker JOB` with a line protocol on stdout.
#pragma once

#include "app/agent_app.h"

namespace livepatch::runner {

int engineCommand(const app::CommandLine& line);

// Worker jobs for the daemon supervisor: start (re-apply from the cache),
// scheduled (a periodic check), refresh, refresh-allow-rollback, health.
// Prints progress lines and one result line (app/engine_process.h).
int runWorkerJob(const app::CommandLine& line, const std::string& job);

int runEngine(int argc, char** argv);

}  // namespace livepatch::runner
