#include "identity/host_facts.h"

#include <chrono>
#include <sstream>

#include "util/fs.h"
#include "util/timeutil.h"

namespace livepatch {

HostFacts readHostFacts(const std::string& hostRoot, long long nowEpoch) {
    HostFacts f;
    if (auto up = fs::readFile(fs::join(hostRoot, "proc/uptime"), 4096)) {
        std::istringstream in(*up);
        double secs = 0;
        if (in >> secs) {
            f.uptimeSeconds = static_cast<long long>(secs);
            f.bootTime = timeutil::formatRfc3339(
                std::chrono::system_clock::time_point(std::chrono::seconds(nowEpoch - f.uptimeSeconds)));
        }
    }
    if (auto cpu = fs::readFile(fs::join(hostRoot, "proc/cpuinfo"), 4u << 20)) {
        std::istringstream in(*cpu);
        std::string line;
        while (std::getline(in, line)) {
            if (line.rfind("model name", 0) == 0) {
                auto colon = line.find(':');
                if (colon != std::string::npos) {
                    f.cpuModel = line.substr(colon + 1);
                    f.cpuModel.erase(0, f.cpuModel.find_first_not_of(" \t"));
                }
                break;
            }
        }
    }
    return f;
}

}  // namespace livepatch
