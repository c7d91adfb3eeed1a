// Views of the local state for tools around the agent: the CVE list and
// question (`status --cves`, `--cve ID`), the login notice (`--format motd`)
// and Prometheus text exposition (`--format prometheus`, and the daemon's
// textfile-collector file). All of them read only the persisted state.
#pragma once

#include <optional>
#include <string>

#include "state/agent_state.h"

namespace livepatch::cli {

// Counters only the running daemon knows; absent for `status`.
struct DaemonCounters {
    unsigned long long checkFailures = 0;  // failed checks since the daemon started
};

// node_exporter textfile-collector format; passes `promtool check metrics`.
std::string renderPrometheus(const AgentState& st, const std::optional<DaemonCounters>& daemon);

// One line for update-motd.d, "" when the machine was never enabled.
std::string renderMotd(const AgentState& st);

// Each fix of the applied patch with its patched state, lines < 80 columns.
std::string renderCves(const AgentState& st);

// The server says the running kernel must be upgraded (or is end-of-life).
bool kernelUpgradeRequired(const AgentState& st);

// "CVE-2024-1086" (any case) is a well-formed CVE id.
bool isCveId(const std::string& id);

// True if the applied patch fixes `id` (compared case-insensitively).
bool cvePatched(const AgentState& st, const std::string& id);

// Text from the server in a column of `width` characters: escaped by the
// one terminal escaping (livepatch/text.h terminalSafe), then cut at a
// character boundary so that it fits, "..." included.
std::string fitColumns(const std::string& text, size_t width);

// Humane output (already escaped) with every line at most `width` columns:
// a longer line breaks at its last space that fits, or inside a word longer
// than the width, and goes on indented by four spaces. Nothing is dropped,
// unlike fitColumns: a status line carries a server's whole error message.
std::string wrapColumns(const std::string& text, size_t width);

}  // namespace livepatch::cli
