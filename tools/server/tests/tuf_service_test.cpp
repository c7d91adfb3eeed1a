// The server's TUF duties: which request paths map into the repository, and
// re-signing the online metadata before it expires, with the online keys only.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

#include "livepatch/testing/files.h"
#include "tuf/repository.h"
#include "tuf_service.h"
#include "util/fs.h"

namespace {

using namespace livepatch;
namespace fsys = std::filesystem;

TEST(TufService, OnlyMetadataAndTargetsUnderV1TufAreServed) {
    EXPECT_EQ(lpserver::tufRepositoryPath("/v1/tuf/metadata/timestamp.json"), "metadata/timestamp.json");
    EXPECT_EQ(lpserver::tufRepositoryPath("/v1/tuf/targets/5.15.0-100.110-generic/x86_64/ab12.lp_demo-1.tar.xz"),
              "targets/5.15.0-100.110-generic/x86_64/ab12.lp_demo-1.tar.xz");
    for (const std::string bad :
         {"/v1/tuf/metadata/../../server.db", "/v1/tuf/targets/../macaroon-key", "/v1/tuf/targets/a/.hidden",
          "/v1/tuf/keys/timestamp.pem", "/v1/tuf/metadata/", "/v1/tuf/metadata/a/b", "/v1/tufx/metadata/root.json"})
        EXPECT_FALSE(lpserver::tufRepositoryPath(bad)) << bad;
}

class TufResign : public ::testing::Test {
protected:
    void SetUp() override {
        dir = livepatch::testing::freshTestDir("lpserver-tuf", {"online"});
        auto key = [] { return *tuf::SigningKey::generate(tuf::KeyScheme::Ed25519); };
        root = key(), targets = key(), snapshot = key(), timestamp = key();
        ASSERT_TRUE(tuf::Repository::create((dir / "repo").string(), {&root}, targets, snapshot, timestamp, t0));
        ASSERT_TRUE(fs::writeFileAtomic((dir / "online/snapshot.pem").string(), snapshot.toPem(), 0600));
        ASSERT_TRUE(fs::writeFileAtomic((dir / "online/timestamp.pem").string(), timestamp.toPem(), 0600));
    }
    void TearDown() override { fsys::remove_all(dir); }
    Result<bool> fresh(std::int64_t now) {
        return lpserver::keepTufFresh((dir / "repo").string(), (dir / "online").string(), now);
    }
    std::int64_t version(const std::string& role) {
        auto r = tuf::Repository::open((dir / "repo").string());
        EXPECT_TRUE(r);
        return role == "timestamp" ? r->state().timestamp.version : r->state().snapshot.version;
    }

    fsys::path dir;
    std::int64_t t0 = 1'800'000'000;
    tuf::SigningKey root, targets, snapshot, timestamp;
};

TEST_F(TufResign, NothingIsSignedWhileMoreThanHalfTheLifetimeIsLeft) {
    auto r = fresh(t0 + 3600);
    ASSERT_TRUE(r) << r.error().describe();
    EXPECT_FALSE(*r);
    EXPECT_EQ(version("timestamp"), 1);
}

TEST_F(TufResign, TheTimestampIsReSignedBeforeItExpires) {
    auto r = fresh(t0 + 13 * 3600);  // 11 h left of 24
    ASSERT_TRUE(r) << r.error().describe();
    EXPECT_TRUE(*r);
    EXPECT_EQ(version("timestamp"), 2);
    EXPECT_EQ(version("snapshot"), 1);
}

TEST_F(TufResign, TheSnapshotIsReSignedWithANewTimestampBeforeItExpires) {
    auto r = fresh(t0 + 4 * 86400);  // 3 days left of 7
    ASSERT_TRUE(r) << r.error().describe();
    EXPECT_EQ(version("snapshot"), 2);
    EXPECT_EQ(version("timestamp"), 2);
}

TEST_F(TufResign, AnOnlineKeyOthersCanReadIsRefused) {
    ::chmod((dir / "online/timestamp.pem").c_str(), 0644);
    auto r = fresh(t0 + 13 * 3600);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code(), ErrorCode::Permission);
    EXPECT_EQ(version("timestamp"), 1);
}

}  // namespace
