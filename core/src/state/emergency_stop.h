// Emergency stop: a way to keep the agent from loading anything that works
// before the agent itself runs, for a machine where a live patch misbehaves
// at boot (like kpatch's `kpatch.enable=0`):
//   - the kernel command line word `livepatch_agent.mode=stop` (edit it in
//     the boot loader for one boot), or
//   - the file <state-dir>/emergency-stop (created from a rescue shell;
//     /var/lib/livepatch-agent/emergency-stop, or in the snap
//     /var/snap/livepatch-agent/common/emergency-stop).
// While either is present the daemon exits at start without re-applying the
// cache or contacting the server, and cycles do nothing; the systemd unit
// also refuses to start (ConditionKernelCommandLine / ConditionPathExists).
#pragma once

#include <optional>
#include <string>

#include "state/paths.h"

namespace livepatch {

inline constexpr const char* kEmergencyStopCmdline = "livepatch_agent.mode=stop";

// Why the agent must not act, or nullopt. Reads <host-root>/proc/cmdline.
std::optional<std::string> emergencyStopReason(const Paths& paths);

}  // namespace livepatch
