#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "livepatch/testing/files.h"
#include "livepatch/trusted_files.h"
#include "util/digest.h"
#include "util/fs.h"
#include "util/timeutil.h"

using namespace livepatch;
namespace fsys = std::filesystem;

namespace {
class Fs : public ::testing::Test {
protected:
    void SetUp() override { dir = livepatch::testing::freshTestDir("lpfs"); }
    void TearDown() override { fsys::remove_all(dir); }
    mode_t modeOf(const fsys::path& p) {
        struct stat st;
        ::lstat(p.c_str(), &st);
        return st.st_mode & 07777;
    }
    fsys::path dir;
};
}  // namespace

TEST_F(Fs, AtomicWriteIs0600AndReplaces) {
    auto p = (dir / "state").string();
    ASSERT_TRUE(fs::writeFileAtomic(p, "one"));
    EXPECT_EQ(modeOf(p), 0600u);
    ASSERT_TRUE(fs::writeFileAtomic(p, "two"));
    EXPECT_EQ(*fs::readFile(p), "two");
    EXPECT_EQ(fsys::directory_iterator(dir) == fsys::directory_iterator(), false);
    int files = 0;
    for (auto& e : fsys::directory_iterator(dir)) files += e.is_regular_file();
    EXPECT_EQ(files, 1) << "no temp files left behind";
}

TEST_F(Fs, RefusesSymlinksAndLeavesTheirTargetAlone) {
    std::ofstream(dir / "target") << "precious";
    fsys::create_symlink(dir / "target", dir / "link");
    auto w = fs::writeFileAtomic((dir / "link").string(), "evil");
    ASSERT_FALSE(w);
    EXPECT_EQ(w.error().code(), ErrorCode::Permission);
    EXPECT_EQ(*fs::readFile((dir / "target").string()), "precious");
    auto r = fs::readFile((dir / "link").string());
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code(), ErrorCode::Permission);
}

TEST_F(Fs, ReadFileBoundsAndTypes) {
    std::ofstream(dir / "big") << std::string(100, 'x');
    EXPECT_EQ(fs::readFile((dir / "big").string(), 10).error().code(), ErrorCode::TooLarge);
    EXPECT_EQ(fs::readFile((dir / "missing").string()).error().code(), ErrorCode::NotFound);
    EXPECT_FALSE(fs::readFile(dir.string()));
}

// The read is sized from fstat: exactly the limit is fine, one byte over is
// not, and files whose size fstat does not know (/proc) are read whole.
TEST_F(Fs, ReadFileReadsExactlyUpToItsLimitAndProcFilesWhole) {
    const std::string body(3 * 65536 + 7, 'y');
    std::ofstream(dir / "exact") << body;
    EXPECT_EQ(*fs::readFile((dir / "exact").string(), body.size()), body);
    EXPECT_EQ(fs::readFile((dir / "exact").string(), body.size() - 1).error().code(), ErrorCode::TooLarge);
    EXPECT_EQ(*fs::readFile((dir / "exact").string(), UINT64_MAX), body);
    std::ofstream(dir / "empty");
    EXPECT_EQ(*fs::readFile((dir / "empty").string()), "");
    auto maps = fs::readFile("/proc/self/maps");  // st_size 0, usually well over 4 KiB
    ASSERT_TRUE(maps);
    EXPECT_GT(maps->size(), 0u);
    EXPECT_NE(maps->find("[stack]"), std::string::npos) << "the last lines are there too";
    EXPECT_EQ(fs::readFile("/proc/self/maps", 16).error().code(), ErrorCode::TooLarge);
}

TEST_F(Fs, PrivateDirsAre0700AndSymlinkedDirsRefused) {
    auto p = (dir / "a/b/c").string();
    ASSERT_TRUE(fs::ensurePrivateDir(p));
    EXPECT_EQ(modeOf(dir / "a"), 0700u);
    EXPECT_EQ(modeOf(p), 0700u);
    ::chmod(p.c_str(), 0755);
    ASSERT_TRUE(fs::ensurePrivateDir(p));
    EXPECT_EQ(modeOf(p), 0700u) << "loose mode tightened";
    fsys::create_directories(dir / "elsewhere");
    fsys::create_directory_symlink(dir / "elsewhere", dir / "sym");
    auto s = fs::ensurePrivateDir((dir / "sym").string());
    ASSERT_FALSE(s);
    EXPECT_EQ(s.error().code(), ErrorCode::Permission);
    EXPECT_FALSE(fs::ensurePrivateDir("relative/path"));
}

TEST_F(Fs, RemoveTreeDoesNotFollowSymlinks) {
    fsys::create_directories(dir / "keep");
    std::ofstream(dir / "keep/file") << "x";
    fsys::create_directories(dir / "tree/sub");
    fsys::create_directory_symlink(dir / "keep", dir / "tree/sub/link");
    ASSERT_TRUE(fs::removeTree((dir / "tree").string()));
    EXPECT_FALSE(fsys::exists(dir / "tree"));
    EXPECT_TRUE(fsys::exists(dir / "keep/file"));
}

