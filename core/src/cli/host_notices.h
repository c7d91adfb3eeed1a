// What the agent tells the host's own tooling after a check, from the local
// state: Debian/Ubuntu's reboot-required flag files (read by update-motd,
// unattended-upgrades, needrestart, desktop notifiers) and the Prometheus
// textfile-collector file for node_exporter.
#pragma once

#include <optional>
#include <string>

#include "cli/engine_binary.h"
#include "cli/status_views.h"
#include "config/config.h"
#include "livepatch/error.h"
#include "logging/logger.h"
#include "state/agent_state.h"
#include "state/paths.h"

namespace livepatch::cli {

// When the server says the kernel must be upgraded: create
// <host-root>/run/reboot-required (if no one else has) and add
// "livepatch-agent" to <host-root>/run/reboot-required.pkgs once. Both are
// world-readable, as Debian's tooling expects; /run is emptied by the reboot
// that resolves it, so nothing is ever removed here.
Status flagRebootIfRequired(const Paths& paths, const AgentState& st);

// <metrics-dir>/livepatch-agent.prom, atomically (node_exporter never sees a
// half-written file) and 0644 so node_exporter's user can read it. Nothing
// when metrics-dir is empty.
Status writeMetricsFile(const Config& config, const AgentState& st, const DaemonCounters& counters);

// The journal event of a finished check (daemon job, CLI refresh or enable):
// PatchApplied with the new version, PatchRefused (verification or policy,
// exit 6) or CheckFailed, each with LIVEPATCH_ERROR_CODE; nothing for a
// cancelled run or a machine that is not enabled. `st` is the state the run
// left (null if unreadable).
void logCheckEvent(AgentLogger& log, const WorkerOutcome& outcome, const AgentState* st);

// Everything the host learns after a check, from the state it left: the
// journal event (logCheckEvent), the reboot-required flag, and (daemon only:
// `counters`) the metrics file. Problems are logged, never fatal: they must
// not stop the checks.
void publishCheckOutcome(AgentLogger& log, const Paths& paths, const Config& config, const WorkerOutcome& outcome,
                         const std::optional<DaemonCounters>& counters);

}  // namespace livepatch::cli
