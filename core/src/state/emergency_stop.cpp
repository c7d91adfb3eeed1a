#include "state/emergency_stop.h"

#include <sstream>

#include "util/fs.h"

namespace livepatch {

std::optional<std::string> emergencyStopReason(const Paths& paths) {
    if (auto cmdline = fs::readFile(fs::join(paths.hostRoot, "proc/cmdline"), 64u << 10)) {
        std::istringstream words(*cmdline);
        for (std::string w; words >> w;)
            if (w == kEmergencyStopCmdline)
                return std::string("emergency stop: the kernel command line has ") + kEmergencyStopCmdline;
    }
    if (fs::exists(paths.emergencyStopFile()))
        return "emergency stop: " + paths.emergencyStopFile() + " exists (remove it to resume)";
    return std::nullopt;
}

}  // namespace livepatch
