#include "cli/status_views.h"

#include "livepatch/text.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <regex>
#include <sstream>
#include <vector>

#include "util/timeutil.h"

namespace livepatch::cli {

namespace {

std::string lower(std::string s) {
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return s;
}

// Label values of the text exposition format escape \, " and newline.
std::string labelValue(const std::string& v) {
    std::string out;
    for (char c : v) {
        if (c == '\\') out += "\\\\";
        else if (c == '"') out += "\\\"";
        else if (c == '\n') out += "\\n";
        else out += c;
    }
    return out;
}

void metric(std::ostringstream& out, const std::string& name, const std::string& type, const std::string& help,
            const std::string& sample) {
    out << "# HELP " << name << " " << help << "\n# TYPE " << name << " " << type << "\n" << sample << "\n";
}

size_t fixesApplied(const AgentState& st) {
    if (!st.applied) return 0;
    return static_cast<size_t>(
        std::count_if(st.fixes.begin(), st.fixes.end(), [](const PatchFix& f) { return f.patched; }));
}

}  // namespace

bool kernelUpgradeRequired(const AgentState& st) {
    return st.supported == KernelSupport::KernelUpgradeRequired || st.supported == KernelSupport::KernelEndOfLife;
}

namespace {
// The characters of a line, one entry per UTF-8 sequence (a column each).
std::vector<std::string> columnsOf(const std::string& line) {
    std::vector<std::string> chars;
    for (unsigned char c : line) {
        if ((c & 0xC0) == 0x80 && !chars.empty()) chars.back() += static_cast<char>(c);
        else chars.push_back(std::string(1, static_cast<char>(c)));
    }
    return chars;
}
}  // namespace

std::string fitColumns(const std::string& text, size_t width) {
    // One entry per character (a UTF-8 sequence stays whole), so the cut
    // never splits a character and the width counts columns, not bytes.
    // terminalSafe's output is well-formed UTF-8 with no control character.
    std::vector<std::string> chars = columnsOf(terminalSafe(text, text.size() * 6 + 3));
    if (chars.size() > width) {
        chars.resize(width >= 3 ? width - 3 : 0);
        chars.push_back(width >= 3 ? "..." : "");
    }
    std::string out;
    for (const auto& c : chars) out += c;
    return out;
}

std::string wrapColumns(const std::string& text, size_t width) {
    const std::string indent = "    ";
    if (width <= indent.size() + 1) return text;
    std::string out;
    std::istringstream lines(text);
    std::string line;
    bool first = true;
    while (std::getline(lines, line)) {
        if (!first) out += "\n";
        first = false;
        std::vector<std::string> rest = columnsOf(line);
        size_t room = width;
        while (rest.size() > room) {
            size_t cut = room;
            while (cut > 0 && rest[cut] != " ") --cut;  // the last space that fits
            const bool atSpace = cut > 0;
            if (!atSpace) cut = room;  // a word wider than the line
            for (size_t k = 0; k < cut; ++k) out += rest[k];
            out += "\n" + indent;
            rest.erase(rest.begin(), rest.begin() + static_cast<std::ptrdiff_t>(cut + (atSpace ? 1 : 0)));
            room = width - indent.size();
        }
        for (const auto& c : rest) out += c;
    }
    if (!text.empty() && text.back() == '\n') out += "\n";
    return out;
}

std::string renderPrometheus(const AgentState& st, const std::optional<DaemonCounters>& daemon) {
    std::ostringstream out;
    metric(out, "livepatch_agent_enabled", "gauge", "1 if this machine is enabled for live patching.",
           "livepatch_agent_enabled " + std::string(st.enabled ? "1" : "0"));
    metric(out, "livepatch_agent_patch_applied", "gauge", "1 if a live patch is applied to the running kernel.",
           "livepatch_agent_patch_applied " + std::string(st.applied ? "1" : "0"));
    if (st.applied)
        metric(out, "livepatch_agent_patch_version_info", "gauge", "Version of the applied live patch.",
               "livepatch_agent_patch_version_info{version=\"" + labelValue(st.applied->version) + "\"} 1");
    metric(out, "livepatch_agent_fixes_applied", "gauge", "Fixes (CVEs) the applied live patch carries.",
           "livepatch_agent_fixes_applied " + std::to_string(fixesApplied(st)));
    metric(out, "livepatch_agent_kernel_upgrade_required", "gauge",
           "1 if the server says the running kernel must be upgraded.",
           "livepatch_agent_kernel_upgrade_required " + std::string(kernelUpgradeRequired(st) ? "1" : "0"));
    if (auto t = timeutil::parseRfc3339(st.lastCheck))
        metric(out, "livepatch_agent_last_check_timestamp_seconds", "gauge",
               "Unix time of the last check with the server.",
               "livepatch_agent_last_check_timestamp_seconds " +
                   std::to_string(std::chrono::duration_cast<std::chrono::seconds>(t->time_since_epoch()).count()));
    // A stale signed catalogue is a failed check too (the freeze an alert must catch).
    const bool failed = st.checkState == CheckState::CheckFailed || st.checkState == CheckState::Stale;
    metric(out, "livepatch_agent_last_check_failed", "gauge",
           "1 if the last check with the server failed (or found it stale).",
           "livepatch_agent_last_check_failed " + std::string(failed ? "1" : "0"));
    if (daemon)
        metric(out, "livepatch_agent_check_failures_total", "counter", "Failed checks since the daemon started.",
               "livepatch_agent_check_failures_total " + std::to_string(daemon->checkFailures));
    return out.str();
}

std::string renderMotd(const AgentState& st) {
    if (!st.enabled) return "";
    std::string line;
    if (st.crashGuard) line = "Live patching is paused after a crash during a load; see `livepatch-agent status`.";
    else if (st.applied)
        line = "Live patching is active: patch " + fitColumns(st.applied->version, 20) + " applied, " +
               std::to_string(fixesApplied(st)) + " fixes.";
    else line = "Live patching is enabled; no live patch is applied (" + fitColumns(spelling(st.patchState), 30) + ").";
    if (kernelUpgradeRequired(st))
        line += " Kernel upgrade required" +
                (st.upgradeRequiredDate.empty() ? std::string() : " by " + fitColumns(st.upgradeRequiredDate, 30)) +
                ".";
    return line + "\n";
}

std::string renderCves(const AgentState& st) {
    if (!st.applied || st.fixes.empty()) return "No fixes: no live patch is applied.\n";
    std::ostringstream out;
    out << "FIX              PATCHED  DESCRIPTION\n";
    for (const auto& f : st.fixes) {
        std::string name = fitColumns(f.name, 16);
        name.resize(std::max<size_t>(name.size(), 16), ' ');
        out << name << " " << (f.patched ? "yes      " : "no       ") << fitColumns(f.description, 79 - 26) << "\n";
    }
    return out.str();
}

bool isCveId(const std::string& id) {
    static const std::regex re("^cve-[0-9]{4}-[0-9]{4,7}$");
    return std::regex_match(lower(id), re);
}

bool cvePatched(const AgentState& st, const std::string& id) {
    if (!st.enabled || !st.applied) return false;
    const std::string wanted = lower(id);
    return std::any_of(st.fixes.begin(), st.fixes.end(),
                       [&](const PatchFix& f) { return f.patched && lower(f.name) == wanted; });
}

}  // namespace livepatch::cli
