#include "cli/host_notices.h"

#include <sstream>

#include "cli/exit_codes.h"
#include "util/fs.h"

namespace livepatch::cli {

Status flagRebootIfRequired(const Paths& paths, const AgentState& st) {
    if (!st.enabled || !kernelUpgradeRequired(st)) return {};
    const std::string flag = fs::join(paths.hostRoot, "run/reboot-required");
    const std::string pkgs = flag + ".pkgs";
    if (!fs::exists(flag)) LP_TRY(fs::writeFileAtomic(flag, "*** System restart required ***\n", 0644));
    std::string listed;
    if (auto existing = fs::readFile(pkgs, 1u << 20)) listed = *existing;
    else if (existing.error().code() != ErrorCode::NotFound) return existing.error();
    std::istringstream lines(listed);
    for (std::string line; std::getline(lines, line);)
        if (line == "livepatch-agent") return {};
    if (!listed.empty() && listed.back() != '\n') listed += '\n';
    return fs::writeFileAtomic(pkgs, listed + "livepatch-agent\n", 0644);
}

Status writeMetricsFile(const Config& config, const AgentState& st, const DaemonCounters& counters) {
    const std::string dir = config.getOr("metrics-dir", "");
    if (dir.empty()) return {};
    return fs::writeFileAtomic(fs::join(dir, "livepatch-agent.prom"), renderPrometheus(st, counters), 0644);
}

void logCheckEvent(AgentLogger& log, const WorkerOutcome& o, const AgentState* st) {
    if (o.errorCode == "cancelled" || o.errorCode == "not-enabled") return;
    if (o.exitCode == kExitOk) {
        if (!o.applied) return;
        const std::string version = st && st->applied ? st->applied->version : "";
        log.event(LogLevel::Info, LogEvent::PatchApplied, "live patch " + version + " applied", {"", version});
        return;
    }
    // The version on offer, when the state recorded one, is what was refused.
    const std::string offered = st ? st->availableVersion : "";
    if (o.exitCode == kExitVerification)
        log.event(LogLevel::Warning, LogEvent::PatchRefused, "patch refused: " + o.message, {o.errorCode, offered});
    else log.event(LogLevel::Warning, LogEvent::CheckFailed, "check failed: " + o.message, {o.errorCode, offered});
}

void publishCheckOutcome(AgentLogger& log, const Paths& paths, const Config& config, const WorkerOutcome& outcome,
                         const std::optional<DaemonCounters>& counters) {
    auto st = AgentState::load(paths.stateFile());
    logCheckEvent(log, outcome, st ? &*st : nullptr);
    if (!st) {
        log.warning("cannot publish the state to the host: " + st.error().message());
        return;
    }
    if (auto s = flagRebootIfRequired(paths, *st); !s)
        log.warning("cannot flag the reboot as required: " + s.error().message());
    if (counters)
        if (auto s = writeMetricsFile(config, *st, *counters); !s)
            log.warning("cannot write the metrics file: " + s.error().message());
}

}  // namespace livepatch::cli
