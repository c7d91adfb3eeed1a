// The check scheduler, apart from engine.cpp so the daemon supervisor (which
// never loads plugins or the network stack) can link it alone.
#include "schedule/schedule.h"

#include <algorithm>
#include <random>

namespace livepatch {

namespace {

// A base delay with +-10% jitter so a fleet does not poll in lockstep.
long long jittered(long long baseMs, std::uint64_t random) {
    const long long span = baseMs / 5;
    const long long jitter =
        span > 0 ? static_cast<long long>(random % static_cast<std::uint64_t>(span + 1)) - span / 2 : 0;
    return baseMs + jitter;
}

}  // namespace

std::optional<std::chrono::milliseconds> computeCheckDelay(long long intervalMinutes, unsigned failures,
                                                           std::uint64_t random) {
    if (intervalMinutes <= 0) return std::nullopt;
    const long long intervalMs = intervalMinutes * 60 * 1000;
    long long base = intervalMs;
    if (failures > 0) {
        long long backoff = 30 * 1000LL << std::min(failures - 1, 20u);
        base = std::min(backoff, intervalMs);
    }
    return std::chrono::milliseconds(std::max(1000LL, jittered(base, random)));
}

std::chrono::milliseconds computeFirstCheckDelay(long long windowMinutes, std::uint64_t random) {
    if (windowMinutes <= 0) return std::chrono::milliseconds(0);
    // Two draws from one random value: the jitter of the window, and the
    // point within it from a splitmix64 scramble of the same value.
    const long long windowMs = jittered(windowMinutes * 60 * 1000, random);
    std::uint64_t z = random + 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    const double point = static_cast<double>(z >> 11) / 9007199254740992.0;  // [0, 1), 53 bits
    return std::chrono::milliseconds(static_cast<long long>(point * static_cast<double>(windowMs)));
}

std::vector<long> simulateFleetCheckins(long agents, long minutes, long long intervalMinutes, long startSpreadMinutes,
                                        std::uint64_t seed) {
    std::vector<long> perMinute(static_cast<size_t>(std::max(0L, minutes)), 0);
    std::mt19937_64 rng(seed);
    const long long end = minutes * 60000LL;
    for (long a = 0; a < agents; ++a) {
        long long t = startSpreadMinutes > 0 ? static_cast<long long>(rng() % (startSpreadMinutes * 60000ULL)) : 0;
        t += computeFirstCheckDelay(intervalMinutes, rng()).count();
        while (t < end) {
            ++perMinute[static_cast<size_t>(t / 60000)];
            auto next = computeCheckDelay(intervalMinutes, 0, rng());
            if (!next) break;
            t += next->count();
        }
    }
    return perMinute;
}

}  // namespace livepatch
