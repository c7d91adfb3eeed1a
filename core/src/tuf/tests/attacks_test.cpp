// One test per TUF attack class, each against the real client workflow
// (Updater over a directory mirror the test tampers with).
#include "tuf_fixture.h"

using namespace tuftest;

namespace {
const std::string kPatchPath = "6.1.0-18-amd64/x86_64/lp_cve_fix-";
std::string patchPath(const std::string& v) { return kPatchPath + v + ".tar.xz"; }

// Re-sign a role's "signed" JSON with `keys` after `edit`, write it as `file`.
template <typename Edit>
void forge(const fsys::path& file, const SigningKey& key, Edit edit) {
    auto doc = parseJson(readAll(file));
    ASSERT_TRUE(doc);
    Json body = *doc->find("signed");
    edit(body);
    auto bytes = signEnvelope(body, {&key});
    ASSERT_TRUE(bytes);
    writeAll(file, *bytes);
}
}  // namespace

class TufAttack : public TufRepo {};

TEST_F(TufAttack, HappyPathFindsAndDownloadsTheSignedPatch) {
    addPatch("1", "patch one");
    ASSERT_TRUE(refresh());
    auto t = updater->findTarget(patchPath("1"));
    ASSERT_TRUE(t);
    ASSERT_TRUE(t->has_value());
    EXPECT_EQ((*t)->custom.find("version")->asString(), "1");
    EXPECT_EQ((*t)->custom.find("kernel")->asString(), "6.1.0-18-amd64");
    DirectoryFetcher targets(targetsDir().string());
    auto bytes = updater->downloadTarget(**t, targets);
    ASSERT_TRUE(bytes) << bytes.error().describe();
    EXPECT_EQ(*bytes, "patch one");
    // Trusted metadata kept root-only.
    EXPECT_EQ(fsys::status(clientDir() / "timestamp.json").permissions() & fsys::perms::all,
              fsys::perms::owner_read | fsys::perms::owner_write);
}

// Arbitrary installation: a mirror replaces the patch file, or lists a
// patch in targets.json without the targets key.
TEST_F(TufAttack, ArbitraryInstallationIsRefused) {
    addPatch("1", "patch one");
    ASSERT_TRUE(refresh());
    auto t = updater->findTarget(patchPath("1"));
    ASSERT_TRUE(t && t->has_value());
    fsys::path file = targetsDir() / hashPrefixedPath(patchPath("1"), (*t)->hashes.at("sha256"));
    writeAll(file, "evil pat");  // shorter: length check
    DirectoryFetcher targets(targetsDir().string());
    auto r = updater->downloadTarget(**t, targets);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code(), ErrorCode::ChecksumMismatch);
    writeAll(file, "evil pata");  // same length: hash check
    r = updater->downloadTarget(**t, targets);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code(), ErrorCode::ChecksumMismatch);

    // Even with the online keys, an attacker cannot list a file: targets.json
    // needs the offline targets key. Here an unknown key signs the next
    // targets.json, and the stolen online keys list it.
    SigningKey attacker = newKey();
    const auto& st = repo->state();
    std::int64_t tv = st.targets.version + 1, sv = st.snapshot.version + 1;
    writeAll(meta() / (std::to_string(tv) + ".targets.json"),
             readAll(meta() / (std::to_string(tv - 1) + ".targets.json")));
    forge(meta() / (std::to_string(tv) + ".targets.json"), attacker, [&](Json& body) {
        body["version"] = Json(tv);
        body["targets"]["evil.tar.xz"] = Json(
            Json::Object{{"length", Json(1)}, {"hashes", Json(Json::Object{{"sha256", Json(std::string(64, '0'))}})}});
    });
    writeAll(meta() / (std::to_string(sv) + ".snapshot.json"),
             readAll(meta() / (std::to_string(sv - 1) + ".snapshot.json")));
    forge(meta() / (std::to_string(sv) + ".snapshot.json"), snapshotKey, [&](Json& body) {
        body["version"] = Json(sv);
        body["meta"]["targets.json"] = Json(Json::Object{{"version", Json(tv)}});
    });
    forge(meta() / "timestamp.json", timestampKey, [&](Json& body) {
        body["version"] = Json(body.find("version")->asInteger() + 1);
        body["meta"]["snapshot.json"] = Json(Json::Object{{"version", Json(sv)}});
    });
    auto s = refresh();
    ASSERT_FALSE(s);
    EXPECT_EQ(s.error().code(), ErrorCode::SignatureInvalid);
    EXPECT_NE(s.error().message().find("targets.json: 0 of 1"), std::string::npos) << s.error().message();
}

