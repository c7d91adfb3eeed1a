// --sync-filter parsing and the sync report table (the rest of upstream
// sync: tests/sync.sh, with real servers).
#include <gtest/gtest.h>

#include <atomic>

#include "admin_client.h"
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

TEST(ServerSyncFilter, FlavoursAreWhatFollowsTheLastDash) {
    lpserver::SyncOptions o;
    ASSERT_TRUE(lpserver::parseSyncFilter("flavours=generic,aws,architectures=x86_64", o));
    EXPECT_EQ(o.flavours, (std::set<std::string>{"generic", "aws"}));
    EXPECT_EQ(lpserver::kernelFlavour("5.15.0-100.110-generic"), "generic");
    EXPECT_EQ(lpserver::kernelFlavour("6.8.0-40-generic-64k"), "64k");
    EXPECT_EQ(lpserver::kernelFlavour("6.1.0"), "");
    EXPECT_TRUE(lpserver::syncFilterAccepts(o, "5.15.0-100.110-generic", "x86_64"));
    EXPECT_TRUE(lpserver::syncFilterAccepts(o, "5.15.0-1050.55-aws", "x86_64"));
    EXPECT_FALSE(lpserver::syncFilterAccepts(o, "5.15.0-100.110-lowlatency", "x86_64"));
    EXPECT_FALSE(lpserver::syncFilterAccepts(o, "5.15.0-100.110-generic", "aarch64")) << "every key must allow it";
    EXPECT_FALSE(lpserver::syncFilterAccepts(o, "6.1.0", "x86_64")) << "no flavour is not any flavour";
    EXPECT_FALSE(lpserver::syncFilterAccepts(o, "5.15.0-100.110-awsx", "x86_64"));
    lpserver::SyncOptions all;
    EXPECT_TRUE(lpserver::syncFilterAccepts(all, "6.1.0", "s390x")) << "no filter: everything";
}

TEST(ServerSyncFilter, RefusesUnknownKeysWordsBeforeAKeyAndBadNames) {
    for (const char* bad : {"flavors=generic", "x86_64", "flavours=generic-64k", "flavours=Generic", "kernels=../etc",
                            "architectures=X86 64", "kernels=a\nb"}) {
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

// The sync's HTTP client (lpadmin::fetch: patch files and TUF metadata)
// drains an error body only so far: an upstream answering 404 with an
// endless body must not hold a sync run forever.
TEST(ServerSyncClient, AnEndlessErrorBodyIsNotReadToTheEnd) {
    int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    ASSERT_EQ(::bind(listener, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    ASSERT_EQ(::listen(listener, 1), 0);
    ASSERT_EQ(::getsockname(listener, reinterpret_cast<sockaddr*>(&a), &len), 0);
    std::atomic<std::uint64_t> sent{0};
    std::thread upstream([&] {
        int c = ::accept(listener, nullptr, nullptr);
        if (c < 0) return;
        char req[4096];
        (void)::recv(c, req, sizeof req, 0);
        const std::string head = "HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\n";
        (void)::send(c, head.data(), head.size(), MSG_NOSIGNAL);
        const std::string chunk(64u << 10, 'x');
        // Endless for a client that keeps reading (256 MiB as a bound for
        // the test itself); the client closing ends it.
        while (sent < (256u << 20)) {
            ssize_t n = ::send(c, chunk.data(), chunk.size(), MSG_NOSIGNAL);
            if (n <= 0) break;
            sent += static_cast<std::uint64_t>(n);
        }
        ::close(c);
    });
    const lpadmin::Session up{"http://127.0.0.1:" + std::to_string(ntohs(a.sin_port)), "", "", ""};
    auto got = lpadmin::fetch(up, "/v1/tuf/metadata/timestamp.json", "", 0, 1024,
                              [](const char*, std::size_t) { return true; });
    upstream.join();
    ::close(listener);
    ASSERT_TRUE(got) << got.error().message();
    EXPECT_EQ(got->status, 404);
    EXPECT_EQ(got->received, 0u);
    EXPECT_LT(sent.load(), 64u << 20) << "the client read the error body on and on";
}

}  // namespace
