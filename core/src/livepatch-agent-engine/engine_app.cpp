#include "livepatch-agent-engine/engine_app.h"

#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <Poco/JSON/Array.h>
#include <Poco/JSON/Object.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <sstream>
#include <thread>

#include "cli/control_socket.h"
#include "cli/engine_binary.h"
#include "cli/exit_codes.h"
#include "cli/host_notices.h"
#include "cli/progress.h"
#include "cli/status_views.h"
#include "config/config.h"
#include "engine/engine.h"
#include "host/plugin_host.h"
#include "livepatch-agent-engine/config_command.h"
#include "livepatch-agent-engine/runtime.h"
#include "state/paths.h"

namespace livepatch::agent_engine {

using namespace livepatch::cli;

namespace {

Status makeRuntime(Runtime& rt, const std::optional<std::string>& rootDir, bool withPlugins, bool withEngine,
                   bool createDirs, bool interactive = true) {
    RuntimeOptions o;
    o.plugins = withPlugins;
    o.engine = withEngine;
    o.createDirs = createDirs;
    o.interactive = interactive;
    return rt.build(rootDir, o);
}

// What a signal reaches in this process: the token every command passes to
// the engine, and the clock every Runtime sleeps on. The first SIGTERM/SIGINT
// cancels the token and wakes sleepers (a Retry-After or backoff wait ends at
// once), so the engine stops at its next safe point instead of dying in the
// middle of a write or a load. A request blocked on a silent server has no
// safe point: if the process has not finished kStopGrace after the signal,
// it ends itself, unless a kernel operation is under way (bounded by
// transition-timeout), which it lets finish first. Everything it keeps is
// written atomically and the next cycle reconciles with the kernel, so
// ending there is as safe as SIGKILL, which the chaos test exercises. A
// second signal ends the process at once (e.g. Ctrl-C twice while waiting for
// a token on stdin). Never destroyed: the signal thread may use it until exit.
constexpr auto kStopGrace = std::chrono::milliseconds(1500);

struct ProcessSignals {
    CancelToken cancel;
    SystemClock clock;
};

ProcessSignals& processSignals() {
    static ProcessSignals& p = *[] {
        auto* created = new ProcessSignals;
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, SIGTERM);
        sigaddset(&set, SIGINT);
        pthread_sigmask(SIG_BLOCK, &set, nullptr);
        std::thread([set, created]() mutable {
            int sig = 0;
            while (sigwait(&set, &sig) != 0) {
            }
            created->cancel.cancel();
            created->clock.wake();
            const auto stopBy = std::chrono::steady_clock::now() + kStopGrace;
            for (;;) {
                const struct timespec interval { 0, 100 * 1000 * 1000 };
                siginfo_t info;
                if (sigtimedwait(&set, &info, &interval) > 0) ::_exit(128 + info.si_signo);
                if (std::chrono::steady_clock::now() >= stopBy && !KernelOperation::inProgress()) ::_exit(128 + sig);
            }
        }).detach();
        return created;
    }();
    return p;
}

// `plugins` into a pipe: one tab-separated line per plugin (name, role,
// version, file), the form scripts already parse.
std::string pluginsTabSeparated(const PluginHost& host) {
    std::ostringstream out;
    for (const auto& p : host.loaded())
        out << p.info.name << "\t" << pluginRoleName(p.info.role) << "\t" << p.info.version << "\t" << p.path << "\n";
    return out.str();
}

// `plugins` on a terminal: grouped by directory, so lines stay under 80
// columns however deep the plugin directory is.
std::string pluginsTable(const PluginHost& host) {
    std::ostringstream out;
    std::string dir;
    for (const auto& p : host.loaded()) {
        const std::string here = p.path.substr(0, p.path.rfind('/') + 1);
        if (here != dir) out << (dir.empty() ? "" : "\n") << (dir = here) << "\n";
        char line[256];
        std::snprintf(line, sizeof line, "  %-26s %-13s %-10s %s", p.info.name.c_str(), pluginRoleName(p.info.role),
                      p.info.version.c_str(), p.path.substr(here.size()).c_str());
        out << fitColumns(line, 79) << "\n";
    }
    return out.str();
}

// `plugins --format json`, described by schemas/plugins.schema.json.
std::string pluginsJson(const PluginHost& host, const std::vector<Error>& refused) {
    Poco::JSON::Object root(Poco::JSON_PRESERVE_KEY_ORDER);
    Poco::JSON::Array::Ptr loaded(new Poco::JSON::Array);
    for (const auto& p : host.loaded()) {
        Poco::JSON::Object::Ptr o(new Poco::JSON::Object(Poco::JSON_PRESERVE_KEY_ORDER));
        o->set("Name", p.info.name);
        o->set("Role", std::string(pluginRoleName(p.info.role)));
        o->set("Version", p.info.version);
        o->set("File", p.path);
        loaded->add(o);
    }
    Poco::JSON::Array::Ptr errors(new Poco::JSON::Array);
    for (const auto& e : refused) {
        Poco::JSON::Object::Ptr o(new Poco::JSON::Object(Poco::JSON_PRESERVE_KEY_ORDER));
        o->set("Error-Code", std::string(e.codeName()));
        o->set("Message", e.message());
        errors->add(o);
    }
    root.set("Plugins", loaded);
    root.set("Refused", errors);
    std::ostringstream out;
    root.stringify(out, 2);
    return out.str() + "\n";
}

// What a worker reports for a failed job, and what a CLI check records.
WorkerOutcome outcomeOf(const Error& e) {
    WorkerOutcome o;
    o.exitCode = exitCodeFor(e.code());
    o.errorCode = e.codeName();
    o.message = e.message();
    return o;
}

// A check run from the command line (no daemon) leaves the same traces as
// the daemon's: journal event and reboot-required flag (not the metrics
// file, which carries the daemon's counters).
void recordCheck(const Runtime& rt, const Result<CycleResult>& cycle) {
    WorkerOutcome o = cycle ? WorkerOutcome{} : outcomeOf(cycle.error());
    if (cycle) o.applied = cycle->applied;
    AgentLogger systemLog(AgentLogger::systemSink(), LogLevel::Info);
    publishCheckOutcome(systemLog, rt.paths, rt.config, o, std::nullopt);
}

}  // namespace

