// The check scheduler, apart from engine.cpp so the daemon supervisor (which
// never loads plugins or the network stack) can link it alone.
#include "schedule/schedule.h"

#include <algorithm>

namespace livepatch {

std::optional<std::chrono::milliseconds> computeCheckDelay(long long intervalMinutes, unsigned failures, std::uint64_t random,
                                                           bool firstAfterStart) {
    if (intervalMinutes <= 0) return std::nullopt;
    const long long intervalMs = intervalMinutes * 60 * 1000;
    if (firstAfterStart && failures == 0)
        return std::chrono::milliseconds(intervalMs / 2 + static_cast<long long>(random % static_cast<std::uint64_t>(intervalMs + 1)));
    long long base = intervalMs;
    if (failures > 0) {
        long long backoff = 30 * 1000LL << std::min(failures - 1, 20u);
        base = std::min(backoff, intervalMs);
    }
    // +-10% jitter so a fleet does not poll in lockstep.
    const long long span = base / 5;
    long long jitter = span > 0 ? static_cast<long long>(random % static_cast<std::uint64_t>(span + 1)) - span / 2 : 0;
    return std::chrono::milliseconds(std::max(1000LL, base + jitter));
}

}  // namespace livepatch
