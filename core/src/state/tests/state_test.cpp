#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <random>

#include "livepatch/testing/files.h"
#include "state/credential_store.h"
#include "state/paths.h"
#include "state/state_file.h"
#include "util/fs.h"

using namespace livepatch;
namespace fsys = std::filesystem;

namespace {
class State : public ::testing::Test {
protected:
    void SetUp() override { dir = livepatch::testing::freshTestDir("lpstate"); }
    void TearDown() override { fsys::remove_all(dir); }
    fsys::path dir;
};
}  // namespace

TEST_F(State, RoundTripAndAbsent) {
    StateFile f((dir / "s").string());
    auto none = f.load();
    ASSERT_TRUE(none);
    EXPECT_FALSE(none->has_value());
    ASSERT_TRUE(f.save("{\"a\":1}"));
    EXPECT_EQ(**f.load(), "{\"a\":1}");
}

TEST_F(State, CorruptionIsReportedNotReset) {
    StateFile f((dir / "s").string());
    ASSERT_TRUE(f.save("payload-data"));
    std::string good = *fs::readFile(f.path());
    auto expectCorrupt = [&](const std::string& content) {
        std::ofstream(f.path(), std::ios::trunc) << content;
        auto r = f.load();
        ASSERT_FALSE(r) << content;
        EXPECT_EQ(r.error().code(), ErrorCode::StateCorrupt);
        EXPECT_NE(r.error().message().find(f.path()), std::string::npos);
        EXPECT_EQ(*fs::readFile(f.path()), content) << "file left in place";
    };
    expectCorrupt(good.substr(0, good.size() - 3));  // truncated
    std::string flipped = good;
    flipped.back() ^= 1;
    expectCorrupt(flipped);      // bit flip
    expectCorrupt("");           // empty
    expectCorrupt("garbage\n");  // no header
}

// A writer killed at any moment leaves either the old or the new state.
TEST_F(State, KilledWriterLeavesOldOrNewIntact) {
    const std::string path = (dir / "s").string();
    const std::string a(256 * 1024, 'A'), b(256 * 1024, 'B');
    StateFile f(path);
    ASSERT_TRUE(f.save(a));
    std::mt19937 rng(12345);
    for (int round = 0; round < 60; ++round) {
        pid_t pid = fork();
        ASSERT_GE(pid, 0);
        if (pid == 0) {
            StateFile child(path);
            for (int i = 0;; ++i) (void)child.save(i % 2 ? a : b);
        }
        usleep(200 + rng() % 3000);
        kill(pid, SIGKILL);
        int status;
        waitpid(pid, &status, 0);
        auto r = f.load();
        ASSERT_TRUE(r) << "round " << round << ": " << r.error().message();
        ASSERT_TRUE(r->has_value());
        ASSERT_TRUE(**r == a || **r == b) << "round " << round;
    }
    // Temp files a crash leaves are hidden dot-files in the same directory;
    // they never replace the state file.
    for (auto& e : fsys::directory_iterator(dir)) {
        const auto name = e.path().filename().string();
        EXPECT_TRUE(name == "s" || name.rfind(".s.tmp-", 0) == 0) << name;
    }
}

TEST_F(State, CredentialStoreIs0600) {
    CredentialStore store((dir / "credential").string());
    EXPECT_FALSE(store.load()->has_value());
    ASSERT_TRUE(store.save(Credential{"auth-token", "machine-token-xyz", std::nullopt}));
    struct stat st;
    ::stat((dir / "credential").c_str(), &st);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
    auto c = store.load();
    ASSERT_TRUE(c && c->has_value());
    EXPECT_EQ((*c)->secret, "machine-token-xyz");
    ASSERT_TRUE(store.remove());
    EXPECT_FALSE(store.load()->has_value());
}

TEST(Paths, SnapSystemAndTestRoots) {
    auto sys = Paths::resolve({});
    EXPECT_EQ(sys.stateDir, "/var/lib/livepatch-agent");
    EXPECT_EQ(sys.runDir, "/run/livepatch-agent");
    // Nothing in the revisioned $SNAP_DATA: `snap revert` would roll back the
    // applied version, rollback floor and crash guard under a newer kernel patch.
    auto snap = Paths::resolve(
        {{"SNAP_DATA", "/var/snap/livepatch-agent/12"}, {"SNAP_COMMON", "/var/snap/livepatch-agent/common"}});
    EXPECT_EQ(snap.stateDir, "/var/snap/livepatch-agent/common");
    EXPECT_EQ(snap.stateFile(), "/var/snap/livepatch-agent/common/state");
    EXPECT_EQ(snap.credentialFile(), "/var/snap/livepatch-agent/common/credential");
    EXPECT_EQ(snap.cacheDir, "/var/snap/livepatch-agent/common/cache");
    EXPECT_EQ(snap.runDir, "/var/snap/livepatch-agent/common/run");
    auto test = Paths::resolve({{"SNAP_COMMON", "/x"}, {"LIVEPATCH_AGENT_ROOT", "/tmp/r"}});
    EXPECT_EQ(test.stateDir, "/tmp/r/state");
    auto flag = Paths::resolve({{"LIVEPATCH_AGENT_ROOT", "/tmp/r"}}, std::string("/tmp/flag"));
    EXPECT_EQ(flag.configFile(), "/tmp/flag/state/config.yaml");
    auto one = Paths::resolve({{"LIVEPATCH_AGENT_RUN_DIR", "/tmp/run"}});
    EXPECT_EQ(one.socketPath(), "/tmp/run/agent.sock");
}

TEST_F(State, EnsureCreatesPrivateDirs) {
    auto p = Paths::resolve({}, dir.string());
    ASSERT_TRUE(p.ensure());
    for (const auto& d : {p.stateDir, p.cacheDir, p.runDir}) {
        struct stat st;
        ASSERT_EQ(::stat(d.c_str(), &st), 0);
        EXPECT_EQ(st.st_mode & 0777, 0700u) << d;
    }
}
