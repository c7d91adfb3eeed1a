// --sync-filter parsing and the sync report table (the rest of upstream
// sync: tests/sync.sh, with real servers).
#include <gtest/gtest.h>

#include "server_fixture.h"
#include "sync.h"

namespace {

TEST(ServerSyncFilter, KeysStartListsAndLaterWordsBelongToThem) {
    lpserver::SyncOptions o;
    ASSERT_TRUE(
        lpserver::parseSyncFilter("kernels=5.15.0-100.110-generic,6.1.0-1-amd64,architectures=x86_64,aarch64", o));
    EXPECT_EQ(o.kernels, (std::set<std::string>{"5.15.0-100.110-generic", "6.1.0-1-amd64"}));
    EXPECT_EQ(o.architectures, (std::set<std::string>{"x86_64", "aarch64"}));
    lpserver::SyncOptions only;
    ASSERT_TRUE(lpserver::parseSyncFilter("architectures=s390x", only));
    EXPECT_TRUE(only.kernels.empty());
    EXPECT_EQ(only.architectures, (std::set<std::string>{"s390x"}));
}

TEST(ServerSyncFilter, RefusesUnknownKeysWordsBeforeAKeyAndBadNames) {
    for (const char* bad : {"flavours=generic", "x86_64", "kernels=../etc", "architectures=X86 64", "kernels=a\nb"}) {
        lpserver::SyncOptions o;
        auto s = lpserver::parseSyncFilter(bad, o);
        ASSERT_FALSE(s) << bad;
        EXPECT_EQ(s.error().message().find("--sync-filter"), 0u) << s.error().message();
        EXPECT_EQ(s.error().message().find("../"), std::string::npos) << "the value is not echoed";
    }
}

// The report table keeps the newest N, pruned when one is added.
class ServerSyncReports : public ServerTest {};

TEST_F(ServerSyncReports, OnlyTheNewestAreKept) {
    server.reset();
    StoreOptions so;
    so.dataDir = dir.string();
    so.database = options().database;
    auto store = Store::open(so);
    ASSERT_TRUE(store) << store.error().message();
    for (int i = 1; i <= 5; ++i)
        ASSERT_TRUE((*store)->addSyncReport(SyncReportRow{i * 1000, i * 1000 + 1, "ok", i, ""}, 3));
    auto rows = (*store)->syncReports(10);
    ASSERT_TRUE(rows);
    ASSERT_EQ(rows->size(), 3u) << "older reports were not pruned";
    EXPECT_EQ((*rows)[0].added, 5);
    EXPECT_EQ((*rows)[2].added, 3);
    EXPECT_EQ(Store::kSyncReportsKept, 1000u) << "as many as GET /admin/sync/reports can list";
}

}  // namespace