namespace {

int pluginsCommand(const CommandLine& line) {
    Runtime rt(processSignals().clock);
    auto r = makeRuntime(rt, line.rootDir, true, false, false);
    if (!r && !rt.host) return fail(r.error());
    if (line.format == "json") {
        std::cout << pluginsJson(*rt.host, rt.pluginErrors);
    } else {
        std::cout << (::isatty(STDOUT_FILENO) == 1 ? pluginsTable(*rt.host) : pluginsTabSeparated(*rt.host));
        for (const auto& e : rt.pluginErrors) std::cerr << "refused: " << e.message() << "\n";
    }
    if (!r) return fail(r.error());
    return rt.pluginErrors.empty() ? kExitOk : kExitFailure;
}

// The front-end hands status over only when an earlier cycle was
// interrupted in a kernel operation: the state is reconciled with the kernel
// (through the loader) before it is shown.
int statusCommand(const CommandLine& line) {
    Runtime rt(processSignals().clock);
    auto r = makeRuntime(rt, line.rootDir, true, true, false);
    if (!r) return fail(r.error());
    auto st = rt.engine->reconcileWithKernel(false);
    if (st) return showStatus(line, rt.paths, *st, false);
    const bool running = st.error().code() == ErrorCode::Busy;  // a cycle started meanwhile
    if (!running) std::cerr << "warning: cannot reconcile the state with the kernel: " << st.error().message() << "\n";
    auto recorded = rt.engine->loadState();
    if (!recorded) return fail(recorded.error());
    return showStatus(line, rt.paths, *recorded, running);
}

int clearLockCommand(const CommandLine& line) {
    Runtime rt(processSignals().clock);
    auto r = makeRuntime(rt, line.rootDir, true, true, true);
    if (!r) return fail(r.error());
    auto s = rt.engine->clearCrashGuard();
    if (!s) return fail(s.error());
    std::cout << "crash guard cleared; the next check will load patches again\n";
    return kExitOk;
}

int enableCommand(const CommandLine& line) {
    ProcessSignals& signals = processSignals();
    std::string token = line.args[0];
    if (token == "-") std::getline(std::cin, token);
    while (!token.empty() && std::isspace(static_cast<unsigned char>(token.back()))) token.pop_back();
    Runtime rt(signals.clock);
    auto r = makeRuntime(rt, line.rootDir, true, true, true);
    if (!r) return fail(r.error());
    auto s = rt.engine->enable(token);
    if (!s) return fail(s.error());
    if (*s == Engine::EnableOutcome::AlreadyEnabled) {
        std::cout << "This machine is already enabled with this token and server; nothing changed "
                     "(`livepatch-agent refresh` checks for patches now).\n";
        return kExitOk;
    }
    std::cout << "Successfully enabled; checking for patches.\n";
    auto cycle = rt.engine->runCycle(nullptr, &signals.cancel);
    recordCheck(rt, cycle);
    if (!cycle) {
        std::cerr << "warning: first check failed: " << cycle.error().message() << "\n";
        return kExitOk;  // enabled; the daemon retries
    }
    std::cout << cycle->summary << "\n";
    (void)sendControl(rt.paths.socketPath(), "reload", nullptr);
    return kExitOk;
}

int disableCommand(const CommandLine& line) {
    ProcessSignals& signals = processSignals();
    Runtime rt(signals.clock);
    auto r = makeRuntime(rt, line.rootDir, true, true, true);
    if (!r) return fail(r.error());
    const auto before = AgentState::load(rt.paths.stateFile());
    auto s = rt.engine->disable(&signals.cancel);
    if (!s) return fail(s.error());
    if (before && before->applied)
        AgentLogger(AgentLogger::systemSink(), LogLevel::Info)
            .event(LogLevel::Info, LogEvent::PatchReverted,
                   "live patch " + before->applied->version + " reverted (disable)", {"", before->applied->version});
    (void)sendControl(rt.paths.socketPath(), "reload", nullptr);
    std::cout << "Machine disabled; live patches reverted.\n";
    return kExitOk;
}

int refreshCommand(const CommandLine& line) {
    ProcessSignals& signals = processSignals();
    ProgressPrinter progress;
    Runtime rt(signals.clock);
    auto r = makeRuntime(rt, line.rootDir, true, true, true);
    if (!r) return fail(r.error());
    if (line.allowRollback) rt.engine->allowRollbackOnce();
    auto cycle = rt.engine->runCycle(
        [&](const std::string& phase, std::uint64_t done, std::uint64_t total) { progress(phase, done, total); },
        &signals.cancel);
    progress.finish();
    recordCheck(rt, cycle);
    if (!cycle) return fail(cycle.error());
    std::cout << cycle->summary << "\n";
    return kExitOk;
}

// The daemon's jobs: `__worker JOB` (not a public command, so in no table).
int workerCommand(const CommandLine& line) {
    if (line.args.size() != 1) return kExitUsage;
    return runWorkerJob(line, line.args[0]);
}

int notAnEngineCommand(const CommandLine& line) {
    const std::string& cmd = line.command;
    std::cerr << "error: `" << cmd.substr(0, 40) << "` is not an engine command; use livepatch-agent "
              << cmd.substr(0, 40) << " [invalid-argument]\n";
    return kExitUsage;
}

}  // namespace