TEST_F(Fs, FileLockIsExclusiveAcrossProcesses) {
    auto path = (dir / "lock").string();
    auto held = fs::FileLock::acquire(path, false);
    ASSERT_TRUE(held);
    pid_t pid = fork();
    if (pid == 0) {
        auto other = fs::FileLock::acquire(path, false);
        _exit(!other && other.error().code() == ErrorCode::Busy ? 0 : 1);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

TEST(Digest, ConstantTimeCompare) {
    EXPECT_TRUE(digestEquals("ABCDEF", "abcdef"));
    EXPECT_FALSE(digestEquals("abcdef", "abcdee"));
    EXPECT_FALSE(digestEquals("abc", "abcd"));
}

TEST(TimeUtil, Rfc3339AndDurations) {
    auto t = timeutil::parseRfc3339("2024-01-31T12:00:00Z");
    ASSERT_TRUE(t);
    EXPECT_EQ(timeutil::formatRfc3339(*t), "2024-01-31T12:00:00Z");
    EXPECT_EQ(timeutil::formatRfc3339(*timeutil::parseRfc3339("2024-01-31T14:00:00+02:00")), "2024-01-31T12:00:00Z");
    EXPECT_FALSE(timeutil::parseRfc3339("2024-02-30T00:00:00Z"));
    EXPECT_FALSE(timeutil::parseRfc3339("yesterday"));
    EXPECT_EQ(timeutil::parseDuration("3d")->count(), 3 * 86400);
    EXPECT_EQ(timeutil::parseDuration("2w")->count(), 14 * 86400);
    EXPECT_EQ(timeutil::parseDuration("0")->count(), 0);
    EXPECT_FALSE(timeutil::parseDuration("5"));
    EXPECT_FALSE(timeutil::parseDuration("5y"));
}

TEST(TimeUtil, TimesSystemClockCannotHoldAreRefusedNotOverflowed) {
    // Found by fuzz-config (UBSan: signed overflow in from_time_t).
    auto far = timeutil::parseRfc3339("2999-01-01T00:00:00Z");
    ASSERT_FALSE(far);
    EXPECT_NE(far.error().message().find("out of range"), std::string::npos);
    EXPECT_FALSE(timeutil::parseRfc3339("0001-01-01T00:00:00Z"));
    EXPECT_TRUE(timeutil::parseRfc3339("2261-01-01T00:00:00Z"));
    EXPECT_TRUE(timeutil::parseRfc3339("1970-01-01T00:00:00Z"));
}

TEST(RootOnly, OwnerAndModeWithTheCallersErrorCode) {
    const std::string dir = "/tmp/lp-rootonly-" + std::to_string(::getpid());
    ASSERT_TRUE(fs::ensurePrivateDir(dir));
    const std::string f = dir + "/bin";
    ASSERT_TRUE(fs::writeFileAtomic(f, "x", 0755));
    if (::geteuid() == 0) EXPECT_TRUE(fs::checkRootOnly(f, "the file", ErrorCode::Permission));
    ::chmod(f.c_str(), 0775);
    auto s = fs::checkRootOnly(f, "the file", ErrorCode::Permission);
    ASSERT_FALSE(s);
    EXPECT_EQ(s.error().code(), ErrorCode::Permission);
    EXPECT_EQ(s.error().message(), ::geteuid() == 0
                                       ? "the file is group/world-writable (mode 0775)"
                                       : "the file is owned by uid " + std::to_string(::geteuid()) + ", not root");
    if (::geteuid() == 0) {
        ::chmod(f.c_str(), 0755);
        ASSERT_EQ(::chown(f.c_str(), 65534, 65534), 0);
        s = fs::checkRootOnly(f, "the file", ErrorCode::PluginInvalid);
        ASSERT_FALSE(s);
        EXPECT_EQ(s.error().code(), ErrorCode::PluginInvalid);
        EXPECT_EQ(s.error().message(), "the file is owned by uid 65534, not root");
    }
    EXPECT_FALSE(fs::checkRootOnly(dir + "/missing", "x", ErrorCode::Permission));
    std::filesystem::remove_all(dir);
}

TEST(RootOnly, OpenedOnceSoASwapAfterTheCheckIsNotUsed) {
    if (::geteuid() != 0) GTEST_SKIP() << "ownership checks apply only as root";
    // Under the build tree: every directory above must be root-only.
    const std::string dir = std::string(LIVEPATCH_BINARY_DIR) + "/test-rootonly-" + std::to_string(::getpid());
    std::filesystem::remove_all(dir);
    ASSERT_TRUE(fs::ensurePrivateDir(dir));
    const std::string f = dir + "/engine";
    ASSERT_TRUE(fs::writeFileAtomic(f, "checked", 0755));
    auto fd = fs::openRootOnly(f, "the binary", ErrorCode::Permission);
    ASSERT_TRUE(fd) << fd.error().message();
    // Replace the file after the check: the descriptor still names the
    // checked bytes, and so does the /proc path we load or run through.
    ASSERT_TRUE(fs::writeFileAtomic(f, "swapped", 0755));
    std::ifstream viaProc(fs::procFdPath(fd->get()));
    std::string content;
    std::getline(viaProc, content);
    EXPECT_EQ(content, "checked");
    std::filesystem::remove_all(dir);
}

TEST(RootOnly, EveryDirectoryAboveIsChecked) {
    if (::geteuid() != 0) GTEST_SKIP() << "ownership checks apply only as root";
    const std::string top = std::string(LIVEPATCH_BINARY_DIR) + "/test-rootonly-up-" + std::to_string(::getpid());
    std::filesystem::remove_all(top);
    ASSERT_TRUE(fs::ensurePrivateDir(top + "/a/b"));
    ASSERT_TRUE(fs::writeFileAtomic(top + "/a/b/f", "x", 0644));
    EXPECT_TRUE(fs::openRootOnly(top + "/a/b/f", "the file", ErrorCode::Permission));
    ::chmod((top + "/a").c_str(), 0777);
    auto r = fs::openRootOnly(top + "/a/b/f", "the file", ErrorCode::PluginInvalid);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code(), ErrorCode::PluginInvalid);
    EXPECT_EQ(r.error().message(), "directory " + top + "/a above the file is group/world-writable (mode 0777)");
    ::chmod((top + "/a").c_str(), 0770);
    r = fs::openRootOnly(top + "/a/b/f", "the file", ErrorCode::PluginInvalid);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().message(), "directory " + top + "/a above the file is group/world-writable (mode 0770)");
    // Root's sticky directory (as /tmp): nobody else may rename root's b.
    ::chmod((top + "/a").c_str(), 01777);
    EXPECT_TRUE(fs::openRootOnly(top + "/a/b/f", "the file", ErrorCode::Permission));
    ::chmod((top + "/a").c_str(), 01777);
    ASSERT_EQ(::chown((top + "/a").c_str(), 65534, 65534), 0);  // someone else's sticky dir: they may rename b
    r = fs::openRootOnly(top + "/a/b/f", "the file", ErrorCode::Permission);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().message(), "directory " + top + "/a above the file is owned by uid 65534, not root");
    ::chmod((top + "/a").c_str(), 0755);
    ASSERT_EQ(::chown((top + "/a").c_str(), 0, 0), 0);
    // The file itself: a symlink is refused, a directory is no file.
    ASSERT_EQ(::symlink("f", (top + "/a/b/link").c_str()), 0);
    r = fs::openRootOnly(top + "/a/b/link", "the file", ErrorCode::Permission);
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message().find("is a symlink"), std::string::npos) << r.error().message();
    EXPECT_FALSE(fs::openRootOnly(top + "/a/b", "the file", ErrorCode::Permission));
    EXPECT_FALSE(fs::openRootOnly("relative/f", "the file", ErrorCode::Permission));
    std::filesystem::remove_all(top);
}

