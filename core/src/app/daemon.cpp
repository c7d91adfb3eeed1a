#include "app/daemon.h"

#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <iostream>
#include <mutex>
#include <random>
#include <thread>

#include "app/agent_app.h"
#include "app/control_socket.h"
#include "app/engine_process.h"
#include "app/exit_codes.h"
#include "app/host_notices.h"
#include "app/job_schedule.h"
#include "app/system_clock.h"
#include "config/config.h"
#include "schedule/schedule.h"
#include "logging/logger.h"
#include "state/paths.h"

namespace livepatch::app {

int runDaemon(const std::optional<std::string>& rootDir) {
    // Signals are taken by one thread with sigwait; all others block them.
    // (Workers are spawned with an empty mask and default handlers.)
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);

    const Paths paths = Paths::resolve(Paths::processEnvironment(), rootDir);
    if (auto s = paths.ensure(); !s) return fail(s.error());
    auto loaded = Config::load(paths.configFile());
    if (!loaded) return fail(loaded.error());
    Config config = *loaded;
    AgentLogger log(AgentLogger::defaultSink(), parseLogLevel(config.getOr("log-level", "info")));
    auto engine = locateEngine(::geteuid() == 0);
    if (!engine) return fail(engine.error());
    std::vector<std::string> baseArgs;
    if (rootDir) baseArgs.push_back("--root-dir=" + *rootDir);
    WorkerRunner workers(*engine, baseArgs);

    SystemClock clock;
    CancelToken stop;
    std::mutex jobMu;  // one job at a time, whoever asks (timer or control socket)
    std::atomic<bool> reloadRequested{false}, appliedByRefresh{false};

    std::thread signals([&] {
        for (;;) {
            int sig = 0;
            if (sigwait(&set, &sig) != 0) continue;
            if (sig == SIGHUP) {
                reloadRequested = true;
                clock.wake();
                continue;
            }
            log.info("received signal " + std::to_string(sig) + "; stopping");
            stop.cancel();
            workers.cancel();
            clock.wake();
            return;
        }
    });

    DaemonCounters counters;  // for the metrics file
    // Every check, scheduled or asked for, ends with the journal event, the
    // reboot-required flag and the metrics file (host_notices.h).
    auto runJob = [&](const std::string& job, const std::function<void(const std::string&)>& onProgress) {
        std::lock_guard<std::mutex> lock(jobMu);
        WorkerOutcome o = workers.run(job, onProgress);
        if (job == "health") return o;
        if (job != "start" && o.exitCode != kExitOk && o.errorCode != "cancelled" && o.errorCode != "not-enabled")
            ++counters.checkFailures;
        publishCheckOutcome(log, paths, config, job == "start" ? WorkerOutcome{} : o, counters);  // re-apply: no check event
        return o;
    };

    ControlServer control;
    auto started = control.start(paths.socketPath(), [&](const std::string& command,
                                                         const std::function<void(const std::string&)>& emit) -> std::pair<int, std::string> {
        if (command == "reload") {
            reloadRequested = true;
            clock.wake();
            return {0, "reload scheduled"};
        }
        if (command == "refresh" || command == "refresh allow-rollback") {
            auto o = runJob(command == "refresh" ? "refresh" : "refresh-allow-rollback",
                            [&](const std::string& line) { emit(line + "\n"); });
            if (o.exitCode == 0 && o.applied) {
                appliedByRefresh = true;  // schedule health checks
                clock.wake();
            }
            return {o.exitCode, o.message};
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

    // The cached patch goes back into the kernel at once (no network needed);
    // the first server check waits a random time within first-check-window,
    // so a fleet rebooted together does not reach the server in one minute.
    // `refresh` (control socket) and a reload (enable, config) stay immediate.
    if (auto o = runJob("start", nullptr); o.exitCode != 0 && o.errorCode != "cancelled")
        log.warning("re-applying cached patches: " + o.message);

    std::mt19937_64 rng{std::random_device{}()};
    unsigned failures = 0;
    const auto firstDelay = computeFirstCheckDelay(config.firstCheckWindowMinutes(), rng());
    if (firstDelay.count() > 0) log.info("first check in " + std::to_string(firstDelay.count() / 1000) + " s");
    JobSchedule schedule(std::chrono::steady_clock::now() + firstDelay);
    while (!stop.cancelled()) {
        auto now = std::chrono::steady_clock::now();
        if (reloadRequested.exchange(false)) {
            auto fresh = Config::load(paths.configFile());
            if (!fresh) {
                log.error("reload failed: " + fresh.error().message());
            } else {
                {
                    std::lock_guard<std::mutex> lock(jobMu);  // runJob reads it (metrics-dir) on the socket's thread
                    config = *fresh;
                }
                log.setLevel(parseLogLevel(config.getOr("log-level", "info")));
                if (auto e = locateEngine(::geteuid() == 0)) workers.setEnginePath(*e);  // e.g. after a package upgrade
                log.info("configuration reloaded");
            }
            schedule.checkNow(now);
        }
        if (appliedByRefresh.exchange(false)) schedule.patchApplied(now);
        switch (schedule.take(now)) {
        case JobSchedule::Job::Health: {
            auto o = runJob("health", nullptr);
            if (o.exitCode != 0 && o.errorCode != "cancelled") log.warning("health report: " + o.message);
            continue;  // a check may be due too
        }
        case JobSchedule::Job::Check: {
            auto o = runJob("scheduled", nullptr);
            if (o.exitCode == 0) {
                failures = 0;
                log.info(o.message);
                if (o.applied) schedule.patchApplied(std::chrono::steady_clock::now());
            } else if (o.errorCode == "not-enabled") {
                failures = 0;  // nothing to do until enabled
            } else if (o.errorCode != "cancelled") {
                ++failures;  // e.g. no network yet at boot: retry with backoff (logged by runJob)
            }
            schedule.checked(std::chrono::steady_clock::now(), computeCheckDelay(config.number("check-interval"), failures, rng()));
            continue;
        }
        case JobSchedule::Job::None: break;
        }
        const auto wakeAt = schedule.wakeAt();
        auto sleep = wakeAt == JobSchedule::TimePoint::max()
                         ? std::chrono::milliseconds(24 * 3600 * 1000)
                         : std::chrono::duration_cast<std::chrono::milliseconds>(wakeAt - std::chrono::steady_clock::now());
        if (sleep.count() > 0) clock.sleepFor(sleep, &stop);
    }
    control.stop();
    signals.join();
    log.info("daemon stopped");
    return kExitOk;
}

}  // namespace livepatch::app