int engineCommand(const CommandLine& line) {
    static const std::vector<CommandRoute> routes = {
        {"__worker", workerCommand},      {"__config-schema", configSchemaCommand},
        {"config", configCommand},        {"completion", completionCommand},
        {"plugins", pluginsCommand},      {"status", statusCommand},
        {"clear-lock", clearLockCommand}, {"enable", enableCommand},
        {"disable", disableCommand},      {"refresh", refreshCommand},
    };
    return dispatch(line, routes, notAnEngineCommand);
}

int runWorkerJob(const CommandLine& line, const std::string& job) {
    ProcessSignals& signals = processSignals();
    CancelToken& cancel = signals.cancel;
    auto report = [](const WorkerOutcome& o) {
        std::cout << workerResultLine(o) << "\n" << std::flush;
        return o.exitCode;
    };
    auto fromError = outcomeOf;
    static const char* const jobs[] = {"start", "scheduled", "refresh", "refresh-allow-rollback", "health"};
    if (std::find(std::begin(jobs), std::end(jobs), job) == std::end(jobs))
        return report(fromError(Error(ErrorCode::InvalidArgument, "unknown worker job \"" + job.substr(0, 40) + "\"")));
    Runtime rt(signals.clock);
    auto built = makeRuntime(rt, line.rootDir, true, true, true, false);
    if (!built) return report(fromError(built.error()));
    WorkerOutcome ok;
    if (job == "start") {
        auto s = rt.engine->reapplyFromCache(&cancel);
        return report(s ? ok : fromError(s.error()));
    }
    if (job == "health") {
        auto s = rt.engine->healthPing(&cancel);
        return report(s ? ok : fromError(s.error()));
    }
    if (job == "refresh-allow-rollback") rt.engine->allowRollbackOnce();
    auto progress = [](const std::string& phase, std::uint64_t done, std::uint64_t total) {
        std::cout << progressLine(phase, done, total) << std::flush;
    };
    auto r = rt.engine->runCycle(job == "scheduled" ? PhaseCallback() : PhaseCallback(progress), &cancel);
    if (!r) return report(fromError(r.error()));
    ok.applied = r->applied;
    ok.message = r->summary;
    return report(ok);
}

int runEngine(int argc, char** argv) { return runApplication(argc, argv, engineCommand); }

}  // namespace livepatch::agent_engine
