// Simulate the check-in schedule of a fleet with the agent's own scheduler
// (computeCheckDelay), check-interval 60 min, for H hours. Two scenarios:
// "spread": agents start at random times within the first interval (machines
// boot at different times); "synchronized": all start in the same minute
// (mass reboot), showing how fast the jitter spreads a herd. Prints the peak
// and mean check-ins per minute and their ratio.
//   bench-fleet [AGENTS=100000] [HOURS=24]
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

#include "schedule/schedule.h"

static void simulate(const char* scenario, bool synchronized, long agents, long hours) {
    const long minutes = hours * 60;
    std::vector<long> perMinute(static_cast<size_t>(minutes), 0);
    std::mt19937_64 rng(42);
    for (long a = 0; a < agents; ++a) {
        long long t = synchronized ? 0 : static_cast<long long>(rng() % (60 * 60000ULL));
        bool first = true;
        while (t < minutes * 60000LL) {
            ++perMinute[static_cast<size_t>(t / 60000)];
            t += livepatch::computeCheckDelay(60, 0, rng(), first)->count();
            first = false;
        }
    }
    // Skip the first 1.5 intervals (the start-up herd itself).
    const long from = std::min<long>(minutes - 1, 90);
    long peak = 0;
    double sum = 0;
    for (long m = from; m < minutes; ++m) {
        peak = std::max(peak, perMinute[static_cast<size_t>(m)]);
        sum += static_cast<double>(perMinute[static_cast<size_t>(m)]);
    }
    const double mean = sum / static_cast<double>(minutes - from);
    std::printf("{\"scenario\": \"%s\", \"agents\": %ld, \"hours\": %ld, \"peak_per_minute\": %ld, \"mean_per_minute\": %.1f, "
                "\"peak_over_mean\": %.3f}\n",
                scenario, agents, hours, peak, mean, static_cast<double>(peak) / mean);
}

int main(int argc, char** argv) {
    const long agents = argc > 1 ? std::atol(argv[1]) : 100000;
    const long hours = argc > 2 ? std::atol(argv[2]) : 24;
    simulate("spread", false, agents, hours);
    simulate("synchronized", true, agents, hours);
    return 0;
}
