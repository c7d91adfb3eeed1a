// Simulate the check-ins of a fleet with the agent's own scheduler
// (simulateFleetCheckins: computeFirstCheckDelay, then computeCheckDelay),
// check-interval and first-check-window 60 min, for H hours, counting EVERY
// minute from the start (the minute of the reboot included). Two scenarios:
// "spread": daemons start at random times within the first interval
// (machines boot at different times); "synchronized": all start in minute 0
// (a fleet-wide reboot). Prints the peak and mean check-ins per minute, their
// ratio, and the busiest minute.
//   bench-fleet [AGENTS=100000] [HOURS=24]
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <numeric>
#include <vector>

#include "schedule/schedule.h"

static void report(const char* scenario, long agents, long hours, long startSpreadMinutes) {
    const auto perMinute = livepatch::simulateFleetCheckins(agents, hours * 60, 60, startSpreadMinutes, 42);
    const auto peakAt = std::max_element(perMinute.begin(), perMinute.end());
    const double mean = static_cast<double>(std::accumulate(perMinute.begin(), perMinute.end(), 0L)) /
                        static_cast<double>(perMinute.size());
    std::printf(
        "{\"scenario\": \"%s\", \"agents\": %ld, \"hours\": %ld, \"peak_per_minute\": %ld, \"peak_minute\": %ld, "
        "\"minute0\": %ld, \"mean_per_minute\": %.1f, \"peak_over_mean\": %.3f}\n",
        scenario, agents, hours, *peakAt, static_cast<long>(peakAt - perMinute.begin()), perMinute.front(), mean,
        static_cast<double>(*peakAt) / mean);
}

int main(int argc, char** argv) {
    const long agents = argc > 1 ? std::atol(argv[1]) : 100000;
    const long hours = argc > 2 ? std::atol(argv[2]) : 24;
    if (agents <= 0 || hours <= 0) {
        std::fprintf(stderr, "usage: bench-fleet [AGENTS>0] [HOURS>0]\n");
        return 2;
    }
    report("spread", agents, hours, 60);
    report("synchronized", agents, hours, 0);
    return 0;
}
