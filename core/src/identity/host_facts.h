// Facts about the host for reports and status, read under a host root.
#pragma once

#include <string>

namespace livepatch {

struct HostFacts {
    std::string bootTime;  // RFC 3339, "" if unknown
    long long uptimeSeconds = 0;
    std::string cpuModel;  // "" if unknown
};

// nowEpoch: current wall time (seconds) from the injected clock.
HostFacts readHostFacts(const std::string& hostRoot, long long nowEpoch);

}  // namespace livepatch
