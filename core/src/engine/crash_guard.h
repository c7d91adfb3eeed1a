// The crash-safety guard: a restart of the machine (a new boot id on the same
// kernel) while a patch was being loaded, or within kCrashGuardWindow after
// it was loaded, is taken as a possible crash caused by the patch, and
// automatic loading stops until `livepatch-agent clear-lock`.
#pragma once

#include <chrono>
#include <string>

#include "livepatch/error.h"
#include "livepatch/loader.h"
#include "livepatch/plugin.h"
#include "state/agent_state.h"

namespace livepatch {

constexpr std::chrono::minutes kCrashGuardWindow{10};

// True if automatic loading must not happen on this boot. Raises the guard
// in `st` (with the reason, logged) when this boot is the restart it looks
// for; the caller saves.
bool crashGuardHolds(AgentState& st, const KernelInfo& kernel, std::chrono::system_clock::time_point now,
                     const std::string& hostRoot, Logger& logger);

// CrashGuard naming why, and how to lift the guard.
Error crashGuardError(const AgentState& st);

// The operator lifted the guard: forget the interrupted load (and its
// tarball, unless it is the applied one) and the boot that raised it.
void liftCrashGuard(AgentState& st);

}  // namespace livepatch
