#include <gtest/gtest.h>

#include "engine/engine.h"
#include "engine/policy.h"
#include "state/agent_state.h"

using namespace livepatch;

TEST(AgentStateJson, RoundTrip) {
    AgentState s;
    s.enabled = true;
    s.serverUrl = "https://x";
    s.patchState = PatchState::Applied;
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

// The words are the state file's, the server report's and `status`'s: a
// renamed enum value must not change them.
TEST(StateSpellings, EveryValueHasItsWireWordAndReadsBack) {
    const std::vector<std::pair<PatchState, std::string>> patch = {
        {PatchState::Unapplied, "unapplied"},
        {PatchState::Applying, "applying"},
        {PatchState::Applied, "applied"},
        {PatchState::AppliedWithBug, "applied-with-bug"},
        {PatchState::ApplyFailed, "apply-failed"},
        {PatchState::NothingToApply, "nothing-to-apply"},
        {PatchState::KernelUpgradeRequired, "kernel-upgrade-required"},
        {PatchState::Unknown, "unknown"}};
    for (const auto& [v, word] : patch) {
        EXPECT_EQ(spelling(v), word);
        AgentState s;
        s.patchState = v;
        EXPECT_NE(s.toJson().find("\"patch-state\": \"" + word + "\""), std::string::npos) << s.toJson();
        auto back = AgentState::fromJson(s.toJson());
        ASSERT_TRUE(back);
        EXPECT_EQ(back->patchState, v);
    }
    EXPECT_EQ(spellingsJoined<CheckState>(), "needs-check|checked|check-failed|stale");
    EXPECT_EQ(spellingsJoined<CatalogueKind>(), "unsigned|signed");
    EXPECT_EQ(spellingsJoined<KernelSupport>(),
              "supported|kernel-upgrade-required|kernel-end-of-life|unsupported|unknown");
    EXPECT_EQ(spellingsJoined<RunMode>(), "normal|no-apply|no-refresh|stop");
    for (KernelSupport v : {KernelSupport::Supported, KernelSupport::KernelEndOfLife, KernelSupport::Unsupported}) {
        AgentState s;
        s.supported = v;
        s.checkState = CheckState::CheckFailed;
        auto back = AgentState::fromJson(s.toJson());
        ASSERT_TRUE(back);
        EXPECT_EQ(back->supported, v);
        EXPECT_EQ(back->checkState, CheckState::CheckFailed);
    }
}

TEST(StateSpellings, AnAbsentStateIsTheDefaultAndAnUnknownWordIsCorrupt) {
    auto old = AgentState::fromJson(R"({"format":1,"enabled":true,"fixes":[]})");
    ASSERT_TRUE(old) << old.error().message();
    EXPECT_EQ(old->patchState, PatchState::Unapplied);
    EXPECT_EQ(old->checkState, CheckState::NeedsCheck);
    EXPECT_EQ(old->supported, KernelSupport::Unknown);
    for (const std::string field : {"patch-state", "check-state", "supported"}) {
        auto bad = AgentState::fromJson(R"({"format":1,"enabled":true,"fixes":[],")" + field + R"(":"sideways"})");
        ASSERT_FALSE(bad) << field;
        EXPECT_EQ(bad.error().code(), ErrorCode::StateCorrupt);
    }
}

TEST(Policy, RunModeIsReadFromItsWord) {
    for (const auto& [word, mode] : std::vector<std::pair<std::string, RunMode>>{{"normal", RunMode::Normal},
                                                                                 {"no-apply", RunMode::NoApply},
                                                                                 {"no-refresh", RunMode::NoRefresh},
                                                                                 {"stop", RunMode::Stop}}) {
        Config c;
        ASSERT_TRUE(c.apply({"run-mode=" + word}));
        EXPECT_EQ(runModeOf(c), mode);
    }
    EXPECT_EQ(runModeOf(Config{}), RunMode::Normal);
}

TEST(Policy, TheNewestOfferThePolicyAllowsIsChosenAndARefusalIsSaid) {
    Config c;
    ASSERT_TRUE(c.apply({"cutoff-date=2024-06-01T00:00:00Z"}));
    PatchOffer a, b, late;
    a.version = "9", a.published = "2024-01-01T00:00:00Z";
    b.version = "10", b.published = "2024-02-01T00:00:00Z";
    late.version = "11", late.published = "2024-07-01T00:00:00Z";
    const auto now = std::chrono::system_clock::now();
    const std::vector<PatchOffer> offers = {a, late, b}, onlyLate = {late};
    auto choice = chooseOffer(offers, c, now);
    ASSERT_NE(choice.best, nullptr);
    EXPECT_EQ(choice.best->version, "10");
    EXPECT_NE(choice.refusal.find("patch 11 was published after cutoff-date"), std::string::npos) << choice.refusal;
    EXPECT_EQ(chooseOffer(onlyLate, c, now).best, nullptr);

    const std::string before = policyFingerprint(c);
    ASSERT_TRUE(c.apply({"run-mode=no-apply"}));
    EXPECT_NE(policyFingerprint(c), before) << "a 304 taken under another policy must not be trusted";
    const std::string unsigned_ = policyFingerprint(c);
    ASSERT_TRUE(c.apply({"trust-root=pinned"}));
    EXPECT_NE(policyFingerprint(c), unsigned_)
        << "a 304 taken while the signed catalogue decided says nothing of the server's offer";
}
