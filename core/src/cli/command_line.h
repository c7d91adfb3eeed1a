// The command line both binaries share (parsing, the one dispatch through
// the command table, errors, rendering status); each binary has its folder:
//   livepatch-agent         (src/livepatch-agent/) light front-end: version, status, config (read),
//                           kernel-upgrade-required, the daemon supervisor,
//                           refresh through the daemon; everything else is
//                           exec'd into the engine binary.
//   livepatch-agent-engine  (src/livepatch-agent-engine/, installed in
//                           lib/livepatch-agent/) loads plugins, the network
//                           stack and the engine: enable, disable, refresh,
//                           config changes, plugins, clear-lock, and the
//                           daemon's per-cycle worker jobs.
// The split keeps `status` and the idle daemon free of OpenSSL, libarchive and
// Poco Net (tests/bench/RESULTS.md), and runs every parser of network input in
// a short-lived process.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "livepatch/error.h"

namespace livepatch {
struct AgentState;
struct Paths;
}  // namespace livepatch

namespace livepatch::cli {

// One parsed command line.
struct CommandLine {
    std::string command;
    std::vector<std::string> args;  // after the command
    std::string format = "humane";
    bool verbose = false;
    bool showSecrets = false;
    bool allowRollback = false;
    bool cves = false;               // status --cves
    std::optional<std::string> cve;  // status --cve ID
    std::optional<std::string> rootDir;
    std::vector<std::string> argv;  // as given, argv[0] included (for exec)

    // Root, or a test root (--root-dir / LIVEPATCH_AGENT_ROOT) is active.
    bool privileged() const;
    // Print the standard refusal and return false unless privileged().
    bool requireRoot() const;
    // Print the standard refusal and return false if arguments were given.
    bool requireNoArgs() const;
};

using CommandHandler = std::function<int(const CommandLine&)>;

// One binary's commands: the handler of each command it runs itself.
struct CommandRoute {
    std::string name;
    CommandHandler run;
};

// The route for line.command, run after the checks its row in
// commandTable() asks for, in the same order for every command: its
// arguments, then root. A command this binary has no route for goes to
// `otherwise` (the front-end hands it to the engine binary).
int dispatch(const CommandLine& line, const std::vector<CommandRoute>& routes, const CommandHandler& otherwise);

// Print "usage: livepatch-agent COMMAND ARGUMENTS" (from the command table)
// as an invalid-argument error and return the usage exit code.
int usageError(const std::string& command);

// What argv asks for: a command line, or --help / --version.
struct ParsedArguments {
    CommandLine line;  // argv kept as given
    bool help = false;
    bool version = false;
};

// Parse argv with glibc's getopt_long over flagTable(): options anywhere,
// "--opt value" and "--opt=value", unique prefixes of long names, "--" ends
// the options. An unknown, ambiguous, repeated or valueless option is an
// invalid-argument error. Poco::Util's option processor did this before;
// it cost `status` three more shared libraries at every start (PocoUtil,
// PocoXML, expat: tests/bench/RESULTS.md).
Result<ParsedArguments> parseArguments(const std::vector<std::string>& argv);

// Parse argv and run handler (help, version and the --format and --root-dir
// checks first); returns the exit code.
int runApplication(int argc, char** argv, const CommandHandler& handler);

// Print "error: <message> [<code>]" and return the documented exit code.
int fail(const Error& e);

// Render `st` as `status` does (format and options from `line`); returns the
// exit code. `cycleInProgress`: a cycle holds the lock right now.
int showStatus(const CommandLine& line, const Paths& paths, const AgentState& st, bool cycleInProgress);

}  // namespace livepatch::cli
