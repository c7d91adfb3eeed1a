// The periodic checker: re-apply from cache at start, then check on an
// interval with jitter and backoff, serve the control socket, health-ping
// after applies, and stop cleanly on SIGTERM/SIGINT.
#pragma once

#include <optional>
#include <string>

namespace livepatch::app {

int runDaemon(const std::optional<std::string>& rootDir);

}  // namespace livepatch::app
