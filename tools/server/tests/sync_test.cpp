// --sync-filter parsing (the rest of upstream sync: tests/sync.sh, with real servers).
#include <gtest/gtest.h>

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

}  // namespace
