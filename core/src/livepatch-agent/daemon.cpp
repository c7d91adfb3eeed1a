#include "livepatch-agent/daemon.h"

#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <mutex>
#include <random>
#include <thread>

#include "cli/command_line.h"
#include "cli/control_socket.h"
#include "cli/engine_binary.h"
#include "cli/exit_codes.h"
#include "cli/host_notices.h"
#include "cli/system_clock.h"
#include "config/config.h"
#include "livepatch-agent/job_schedule.h"
#include "livepatch-agent/service_notify.h"
#include "logging/logger.h"
#include "schedule/schedule.h"
#include "state/emergency_stop.h"
#include "state/paths.h"

namespace livepatch::agent {

using namespace livepatch::cli;

int runDaemon(const std::optional<std::string>& rootDir) {
    // Signals are taken by one thread with sigwait; all others block them.
    // (Workers are spawned with an empty mask and default handlers.)
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGUSR1);  // internal: wakes the signal thread to finish
    pthread_sigmask(SIG_BLOCK, &set, nullptr);

    const Paths paths = Paths::resolve(Paths::processEnvironment(), rootDir);
    if (auto s = paths.ensure(); !s) return fail(s.error());
    auto loaded = Config::load(paths.configFile());
    if (!loaded) return fail(loaded.error());
    Config config = *loaded;
    AgentLogger log(AgentLogger::defaultSink(), parseLogLevel(config.getOr("log-level", "info")));
    if (auto why = emergencyStopReason(paths)) {
        // Exit 0: neither systemd (Restart=on-failure) nor snapd restarts it.
        log.warning(*why + "; the daemon does not run");
        notifyReady(*why);
        return kExitOk;
    }
    auto engine = locateEngine(::geteuid() == 0);
    if (!engine) return fail(engine.error());
    std::vector<std::string> baseArgs;
    if (rootDir) baseArgs.push_back("--root-dir=" + *rootDir);
    WorkerRunner workers(*engine, baseArgs);

    SystemClock clock;
    CancelToken stop;
    std::mutex jobMu;  // one job at a time, whoever asks (timer or control socket)
    std::atomic<bool> reloadRequested{false}, appliedByRefresh{false};

    // The signal thread listens until the daemon has stopped: the first
    // SIGTERM/SIGINT cancels (the running worker gets SIGTERM and ends
    // within its grace, or after a kernel transition), a second one is
    // passed on too, which ends the worker at once.
    std::atomic<bool> finished{false};
    std::thread signals([&] {
        int stopSignals = 0;
        // No timeout: an idle daemon must not wake up (issue 7's goal);
        // finishSignals() wakes this thread with SIGUSR1 to end it.
        while (!finished) {
            siginfo_t info;
            const int sig = sigwaitinfo(&set, &info);
            if (sig <= 0 || sig == SIGUSR1) continue;
            if (sig == SIGHUP) {
                reloadRequested = true;
                clock.wake();
                continue;
            }
            log.info("received signal " + std::to_string(sig) +
                     (stopSignals++ ? " again; stopping the worker now" : "; stopping"));
            notifyStopping();
            stop.cancel();
            workers.cancel();
            clock.wake();
        }
    });
    auto finishSignals = [&] {
        finished = true;
        pthread_kill(signals.native_handle(), SIGUSR1);
        signals.join();
    };

    DaemonCounters counters;  // for the metrics file
    // Every check, scheduled or asked for, ends with the journal event, the
    // reboot-required flag and the metrics file (host_notices.h).
    auto runJob = [&](const std::string& job, const std::function<void(const std::string&)>& onProgress) {
        std::lock_guard<std::mutex> lock(jobMu);
        WorkerOutcome o = workers.run(job, onProgress);
        if (job == "health") return o;
        if (job != "start" && o.exitCode != kExitOk && o.errorCode != "cancelled" && o.errorCode != "not-enabled")
            ++counters.checkFailures;
        publishCheckOutcome(log, paths, config, job == "start" ? WorkerOutcome{} : o,
                            counters);  // re-apply: no check event
        return o;
    };

    ControlServer control;
    auto started =
        control.start(paths.socketPath(),
                      [&](const std::string& command,
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
        finishSignals();
        return exitCodeFor(started.error().code());
    }
    log.info(std::string("livepatch-agent daemon ") + LIVEPATCH_AGENT_VERSION + " started");

    // The cached patch goes back into the kernel at once (no network needed);
    // the first server check waits a random time within first-check-window,
    // so a fleet rebooted together does not reach the server in one minute.
    // `refresh` (control socket) and a reload (enable, config) stay immediate.
    if (auto o = runJob("start", nullptr); o.exitCode != 0 && o.errorCode != "cancelled") {
        log.warning("re-applying cached patches: " + o.message);
        notifyReady("running; re-applying cached patches failed: " + o.message);
    } else {
        notifyReady("running; boot re-apply from the cache done");
    }

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
            schedule.checked(std::chrono::steady_clock::now(),
                             computeCheckDelay(config.number("check-interval"), failures, rng()));
            continue;
        }
        case JobSchedule::Job::None: break;
        }
        const auto wakeAt = schedule.wakeAt();
        auto sleep =
            wakeAt == JobSchedule::TimePoint::max()
                ? std::chrono::milliseconds(24 * 3600 * 1000)
                : std::chrono::duration_cast<std::chrono::milliseconds>(wakeAt - std::chrono::steady_clock::now());
        if (sleep.count() > 0) clock.sleepFor(sleep, &stop);
    }
    control.stop();
    finishSignals();
    log.info("daemon stopped");
    return kExitOk;
}

}  // namespace livepatch::agent