// Issue 14: keyrings (read by the verifier plugins through the SDK) follow the
// same rule as plugins and the engine binary, directories above included;
// the SDK's own, weaker check looked only at the keyring directory and files.
TEST(RootOnly, AKeyringFollowsTheSameRuleAsAPlugin) {
    if (::geteuid() != 0) GTEST_SKIP() << "ownership checks apply only as root";
    const std::string top = std::string(LIVEPATCH_BINARY_DIR) + "/test-rootonly-keyring-" + std::to_string(::getpid());
    std::filesystem::remove_all(top);
    ASSERT_TRUE(fs::ensurePrivateDir(top + "/a/keyring"));
    ASSERT_TRUE(fs::writeFileAtomic(top + "/a/keyring/signing.pem", "PEM", 0644));
    ASSERT_TRUE(fs::writeFileAtomic(top + "/a/keyring/notes.txt", "x", 0644));
    ASSERT_EQ(::symlink("/etc/passwd", (top + "/a/keyring/link.pem").c_str()), 0);
    auto files = readTrustedFiles(top + "/a/keyring", {".pem"}, true);
    ASSERT_TRUE(files) << files.error().message();
    ASSERT_EQ(files->size(), 1u) << "only the regular .pem file, never the symlink";
    EXPECT_EQ((*files)[0].path, top + "/a/keyring/signing.pem");
    EXPECT_EQ((*files)[0].bytes, "PEM");
    ::chmod((top + "/a").c_str(), 0777);  // someone else could swap the keyring directory
    files = readTrustedFiles(top + "/a/keyring", {".pem"}, true);
    ASSERT_FALSE(files);
    EXPECT_EQ(files.error().code(), ErrorCode::Permission);
    EXPECT_EQ(files.error().message(),
              "directory " + top + "/a above keyring directory is group/world-writable (mode 0777)");
    ::chmod((top + "/a").c_str(), 0700);
    ::chmod((top + "/a/keyring/signing.pem").c_str(), 0664);
    files = readTrustedFiles(top + "/a/keyring", {".pem"}, true);
    ASSERT_FALSE(files);
    EXPECT_EQ(files.error().message(),
              "keyring file " + top + "/a/keyring/signing.pem is group/world-writable (mode 0664)");
    std::filesystem::remove_all(top);
}
