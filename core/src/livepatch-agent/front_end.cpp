// livepatch-agent, the light front-end: version, status (and its views),
// kernel-upgrade-required, refresh through the running daemon, the daemon
// itself; every other command of the table is exec'd into the engine binary.
#include "livepatch-agent/front_end.h"

#include <unistd.h>

#include <iostream>

#include "cli/command_table.h"
#include "cli/control_socket.h"
#include "cli/engine_binary.h"
#include "cli/exit_codes.h"
#include "cli/progress.h"
#include "cli/status_views.h"
#include "livepatch-agent/daemon.h"
#include "livepatch/version.h"
#include "state/agent_state.h"
#include "state/paths.h"
#include "util/fs.h"

namespace livepatch::agent {

using namespace livepatch::cli;

namespace {

// Is a cycle (or enable/disable/clear-lock) running now? The cycle lock is
// held for its whole length: trying it without waiting tells, and the
// instant status holds it delays nobody (they wait for the lock).
enum class CycleLock { Free, Held, Unknown };
CycleLock cycleRunning(const Paths& paths) {
    if (::access(paths.cycleLockFile().c_str(), F_OK) != 0) return CycleLock::Free;  // nothing has ever run
    auto lock = fs::FileLock::acquire(paths.cycleLockFile(), false);
    if (lock) return CycleLock::Free;
    return lock.error().code() == ErrorCode::Busy ? CycleLock::Held : CycleLock::Unknown;
}

// Hand the command to the engine binary (same argv, same environment).
int runInEngine(const CommandLine& line) {
    auto engine = locateEngine(::geteuid() == 0);
    if (!engine) return fail(engine.error());
    return fail(execEngine(*engine, line.argv));
}

int versionCommand(const CommandLine&) {
    std::cout << "livepatch-agent " << LIVEPATCH_AGENT_VERSION << " (plugin SDK " << LIVEPATCH_SDK_VERSION << ", ABI "
              << LIVEPATCH_SDK_ABI_VERSION << ")\n";
    return kExitOk;
}

// `status` and `kernel-upgrade-required`: both only read the state file.
int statusCommand(const CommandLine& line) {
    const std::string& cmd = line.command;
    if (line.cve && !isCveId(*line.cve)) {
        std::cerr << "error: --cve: expected an id like CVE-2024-1086, got \"" << fitColumns(*line.cve, 40)
                  << "\" [invalid-argument]\n";
        return kExitUsage;
    }
    if (line.showSecrets && !line.privileged()) {
        std::cerr << "error: --show-secrets requires root [permission]\n";
        return kExitPermission;
    }
    Paths paths = Paths::resolve(Paths::processEnvironment(), line.rootDir);
    auto st = AgentState::load(paths.stateFile());
    if (!st && line.format == "motd") {
        // The login notice never fails a login; it says where to look.
        std::cout << "Live patching: the state file is unreadable; see `livepatch-agent status`.\n";
        return exitCodeFor(st.error().code());
    }
    if (!st) return fail(st.error());
    if (cmd == "kernel-upgrade-required") {
        if (kernelUpgradeRequired(*st)) {
            std::cout << "A kernel upgrade is required: the server reports \"" << spelling(st->supported) << "\""
                      << (st->upgradeRequiredDate.empty() ? "" : " (by " + st->upgradeRequiredDate + ")") << "\n";
            return kExitFailure;
        }
        std::cout << (st->enabled ? "No kernel upgrade required\n"
                                  : "No kernel upgrade required (machine is not enabled)\n");
        return kExitOk;
    }
    if (line.cve) {
        // One question for scanners and compliance scripts: 0 patched, 1 not.
        bool patched = cvePatched(*st, *line.cve);
        std::cout << fitColumns(*line.cve, 40)
                  << (patched ? " is patched by the applied live patch\n" : " is not patched\n");
        return patched ? kExitOk : kExitFailure;
    }
    if (line.format == "motd") {
        std::cout << renderMotd(*st);
        return kExitOk;
    }
    if (line.format == "prometheus") {
        std::cout << renderPrometheus(*st, std::nullopt);
        return kExitOk;
    }
    const auto running = cycleRunning(paths);
    // A kernel operation was begun and its end never recorded (the
    // process was killed): only the kernel can say how it ended. The
    // engine binary, which has the loader, reconciles the state with the
    // kernel first and then shows it. Otherwise the state file is the
    // reconciled truth (every cycle reconciles at its start and after
    // every failure) and status stays light.
    if (st->enabled && !st->loadingPatch.empty() && running == CycleLock::Free) return runInEngine(line);
    return showStatus(line, paths, *st, running == CycleLock::Held);
}

// Through the running daemon if there is one (it serialises with its own
// checks and streams progress); otherwise in the engine binary.
int refreshCommand(const CommandLine& line) {
    Paths paths = Paths::resolve(Paths::processEnvironment(), line.rootDir);
    ProgressPrinter progress;
    auto viaDaemon = sendControl(paths.socketPath(), line.allowRollback ? "refresh allow-rollback" : "refresh",
                                 [&](const std::string& l) { progress.onLine(l); });
    if (!viaDaemon && viaDaemon.error().code() == ErrorCode::NotFound) return runInEngine(line);  // no daemon
    if (!viaDaemon) return fail(viaDaemon.error());
    progress.finish();
    (viaDaemon->first == 0 ? std::cout : std::cerr)
        << (viaDaemon->first == 0 ? "" : "error: ") << viaDaemon->second << "\n";
    return viaDaemon->first;
}

int daemonCommand(const CommandLine& line) { return runDaemon(line.rootDir); }

// Commands of the table that run in the engine binary are exec'd into it.
int notAFrontEndCommand(const CommandLine& line) {
    if (const CommandInfo* c = findCommand(line.command); c && c->runsIn == RunsIn::Engine) return runInEngine(line);
    std::cerr << "error: unknown command \"" << line.command.substr(0, 40)
              << "\"; see livepatch-agent --help [invalid-argument]\n";
    return kExitUsage;
}

}  // namespace

int frontEndCommand(const CommandLine& line) {
    static const std::vector<CommandRoute> routes = {
        {"version", versionCommand}, {"status", statusCommand}, {"kernel-upgrade-required", statusCommand},
        {"refresh", refreshCommand}, {"daemon", daemonCommand},
    };
    return dispatch(line, routes, notAFrontEndCommand);
}

int runAgent(int argc, char** argv) { return runApplication(argc, argv, frontEndCommand); }

}  // namespace livepatch::agent