TEST_F(TufAttack, RollbackOfRootIsRefused) {
    // 2.root.json that is really version 1 (validly signed, but old).
    writeAll(meta() / "2.root.json", readAll(meta() / "1.root.json"));
    auto s = refresh();
    ASSERT_FALSE(s);
    EXPECT_EQ(s.error().code(), ErrorCode::Rollback);
    EXPECT_NE(s.error().message().find("has version 1, expected 2"), std::string::npos) << s.error().message();
}

TEST_F(TufAttack, RollbackOfTimestampIsRefused) {
    addPatch("1", "patch one");
    std::string old = readAll(meta() / "timestamp.json");
    addPatch("2", "patch two");
    ASSERT_TRUE(refresh());
    writeAll(meta() / "timestamp.json", old);
    auto s = refresh();
    ASSERT_FALSE(s);
    EXPECT_EQ(s.error().code(), ErrorCode::Rollback);
    EXPECT_NE(s.error().message().find("timestamp.json version"), std::string::npos);
}

TEST_F(TufAttack, RollbackOfSnapshotIsRefused) {
    addPatch("1", "patch one");
    std::int64_t oldSnapshot = repo->state().snapshot.version;
    addPatch("2", "patch two");
    ASSERT_TRUE(refresh());
    // A newer timestamp (valid online key) pointing at the older snapshot.
    forge(meta() / "timestamp.json", timestampKey, [&](Json& body) {
        body["version"] = Json(body.find("version")->asInteger() + 1);
        body["meta"]["snapshot.json"] = Json(Json::Object{{"version", Json(oldSnapshot)}});
    });
    auto s = refresh();
    ASSERT_FALSE(s);
    EXPECT_EQ(s.error().code(), ErrorCode::Rollback);
    EXPECT_NE(s.error().message().find("lists snapshot version"), std::string::npos) << s.error().message();
}

TEST_F(TufAttack, RollbackOfTargetsIsRefused) {
    addPatch("1", "patch one");
    std::int64_t oldTargets = repo->state().targets.version;
    addPatch("2", "patch two");
    ASSERT_TRUE(refresh());
    // Online keys sign a new snapshot that lists the older targets.json.
    std::int64_t snap = repo->state().snapshot.version;
    fsys::path next = meta() / (std::to_string(snap + 1) + ".snapshot.json");
    writeAll(next, readAll(meta() / (std::to_string(snap) + ".snapshot.json")));
    forge(next, snapshotKey, [&](Json& body) {
        body["version"] = Json(snap + 1);
        body["meta"]["targets.json"] = Json(Json::Object{{"version", Json(oldTargets)}});
    });
    forge(meta() / "timestamp.json", timestampKey, [&](Json& body) {
        body["version"] = Json(body.find("version")->asInteger() + 1);
        body["meta"]["snapshot.json"] = Json(Json::Object{{"version", Json(snap + 1)}});
    });
    auto s = refresh();
    ASSERT_FALSE(s);
    EXPECT_EQ(s.error().code(), ErrorCode::Rollback);
    EXPECT_NE(s.error().message().find("lower than the trusted"), std::string::npos) << s.error().message();
}

