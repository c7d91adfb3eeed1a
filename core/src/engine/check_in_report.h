// The status report that rides along every check-in and health report
// (schemas/api: the updates request body): kernel, patch and check state,
// the policy in force, and the kernel's health since the last load.
#pragma once

#include <chrono>
#include <string>

#include "config/config.h"
#include "livepatch/loader.h"
#include "state/agent_state.h"

namespace livepatch {

std::string checkInReport(const AgentState& st, const KernelInfo& kernel, const Config& config,
                          const std::string& hostRoot, std::chrono::system_clock::time_point now);

}  // namespace livepatch
