#include "app/daemon.h"

#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <deque>
#include <iostream>
#include <mutex>
#include <random>
#include <thread>

#include "app/control_socket.h"
#include "app/exit_codes.h"
#include "app/runtime.h"
#include "app/system_clock.h"
#include "config/config.h"
#include "engine/engine.h"
#include "host/plugin_host.h"
#include "logging/logger.h"
#include "state/paths.h"

namespace livepatch::app {

namespace {

Status build(Runtime& rt, const std::optional<std::string>& rootDir) {
    RuntimeOptions o;
    o.interactive = false;
    return rt.build(rootDir, o);
}

}  // namespace

int runDaemon(const std::optional<std::string>& rootDir) {
    // Signals are taken by one thread with sigwait; all others block them.
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);

    Runtime rt;
    auto built = build(rt, rootDir);
    if (!built) {
        std::cerr << "error: " << built.error().message() << " [" << built.error().codeName() << "]\n";
        return exitCodeFor(built.error().code());
    }
    Logger& log = *rt.logger;
    CancelToken stop;
    std::mutex engineMu;  // guards rt.engine/host/config against reload
    bool reloadRequested = false, refreshRequested = false;

    std::thread signals([&] {
        for (;;) {
            int sig = 0;
            if (sigwait(&set, &sig) != 0) continue;
            if (sig == SIGHUP) {
                reloadRequested = true;
                rt.clock.wake();
                continue;
            }
            log.info("received signal " + std::to_string(sig) + "; stopping");
            stop.cancel();
            rt.clock.wake();
            return;
        }
    });

    ControlServer control;
    auto started = control.start(rt.paths.socketPath(), [&](const std::string& command,
                                                           const std::function<void(const std::string&)>& emit) -> std::pair<int, std::string> {
        if (command == "reload") {
            reloadRequested = true;
            rt.clock.wake();
            return {0, "reload scheduled"};
        }
        if (command.rfind("refresh", 0) == 0) {
            std::lock_guard<std::mutex> lock(engineMu);
            if (command == "refresh allow-rollback") rt.engine->allowRollbackOnce();
            auto r = rt.engine->runCycle(CycleKind::Refresh,
                                         [&](const std::string& phase, std::uint64_t done, std::uint64_t total) {
                                             emit(progressLine(phase, done, total));
                                         },
                                         &stop);
            if (!r) return {exitCodeFor(r.error().code()), r.error().message()};
            if (r->applied) refreshRequested = true;  // schedule health pings
            return {0, r->summary};
        }
        return {kExitUsage, "unknown control command"};
    });
    if (!started) {
        log.error(started.error().message());
        stop.cancel();
        ::kill(::getpid(), SIGTERM);
        signals.join();
        return exitCodeFor(started.error().code());
    }
    log.info(std::string("livepatch-agent daemon ") + LIVEPATCH_AGENT_VERSION + " started");

    {
        std::lock_guard<std::mutex> lock(engineMu);
        auto s = rt.engine->reapplyFromCache(&stop);
        if (!s) log.warning("re-applying cached patches: " + s.error().message());
    }

    unsigned failures = 0;
    bool firstCycle = true;
    std::deque<std::chrono::steady_clock::time_point> healthDue;
    auto scheduleHealth = [&] {
        auto now = std::chrono::steady_clock::now();
        healthDue = {now + std::chrono::minutes(1), now + std::chrono::minutes(5), now + std::chrono::minutes(15)};
    };
    auto nextCheck = std::chrono::steady_clock::now();  // check at start
    while (!stop.cancelled()) {
        auto now = std::chrono::steady_clock::now();
        if (reloadRequested) {
            reloadRequested = false;
            std::lock_guard<std::mutex> lock(engineMu);
            auto s = build(rt, rootDir);
            if (!s) log.error("reload failed: " + s.error().message());
            else log.info("configuration reloaded");
            nextCheck = now;
        }
        if (refreshRequested) {
            refreshRequested = false;
            scheduleHealth();
        }
        if (!healthDue.empty() && healthDue.front() <= now) {
            healthDue.pop_front();
            std::lock_guard<std::mutex> lock(engineMu);
            auto s = rt.engine->healthPing(&stop);
            if (!s) log.warning("health report: " + s.error().message());
        }
        if (nextCheck <= now) {
            Result<CycleResult> r = Error(ErrorCode::Internal, "not run");
            std::optional<std::chrono::milliseconds> delay;
            {
                std::lock_guard<std::mutex> lock(engineMu);
                r = rt.engine->runCycle(CycleKind::Scheduled, nullptr, &stop);
                if (r) {
                    failures = 0;
                    log.info(r->summary);
                    if (r->applied) scheduleHealth();
                } else if (r.error().code() == ErrorCode::NotEnabled) {
                    failures = 0;  // nothing to do until enabled
                } else if (r.error().code() != ErrorCode::Cancelled) {
                    ++failures;  // e.g. no network yet at boot: retry with backoff
                    log.warning("check failed: " + r.error().message());
                }
                delay = rt.engine->nextCheckDelay(failures, firstCycle);
                firstCycle = false;
            }
            nextCheck = delay ? std::chrono::steady_clock::now() + *delay : std::chrono::steady_clock::time_point::max();
        }
        auto wakeAt = nextCheck;
        if (!healthDue.empty()) wakeAt = std::min(wakeAt, healthDue.front());
        auto sleep = wakeAt == std::chrono::steady_clock::time_point::max()
                         ? std::chrono::milliseconds(24 * 3600 * 1000)
                         : std::chrono::duration_cast<std::chrono::milliseconds>(wakeAt - std::chrono::steady_clock::now());
        if (sleep.count() > 0) rt.clock.sleepFor(sleep, &stop);
    }
    control.stop();
    signals.join();
    log.info("daemon stopped");
    return kExitOk;
}

}  // namespace livepatch::app