// Rollback of the patch version: replaying a whole older, validly signed
// catalogue (where the newest patch was version 1) after version 2 was seen.
TEST_F(TufAttack, RollbackOfThePatchVersionByReplayingAnOldCatalogueIsRefused) {
    addPatch("1", "patch one");
    fsys::copy(meta(), dir / "old-mirror", fsys::copy_options::recursive);
    ASSERT_TRUE(repo->removeTarget(patchPath("1"), targetsKey, now));
    addPatch("2", "patch two");
    ASSERT_TRUE(refresh());
    auto s = refresh(dir / "old-mirror");
    ASSERT_FALSE(s);
    EXPECT_EQ(s.error().code(), ErrorCode::Rollback);
    // What stays trusted is still the newer catalogue.
    ASSERT_TRUE(refresh());
    auto all = updater->allTargets();
    ASSERT_TRUE(all);
    ASSERT_EQ(all->size(), 1u);
    EXPECT_EQ((*all)[0].custom.find("version")->asString(), "2");
}

// Indefinite freeze: the mirror keeps serving the same (once valid)
// metadata. Once it expires the client says "stale", never "nothing new".
TEST_F(TufAttack, IndefiniteFreezeIsReportedAsStale) {
    addPatch("1", "patch one");
    ASSERT_TRUE(refresh());
    now += 2 * 86400;  // timestamp expires after one day
    auto s = refresh();
    ASSERT_FALSE(s);
    EXPECT_EQ(s.error().code(), ErrorCode::Stale);
    EXPECT_NE(s.error().message().find("timestamp.json expired at"), std::string::npos) << s.error().message();
    // A fresh timestamp but a snapshot left to expire: still stale.
    now += 7 * 86400;
    ASSERT_TRUE(repo->resignTimestamp(timestampKey, now));
    s = refresh();
    ASSERT_FALSE(s);
    EXPECT_EQ(s.error().code(), ErrorCode::Stale);
    EXPECT_NE(s.error().message().find("snapshot.json expired"), std::string::npos) << s.error().message();
    // The maintained repository recovers.
    ASSERT_TRUE(repo->publishOnline(snapshotKey, timestampKey, now));
    EXPECT_TRUE(refresh());
    // An expired root (no new root published for a year) is stale too.
    now += 400 * 86400;
    ASSERT_TRUE(repo->resignTargets(targetsKey, now));
    ASSERT_TRUE(repo->publishOnline(snapshotKey, timestampKey, now));
    s = refresh();
    ASSERT_FALSE(s);
    EXPECT_EQ(s.error().code(), ErrorCode::Stale);
    EXPECT_NE(s.error().message().find("root.json expired"), std::string::npos) << s.error().message();
}

// A replayed-but-renumbered timestamp cannot exist without the key; a new
// but already expired one (a mirror stuck on an old signing run) is stale,
// and still raises the rollback baseline.
TEST_F(TufAttack, NewButExpiredTimestampIsStale) {
    addPatch("1", "patch one");
    ASSERT_TRUE(refresh());
    std::int64_t next = repo->state().timestamp.version + 1;
    forge(meta() / "timestamp.json", timestampKey, [&](Json& body) {
        body["version"] = Json(next);
        body["expires"] = Json(formatExpires(now - 60));
    });
    auto s = refresh();
    ASSERT_FALSE(s);
    EXPECT_EQ(s.error().code(), ErrorCode::Stale);
    auto trusted = parseTimestamp(readAll(clientDir() / "timestamp.json"), 16384);
    ASSERT_TRUE(trusted);
    EXPECT_EQ(trusted->version, next);
}

