// The every-check fetch of timestamp.json as a conditional request
// (If-None-Match): a mirror that says "not modified" leaves the trusted copy
// in use exactly as if it had sent those bytes again, so a freeze is still
// caught by the trusted copy's expiry, and nothing unsafe from the network
// is stored or sent back.
#include "tuf_fixture.h"

using namespace tuftest;

namespace {

// A directory mirror that answers conditional requests like an HTTP server:
// the validator is derived from the file's content.
class ConditionalMirror : public Fetcher {
public:
    explicit ConditionalMirror(const fsys::path& dir) : files_(dir.string()) {}
    Result<std::string> fetch(const std::string& path, std::uint64_t maxLength) override {
        return files_.fetch(path, maxLength);
    }
    Result<Fetched> fetchIfChanged(const std::string& path, std::uint64_t maxLength,
                                   const std::string& validator) override {
        sent.push_back(validator);
        auto bytes = files_.fetch(path, maxLength);
        if (!bytes) return bytes.error();
        const std::string tag = etag.empty() ? "\"" + std::to_string(std::hash<std::string>{}(*bytes)) + "\"" : etag;
        if (answerNotModified || (!validator.empty() && validator == tag)) return Fetched{true, "", ""};
        return Fetched{false, std::move(*bytes), tag};
    }
    DirectoryFetcher files_;
    std::vector<std::string> sent;   // the validator of each conditional request
    std::string etag;                // "" = the content's; else this (tests of hostile tags)
    bool answerNotModified = false;  // a mirror that always says "not modified"
};

class TufConditional : public TufRepo {
protected:
    Status refreshThrough(ConditionalMirror& mirror) {
        UpdaterOptions o;
        o.now = [this] { return now; };
        updater = std::make_unique<Updater>(clientDir().string(), mirror, o);
        return updater->refresh();
    }
};

}  // namespace

TEST_F(TufConditional, AnUnchangedTimestampIsNotModifiedAndTheTrustedCopyIsUsed) {
    addPatch("1", "patch one");
    ConditionalMirror mirror(meta());
    ASSERT_TRUE(refreshThrough(mirror));
    ASSERT_TRUE(refreshThrough(mirror));
    ASSERT_EQ(mirror.sent.size(), 2u);
    EXPECT_EQ(mirror.sent[0], "") << "nothing trusted yet: an unconditional request";
    EXPECT_FALSE(mirror.sent[1].empty()) << "the second check did not send the stored validator";
    auto t = updater->findTarget("6.1.0-18-amd64/x86_64/lp_cve_fix-1.tar.xz");
    ASSERT_TRUE(t && t->has_value());
    struct stat st {};
    ASSERT_EQ(::lstat((clientDir() / "timestamp.validator").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST_F(TufConditional, ANewTimestampIsFetchedWholeAndItsValidatorReplacesTheOld) {
    addPatch("1", "patch one");
    ConditionalMirror mirror(meta());
    ASSERT_TRUE(refreshThrough(mirror));
    addPatch("2", "patch two");
    ASSERT_TRUE(refreshThrough(mirror));
    EXPECT_EQ(updater->timestamp()->version, repo->state().timestamp.version);
    auto t = updater->findTarget("6.1.0-18-amd64/x86_64/lp_cve_fix-2.tar.xz");
    ASSERT_TRUE(t && t->has_value()) << "the new patch was not seen";
    ASSERT_TRUE(refreshThrough(mirror));
    EXPECT_NE(mirror.sent[2], mirror.sent[1]) << "the validator of the old timestamp was kept";
}

TEST_F(TufConditional, AFreezeStillEndsInStaleAtTheTrustedExpiry) {
    addPatch("1", "patch one");
    ConditionalMirror mirror(meta());
    ASSERT_TRUE(refreshThrough(mirror));
    ASSERT_TRUE(refreshThrough(mirror));  // nobody re-signs: 304
    now += 2 * 86400;                     // the trusted timestamp expires after one day
    auto s = refreshThrough(mirror);
    ASSERT_FALSE(s);
    EXPECT_EQ(s.error().code(), ErrorCode::Stale);
    EXPECT_NE(s.error().message().find("timestamp.json expired at"), std::string::npos) << s.error().message();
    EXPECT_EQ(mirror.sent.back(), "") << "an expired copy is fetched whole";
}

// A mirror whose validator did not change with the content (nginx's ETag is
// the mtime in seconds and the size): the agent misses the new timestamp
// while its copy is valid, and fetches whole once it has expired.
TEST_F(TufConditional, AValidatorThatMissedAChangeIsIgnoredOnceTheTrustedCopyExpires) {
    addPatch("1", "patch one");
    ConditionalMirror mirror(meta());
    mirror.etag = "\"65a3f2c1-22f\"";
    ASSERT_TRUE(refreshThrough(mirror));
    ASSERT_TRUE(repo->resignTimestamp(timestampKey, now + 86400 - 60));  // valid for a day from then
    ASSERT_TRUE(refreshThrough(mirror));
    EXPECT_LT(updater->timestamp()->version, repo->state().timestamp.version) << "304: the older copy stays";
    now += 86400;  // the older copy has expired, the mirror's has not
    auto s = refreshThrough(mirror);
    ASSERT_TRUE(s) << s.error().describe();
    EXPECT_EQ(updater->timestamp()->version, repo->state().timestamp.version);
}

TEST_F(TufConditional, NotModifiedWithNothingTrustedIsRefused) {
    addPatch("1", "patch one");
    ConditionalMirror mirror(meta());
    mirror.answerNotModified = true;
    auto s = refreshThrough(mirror);
    ASSERT_FALSE(s);
    EXPECT_EQ(s.error().code(), ErrorCode::Protocol);
    EXPECT_NE(s.error().message().find("not modified"), std::string::npos) << s.error().message();
}

TEST_F(TufConditional, AnUnsafeEntityTagIsNeitherStoredNorSentBack) {
    addPatch("1", "patch one");
    for (const std::string hostile : {std::string("\"a\"\r\nX-Injected: 1"), "\"" + std::string(200, 'a') + "\"",
                                      std::string("no-quotes"), std::string("\"in\"side\"")}) {
        ConditionalMirror mirror(meta());
        mirror.etag = hostile;
        ASSERT_TRUE(refreshThrough(mirror));
        EXPECT_FALSE(fsys::exists(clientDir() / "timestamp.validator")) << hostile;
        ASSERT_TRUE(refreshThrough(mirror));
        EXPECT_EQ(mirror.sent.back(), "") << "sent back: " << hostile;
    }
}

TEST_F(TufConditional, NewTimestampKeysForgetTheValidatorWithTheTimestamp) {
    addPatch("1", "patch one");
    ConditionalMirror mirror(meta());
    ASSERT_TRUE(refreshThrough(mirror));
    ASSERT_TRUE(fsys::exists(clientDir() / "timestamp.validator"));
    SigningKey t2 = newKey();
    ASSERT_TRUE(repo->rotateKeys("timestamp", {&t2}, {&rootKey}, now));
    timestampKey = t2;
    ASSERT_TRUE(repo->publishOnline(snapshotKey, timestampKey, now));
    ASSERT_TRUE(refreshThrough(mirror));
    EXPECT_EQ(mirror.sent.back(), "") << "a validator of the timestamp signed by the old keys was sent";
}
