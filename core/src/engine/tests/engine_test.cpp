#include <gtest/gtest.h>

#include "state/agent_state.h"
#include "engine/engine.h"

using namespace livepatch;

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