// Endless data: every download is bounded before it is read.
TEST_F(TufAttack, EndlessDataIsCutAtTheSignedOrDefaultLength) {
    addPatch("1", "patch one");
    ASSERT_TRUE(refresh());
    auto t = updater->findTarget(patchPath("1"));
    ASSERT_TRUE(t && t->has_value());
    fsys::path file = targetsDir() / hashPrefixedPath(patchPath("1"), (*t)->hashes.at("sha256"));
    writeAll(file, std::string(10 << 20, 'x'));
    DirectoryFetcher targets(targetsDir().string());
    auto r = updater->downloadTarget(**t, targets);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code(), ErrorCode::TooLarge);

    // A huge timestamp.json (no length is signed for it: the default limit).
    writeAll(meta() / "timestamp.json", std::string(1 << 20, ' '));
    auto s = refresh();
    ASSERT_FALSE(s);
    EXPECT_EQ(s.error().code(), ErrorCode::TooLarge);
}

TEST_F(TufAttack, EndlessSnapshotIsCutAtTheLengthTheTimestampSigns) {
    addPatch("1", "patch one");
    std::int64_t snap = repo->state().snapshot.version;
    fsys::path file = meta() / (std::to_string(snap) + ".snapshot.json");
    writeAll(file, readAll(file) + std::string(100000, ' '));
    auto s = refresh();
    ASSERT_FALSE(s);
    EXPECT_EQ(s.error().code(), ErrorCode::TooLarge);
}

// Mix-and-match: metadata that never existed together on the repository.
TEST_F(TufAttack, MixAndMatchIsRefused) {
    addPatch("1", "patch one");
    std::int64_t v1 = repo->state().targets.version;
    addPatch("2", "patch two");
    std::int64_t v2 = repo->state().targets.version;
    // The current snapshot with the targets.json of another release.
    writeAll(meta() / (std::to_string(v2) + ".targets.json"), readAll(meta() / (std::to_string(v1) + ".targets.json")));
    auto s = refresh();
    ASSERT_FALSE(s);
    EXPECT_EQ(s.error().code(), ErrorCode::ChecksumMismatch);

    // Without hashes in the snapshot the version check still catches it
    // (for a client that has not trusted this snapshot version yet).
    fsys::remove(clientDir() / "timestamp.json");
    fsys::remove(clientDir() / "snapshot.json");
    std::int64_t snap = repo->state().snapshot.version;
    forge(meta() / (std::to_string(snap) + ".snapshot.json"), snapshotKey, [&](Json& body) {
        body["meta"]["targets.json"] = Json(Json::Object{{"version", Json(v2)}});
    });
    std::string snapBytes = readAll(meta() / (std::to_string(snap) + ".snapshot.json"));
    forge(meta() / "timestamp.json", timestampKey, [&](Json& body) {
        body["meta"]["snapshot.json"] =
            Json(Json::Object{{"version", Json(snap)}, {"length", Json(std::int64_t(snapBytes.size()))}});
    });
    s = refresh();
    ASSERT_FALSE(s);
    EXPECT_EQ(s.error().code(), ErrorCode::Rollback);
    EXPECT_NE(s.error().message().find("mix-and-match"), std::string::npos) << s.error().message();
}

// A malicious mirror cannot make the client trust its metadata, nor keep
// it from updating from a good mirror afterwards.
TEST_F(TufAttack, MaliciousMirrorCannotBlockAGoodMirror) {
    addPatch("1", "patch one");
    ASSERT_TRUE(refresh());
    addPatch("2", "patch two");
    fsys::copy(meta(), dir / "evil", fsys::copy_options::recursive);
    SigningKey attacker = newKey();
    forge(dir / "evil" / "timestamp.json", attacker, [](Json& body) { body["version"] = Json(999999); });
    auto s = refresh(dir / "evil");
    ASSERT_FALSE(s);
    EXPECT_EQ(s.error().code(), ErrorCode::SignatureInvalid);
    auto good = refresh();
    ASSERT_TRUE(good) << good.error().describe();
    auto t = updater->findTarget(patchPath("2"));
    ASSERT_TRUE(t && t->has_value());
}

