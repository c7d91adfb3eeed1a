// The periodic checker, as a small supervisor: it keeps the schedule
// (interval, jitter, backoff), the control socket and the 1/5/15-minute
// health checks after a load, and runs each job (re-apply from the cache at
// start, check, refresh, health report) in a short-lived engine worker
// process. Idle, it holds no plugin, TLS stack or parser; a crash while
// parsing network input ends one worker, not the daemon. SIGTERM/SIGINT stop
// it cleanly (a running worker is asked to stop at its next safe point).
#pragma once

#include <optional>
#include <string>

namespace livepatch::agent {

int runDaemon(const std::optional<std::string>& rootDir);

}  // namespace livepatch::agent
