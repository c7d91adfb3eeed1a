#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <vector>

namespace livepatch {

// The scheduler as pure functions (reused by the fleet benchmark).

// Delay after a check: the interval with +-10% jitter, or 30 s * 2^(failures-1)
// capped at the interval after failures; nullopt when periodic checks are
// disabled (interval 0).
std::optional<std::chrono::milliseconds> computeCheckDelay(long long intervalMinutes, unsigned failures,
                                                           std::uint64_t random);

// Delay from a daemon start to its first server check: a uniform point in
// [0, window x j), where j is the same +-10% jitter factor as a periodic
// check. A fleet rebooted together then checks in at a flat rate: a window of
// one check-interval scaled like that is (nearly) the steady state of the
// periodic schedule, so the first checks of the herd neither pile up at boot
// nor collide with the second ones. Window 0: at once.
std::chrono::milliseconds computeFirstCheckDelay(long long windowMinutes, std::uint64_t random);

// Server check-ins per minute of a simulated fleet of daemons running this
// schedule with no failures (check-interval = first-check-window =
// intervalMinutes), counted over every minute of [0, minutes). Each daemon
// starts at a uniform time in [0, startSpreadMinutes); 0 = all in minute 0
// (a fleet-wide reboot). For the fleet benchmark and the schedule's tests.
std::vector<long> simulateFleetCheckins(long agents, long minutes, long long intervalMinutes, long startSpreadMinutes,
                                        std::uint64_t seed);

}  // namespace livepatch
