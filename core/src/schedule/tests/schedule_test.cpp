#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>

#include "schedule/schedule.h"

using namespace livepatch;

TEST(Scheduler, DisabledWhenIntervalIsZero) { EXPECT_FALSE(computeCheckDelay(0, 0, 123)); }

TEST(Scheduler, JitterStaysWithinTenPercent) {
    const long long base = 60LL * 60 * 1000;
    long long lo = base, hi = 0;
    for (std::uint64_t r = 0; r < 20000; r += 7) {
        long long d = computeCheckDelay(60, 0, r * 2654435761u)->count();
        lo = std::min(lo, d);
        hi = std::max(hi, d);
    }
    EXPECT_GE(lo, base * 9 / 10);
    EXPECT_LE(hi, base * 11 / 10);
    EXPECT_LT(lo, base * 95 / 100) << "jitter actually spreads the schedule";
    EXPECT_GT(hi, base * 105 / 100);
}

TEST(Scheduler, BackoffGrowsAndIsCappedByTheInterval) {
    auto at = [](unsigned f) { return computeCheckDelay(60, f, 0)->count(); };  // random 0 -> lowest jitter
    EXPECT_LT(at(1), at(2));
    EXPECT_LT(at(2), at(3));
    EXPECT_LE(at(1), 30000);
    EXPECT_LE(at(30), 60LL * 60 * 1000);
    EXPECT_GE(at(30), 60LL * 60 * 1000 * 9 / 10);
}

TEST(Scheduler, FirstCheckIsSpreadUniformlyOverTheWindow) {
    const long long window = 60LL * 60 * 1000;
    EXPECT_EQ(computeFirstCheckDelay(0, 12345).count(), 0) << "window 0: check at once";
    std::vector<long> perTenth(12, 0);
    const long n = 60000;
    for (long i = 0; i < n; ++i) {
        long long d = computeFirstCheckDelay(60, static_cast<std::uint64_t>(i) * 0x9E3779B97F4A7C15ull + 7).count();
        ASSERT_GE(d, 0);
        ASSERT_LT(d, window * 11 / 10);
        ++perTenth[static_cast<size_t>(d * 10 / window)];
    }
    // Flat up to 0.9 x window (then the +-10% jitter tapers it off): every
    // tenth holds about a tenth, none holds the herd.
    for (size_t i = 0; i < 9; ++i) {
        EXPECT_GT(perTenth[i], n / 10 * 9 / 10) << "tenth " << i;
        EXPECT_LT(perTenth[i], n / 10 * 11 / 10) << "tenth " << i;
    }
    EXPECT_LT(perTenth[9], n / 10) << "the last tenth tapers off with the jitter";
    EXPECT_GT(perTenth[10], 0);
}

// The property the schedule exists for (tests/bench/bench_fleet.cpp reports
// it for 100,000 agents): counting every minute of a day, including the
// minute of a fleet-wide reboot, no minute holds much more than the mean.
TEST(Scheduler, ARebootedFleetChecksInAtAFlatRate) {
    for (long spread : {0L, 60L}) {
        auto perMinute = simulateFleetCheckins(100000, 6 * 60, 60, spread, 42);
        const long peak = *std::max_element(perMinute.begin(), perMinute.end());
        const double mean = static_cast<double>(std::accumulate(perMinute.begin(), perMinute.end(), 0L)) /
                            static_cast<double>(perMinute.size());
        EXPECT_LE(peak, mean * 1.2) << "start spread " << spread << " min: peak " << peak << " mean " << mean;
        EXPECT_LE(perMinute[0], mean * 1.2) << "the reboot minute is no herd";
    }
}
