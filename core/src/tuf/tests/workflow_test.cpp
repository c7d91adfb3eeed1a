// The client workflow beyond attacks: root rotation chains, delegations,
// persistence of trusted metadata.
#include "tuf_fixture.h"

using namespace tuftest;

class TufWorkflow : public TufRepo {};

TEST_F(TufWorkflow, FollowsTheRootChainThroughNewRootKeys) {
    SigningKey r2 = newKey(), r3 = newKey();
    ASSERT_TRUE(repo->rotateKeys("root", {&r2}, {&rootKey}, now));
    ASSERT_TRUE(repo->rotateKeys("root", {&r3}, {&r2}, now));
    ASSERT_TRUE(refresh());
    EXPECT_EQ(updater->root().version, 3);
    // The client now pins version 3 (the only trust it keeps).
    auto pinned = parseRoot(readAll(clientDir() / "root.json"), 1 << 20);
    ASSERT_TRUE(pinned);
    EXPECT_EQ(pinned->version, 3);
}

TEST_F(TufWorkflow, ANewRootMustAlsoBeSignedByItsOwnKeys) {
    SigningKey r2 = newKey();
    ASSERT_TRUE(repo->rotateKeys("root", {&r2}, {&rootKey}, now));
    // Re-sign 2.root.json with only the old key: the new key never agreed.
    auto doc = parseJson(readAll(meta() / "2.root.json"));
    writeAll(meta() / "2.root.json", *signEnvelope(*doc->find("signed"), {&rootKey}));
    auto s = refresh();
    ASSERT_FALSE(s);
    EXPECT_EQ(s.error().code(), ErrorCode::SignatureInvalid);
    EXPECT_NE(s.error().message().find("by its own keys"), std::string::npos) << s.error().message();
}

TEST_F(TufWorkflow, UnchangedTimestampKeepsTheTrustedMetadata) {
    addPatch("1", "patch one");
    ASSERT_TRUE(refresh());
    // Second run: same timestamp version; snapshot/targets not even needed.
    fsys::remove(meta() / (std::to_string(repo->state().snapshot.version) + ".snapshot.json"));
    ASSERT_TRUE(refresh());
    auto t = updater->findTarget("6.1.0-18-amd64/x86_64/lp_cve_fix-1.tar.xz");
    ASSERT_TRUE(t && t->has_value());
}

TEST_F(TufWorkflow, MissingPinnedRootIsAClearError) {
    fsys::remove(clientDir() / "root.json");
    auto s = refresh();
    ASSERT_FALSE(s);
    EXPECT_EQ(s.error().code(), ErrorCode::NotFound);
    EXPECT_NE(s.error().message().find("trusted root"), std::string::npos);
}

TEST_F(TufWorkflow, DelegatedTiersResolveInOrderAndRespectTheirPaths) {
    SigningKey stable = newKey(), beta = newKey();
    ASSERT_TRUE(repo->delegate("stable", {"stable/*/*"}, true, {&stable}, 1, targetsKey, now));
    ASSERT_TRUE(repo->delegate("beta", {"*/*/*"}, false, {&beta}, 1, targetsKey, now));
    ASSERT_TRUE(repo->addDelegatedTarget("stable", "stable/x86_64/lp-1.tar.xz", "stable one", patchCustom("1"),
                                         {&stable}, now));
    // beta tries to claim a stable path too (it is trusted for */*/* but
    // stable is terminating and comes first).
    ASSERT_TRUE(
        repo->addDelegatedTarget("beta", "stable/x86_64/lp-9.tar.xz", "beta sneaks", patchCustom("9"), {&beta}, now));
    ASSERT_TRUE(
        repo->addDelegatedTarget("beta", "beta/x86_64/lp-2.tar.xz", "beta two", patchCustom("2"), {&beta}, now));
    ASSERT_TRUE(repo->publishOnline(snapshotKey, timestampKey, now));
    ASSERT_TRUE(refresh());
    auto s1 = updater->findTarget("stable/x86_64/lp-1.tar.xz");
    ASSERT_TRUE(s1 && s1->has_value());
    auto sneak = updater->findTarget("stable/x86_64/lp-9.tar.xz");
    ASSERT_TRUE(sneak);
    EXPECT_FALSE(sneak->has_value());  // terminating stable role ends the search
    auto b2 = updater->findTarget("beta/x86_64/lp-2.tar.xz");
    ASSERT_TRUE(b2 && b2->has_value());
    DirectoryFetcher targets(targetsDir().string());
    auto bytes = updater->downloadTarget(**b2, targets);
    ASSERT_TRUE(bytes);
    EXPECT_EQ(*bytes, "beta two");
    auto all = updater->allTargets();
    ASSERT_TRUE(all);
    EXPECT_EQ(all->size(), 2u);
    // Delegated metadata is persisted for the next run's rollback checks.
    EXPECT_TRUE(fsys::exists(clientDir() / "beta.json"));
}

TEST_F(TufWorkflow, DelegatedRoleSignedByTheWrongKeyIsRefused) {
    SigningKey stable = newKey(), other = newKey();
    ASSERT_TRUE(repo->delegate("stable", {"stable/*/*"}, false, {&stable}, 1, targetsKey, now));
    ASSERT_TRUE(
        repo->addDelegatedTarget("stable", "stable/x86_64/lp-1.tar.xz", "one", patchCustom("1"), {&other}, now));
    ASSERT_TRUE(repo->publishOnline(snapshotKey, timestampKey, now));
    ASSERT_TRUE(refresh());
    auto t = updater->findTarget("stable/x86_64/lp-1.tar.xz");
    ASSERT_FALSE(t);
    EXPECT_EQ(t.error().code(), ErrorCode::SignatureInvalid);
}

TEST_F(TufWorkflow, RsaRootAndTargetsKeysWork) {
    SigningKey rsa = newKey(KeyScheme::RsaPssSha256);
    ASSERT_TRUE(repo->rotateKeys("targets", {&rsa}, {&rootKey}, now));
    ASSERT_TRUE(repo->resignTargets(rsa, now));
    addPatch("1", "x");  // signs targets with the old key: must fail below
    auto s = refresh();
    ASSERT_FALSE(s);
    EXPECT_EQ(s.error().code(), ErrorCode::SignatureInvalid);
    ASSERT_TRUE(repo->resignTargets(rsa, now));
    ASSERT_TRUE(repo->publishOnline(snapshotKey, timestampKey, now));
    s = refresh();
    ASSERT_TRUE(s) << s.error().describe();
}