// Wrong threshold: with root threshold 2 of 3, one key is not enough.
TEST_F(TufAttack, WrongThresholdIsRefused) {
    SigningKey r2 = newKey(), r3 = newKey();
    // Rotate to three root keys, threshold 2.
    ASSERT_TRUE(repo->rotateKeys("root", {&rootKey, &r2, &r3}, {&rootKey}, now));
    ASSERT_TRUE(refresh());
    EXPECT_EQ(updater->root().roles.at("root").threshold, 2);
    // One of the three keys alone signs version 3 (e.g. it was stolen).
    std::string v2 = readAll(meta() / "2.root.json");
    auto doc = parseJson(v2);
    Json body = *doc->find("signed");
    body["version"] = Json(3);
    writeAll(meta() / "3.root.json", *signEnvelope(body, {&r2}));
    auto s = refresh();
    ASSERT_FALSE(s);
    EXPECT_EQ(s.error().code(), ErrorCode::SignatureInvalid);
    EXPECT_NE(s.error().message().find("1 of 2 required"), std::string::npos) << s.error().message();
    // The same signature twice is still one key.
    writeAll(meta() / "3.root.json", *signEnvelope(body, {&r2, &r2}));
    s = refresh();
    ASSERT_FALSE(s);
    EXPECT_EQ(s.error().code(), ErrorCode::SignatureInvalid);
    // Two distinct keys meet it.
    writeAll(meta() / "3.root.json", *signEnvelope(body, {&r2, &r3}));
    EXPECT_TRUE(refresh());
    EXPECT_EQ(updater->root().version, 3);
}

// Key compromise: the attacker holds the online timestamp and snapshot keys
// and pushes versions far ahead (fast-forward). The repository rotates those
// keys in a new root; clients recover and the stolen keys stop working.
TEST_F(TufAttack, KeyCompromiseIsRecoveredByRootRotation) {
    addPatch("1", "patch one");
    ASSERT_TRUE(refresh());
    std::int64_t snap = repo->state().snapshot.version;
    fsys::path evilSnap = meta() / "1000.snapshot.json";
    writeAll(evilSnap, readAll(meta() / (std::to_string(snap) + ".snapshot.json")));
    forge(evilSnap, snapshotKey, [](Json& body) { body["version"] = Json(1000); });
    std::string evilSnapBytes = readAll(evilSnap);
    forge(meta() / "timestamp.json", timestampKey, [&](Json& body) {
        body["version"] = Json(1000);
        body["meta"]["snapshot.json"] =
            Json(Json::Object{{"version", Json(1000)}, {"length", Json(std::int64_t(evilSnapBytes.size()))}});
    });
    ASSERT_TRUE(refresh());  // the attacker's metadata is validly signed with the stolen keys
    EXPECT_EQ(updater->timestamp()->version, 1000);
    std::string evilTimestamp = readAll(meta() / "timestamp.json");

    // Recovery: new online keys in root version 2; the repository continues
    // at its own (lower) version numbers.
    SigningKey newSnapshot = newKey(), newTimestamp = newKey();
    ASSERT_TRUE(repo->rotateKeys("snapshot", {&newSnapshot}, {&rootKey}, now));
    ASSERT_TRUE(repo->rotateKeys("timestamp", {&newTimestamp}, {&rootKey}, now));
    ASSERT_TRUE(repo->publishOnline(newSnapshot, newTimestamp, now));
    auto s = refresh();
    ASSERT_TRUE(s) << s.error().describe();
    EXPECT_EQ(updater->root().version, 3);
    EXPECT_LT(updater->timestamp()->version, 1000);
    // The stolen keys no longer count.
    writeAll(meta() / "timestamp.json", evilTimestamp);
    s = refresh();
    ASSERT_FALSE(s);
    EXPECT_EQ(s.error().code(), ErrorCode::SignatureInvalid);
}
