// Every change the engine makes to the recorded state, named for the event
// that causes it, so the cycle says *what happened* and the state model's
// rules (which fields go together) live in one place.
#pragma once

#include <string>

#include "livepatch/error.h"
#include "livepatch/loader.h"
#include "livepatch/plugin.h"
#include "state/agent_state.h"

namespace livepatch {

// The kernel is the truth: make `st` say what it holds now, with the
// version the loaded module itself declares; an interrupted load that
// reached the kernel is adopted (`now` becomes its load time if none was
// recorded). Under the cycle lock at the start of every cycle, before every
// status decision (health, clear-lock, `status` after an interrupted cycle)
// and after every failed or interrupted load. Markers of another boot are
// left to the crash guard, which runs first.
Status reconcile(AgentState& st, const KernelInfo& kernel, Loader& loader, const std::string& now, Logger& logger);

// Is our applied patch in the running kernel, enabled, its transition done,
// with the recorded version (or one the module does not declare)? From the
// reconciled view. A transition still running (an agent was killed while
// waiting for it) counts as not yet: loading the same version again waits.
bool appliedIsInKernel(const AgentState& st);

// Recorded as applied to the running kernel, whether or not it is in it now.
bool appliedToKernel(const AgentState& st, const KernelInfo& kernel);

// The intent, saved before the kernel is touched (see reconcile()).
void markLoading(AgentState& st, const AppliedPatchRecord& rec, const KernelInfo& kernel, const std::string& now);
// The load finished (or was found out): the intent markers go.
void clearLoadingMarkers(AgentState& st);

// `rec` is in the kernel now. Our report changed, so the ETag goes: the next
// check must not be a 304.
void markApplied(AgentState& st, const AppliedPatchRecord& rec);

// The server answered, or could not be reached (`error`, one line).
void markChecked(AgentState& st, const std::string& now);
void markCheckFailed(AgentState& st, const Error& error, const std::string& now);

// A load failed (PatchState::ApplyFailed, the error on one line) or was
// cancelled (the operator's choice: the reconciled state stays, with a
// note). The ETag goes: the next check fetches the offer again.
void markFailed(AgentState& st, const Error& error);

}  // namespace livepatch
