#pragma once

#include <chrono>
#include <cstdint>
#include <optional>

namespace livepatch {

// The scheduler as a pure function (reused by the fleet benchmark):
// interval with +-10% jitter, or 30 s * 2^(failures-1) capped at the
// interval after failures; nullopt when periodic checks are disabled.
// firstAfterStart: the first delay after a daemon start is uniform in
// [0.5, 1.5] x interval, so a fleet rebooted together spreads out within
// one interval instead of polling in lockstep.
std::optional<std::chrono::milliseconds> computeCheckDelay(long long intervalMinutes, unsigned failures,
                                                           std::uint64_t random, bool firstAfterStart = false);

}  // namespace livepatch
