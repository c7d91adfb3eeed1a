#include <gtest/gtest.h>

#include "state/agent_state.h"
#include "engine/engine.h"

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

TEST(AgentStateJson, RoundTrip) {
    AgentState s;
    s.enabled = true;
    s.serverUrl = "https://x";
    s.patchState = "applied";
    AppliedPatchRecord r;
    r.kernel = "k";
    r.name = "lp";
    r.version = "3";
    r.tarballSha256 = std::string(64, 'a');
    r.cachePath = "/c";
    r.fixes = {PatchFix{"cve-2024-1", "d", "b", true}};
    s.applied = r;
    s.fixes = r.fixes;
    s.crashGuard = true;
    auto back = AgentState::fromJson(s.toJson());
    ASSERT_TRUE(back);
    EXPECT_TRUE(back->enabled);
    EXPECT_EQ(back->applied->version, "3");
    EXPECT_EQ(back->fixes[0].name, "cve-2024-1");
    EXPECT_TRUE(back->crashGuard);
}

TEST(AgentStateJson, GarbageIsStateCorrupt) {
    for (const std::string bad : {"", "{", "[]", R"({"format":2,"enabled":true})", R"({"format":1})"}) {
        auto r = AgentState::fromJson(bad);
        ASSERT_FALSE(r) << bad;
        EXPECT_EQ(r.error().code(), ErrorCode::StateCorrupt);
    }
}

TEST(Scheduler, FirstDelayAfterStartSpreadsAcrossTheInterval) {
    const long long base = 60LL * 60 * 1000;
    long long lo = base * 2, hi = 0;
    for (std::uint64_t r = 0; r < 5000; ++r) {
        long long d = computeCheckDelay(60, 0, r * 0x9E3779B97F4A7C15ull, true)->count();
        lo = std::min(lo, d);
        hi = std::max(hi, d);
    }
    EXPECT_GE(lo, base / 2);
    EXPECT_LE(hi, base * 3 / 2);
    EXPECT_LT(lo, base * 6 / 10);
    EXPECT_GT(hi, base * 14 / 10);
}
