// livepatch-agent: the front-end binary (see cli/command_line.h for the split).
#pragma once

#include "cli/command_line.h"

namespace livepatch::agent {

// Front-end commands (livepatch-agent's handler).
int frontEndCommand(const cli::CommandLine& line);

// Entry point of livepatch-agent.
int runAgent(int argc, char** argv);

}  // namespace livepatch::agent
