// `status` output in three formats, from the persisted state only.
#pragma once

#include <string>

#include "state/agent_state.h"

namespace livepatch::cli {

struct StatusFacts {
    std::string clientVersion;
    std::string machineId;  // application-specific id, never the raw one
    std::string architecture;
    std::string cpuModel;
    std::string bootTime;
    long long uptimeSeconds = 0;
    std::string runningKernel;  // version signature of the running kernel
    std::string nowRfc3339;
    bool cycleInProgress = false;  // a check or update holds the cycle lock right now
};

struct StatusOptions {
    bool verbose = false;
    bool showSecrets = false;
    std::string secret;  // credential, only rendered with showSecrets
};

std::string renderJson(const AgentState& st, const StatusFacts& f, const StatusOptions& o);
std::string renderYaml(const AgentState& st, const StatusFacts& f, const StatusOptions& o);
std::string renderHumane(const AgentState& st, const StatusFacts& f, const StatusOptions& o);

}  // namespace livepatch::cli
