// The one table of livepatch-agent's commands and flags. --help, the option
// parser, both binaries' dispatchers (their argument and root checks, the
// engine hand-off), `completion bash` and the man-page test are all derived
// from it, so a command added here is documented, completed and checked
// everywhere at once.
#pragma once

#include <string>
#include <vector>

namespace livepatch::cli {

// Where a command runs: in the light front-end, or exec'd into
// lib/livepatch-agent/livepatch-agent-engine (command_line.h).
enum class RunsIn { FrontEnd, Engine };

// Who may run a command: anyone, root only, or anyone to read and root to
// change (`config` with KEY=VALUE arguments).
enum class NeedsRoot { No, Yes, ToChange };

// How many positional arguments a command takes (its synopsis is
// CommandInfo::arguments).
enum class Takes { Nothing, One, Any };

struct FlagInfo {
    std::string name;       // without "--"
    std::string shortName;  // without "-", "" if none
    std::string argument;   // value placeholder ("FORMAT"), "" for a switch
    std::string summary;
};

struct CommandInfo {
    std::string name;
    std::string arguments;             // positional synopsis, "" if none
    std::string summary;               // one line
    std::vector<std::string> flags;    // command-specific flags (names in flagTable())
    std::vector<std::string> formats;  // --format values, first is the default; empty = no --format
    RunsIn runsIn;
    NeedsRoot root;
    Takes takes;
};

// Every flag; the global ones (help, version, root-dir) apply to all commands.
const std::vector<FlagInfo>& flagTable();
const std::vector<std::string>& globalFlags();
// Every public command, in --help order.
const std::vector<CommandInfo>& commandTable();
const CommandInfo* findCommand(const std::string& name);
const FlagInfo* findFlag(const std::string& name);

// --help: synopsis, commands with their flags, exit codes; every line < 80 columns.
std::string usageText();

// A bash completion script for commands, flags, --format values and the
// given config keys (the engine passes those of core and the shipped plugins).
std::string bashCompletion(const std::vector<std::string>& configKeys);
// The zsh completion function (#compdef), from the same tables.
std::string zshCompletion(const std::vector<std::string>& configKeys);

}  // namespace livepatch::cli
