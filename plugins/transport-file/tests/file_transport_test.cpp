#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <livepatch/testing/fakes.h>

#include <atomic>
#include <thread>

#include "file_transport.h"

using namespace livepatch;
using namespace livepatch::plugins;
namespace fsys = std::filesystem;

TEST(FileMirror, MapsProtocolPaths) {
    const std::string id = std::string(32, 'a');
    EXPECT_EQ(*mirrorPathFor("POST", "/v1/client/" + id, "{}"), "v1/register.json");
    EXPECT_EQ(*mirrorPathFor("POST", "/v1/client/" + id + "/updates",
                             R"({"kernel":"5.15.0-1.2-generic","architecture":"x86_64"})"),
              "v1/updates/5.15.0-1.2-generic/x86_64.json");
    EXPECT_EQ(*mirrorPathFor("GET", "/v1/patches/lp-1.tar.xz", ""), "v1/patches/lp-1.tar.xz");
    EXPECT_FALSE(
        mirrorPathFor("POST", "/v1/client/" + id + "/updates", R"({"kernel":"../../etc","architecture":"x"})"));
    EXPECT_FALSE(mirrorPathFor("GET", "/v1/patches/../secret", ""));
    EXPECT_FALSE(mirrorPathFor("GET", "/v1/other", ""));
}

class FileTransportTest : public ::testing::Test {
protected:
    void SetUp() override {
        dir = fsys::temp_directory_path() / ("lpmirror-" + std::to_string(::getpid()));
        fsys::remove_all(dir);
        fsys::create_directories(dir / "mirror/v1/patches");
        fsys::create_directories(dir / "outside");
        std::ofstream(dir / "mirror/v1/register.json")
            << R"({"machine-token":"offline-mirror-token-0001","tier":"stable"})";
        std::ofstream(dir / "mirror/v1/patches/p.tar.xz") << "tarball";
        std::ofstream(dir / "outside/secret") << "secret";
        fsys::create_symlink(dir / "outside/secret", dir / "mirror/v1/patches/escape.tar.xz");
        cfg.set("remote-server", "file://" + (dir / "mirror").string());
        ctx.config = &cfg;
        ASSERT_TRUE(t.configure(ctx));
    }
    Result<DownloadResult> fetch(const std::string& urlPath) {
        DownloadRequest d;
        d.url = urlPath;
        d.destinationPath = (dir / "dl").string();
        return t.download(d, nullptr, nullptr);
    }
    std::string downloaded() {
        std::ifstream in(dir / "dl", std::ios::binary);
        return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    }
    livepatch::testing::MapConfigView cfg;
    PluginContext ctx;
    void TearDown() override { fsys::remove_all(dir); }
    std::string url(const std::string& p) { return "file://" + (dir / "mirror").string() + p; }
    fsys::path dir;
    FileTransport t;
};

TEST_F(FileTransportTest, ServesRegistrationAndDownloads) {
    HttpRequest req;
    req.method = "POST";
    req.url = url("/v1/client/" + std::string(32, 'b'));
    auto r = t.send(req, nullptr);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_NE(r->body.find("offline-mirror-token"), std::string::npos);
    DownloadRequest d;
    d.url = url("/v1/patches/p.tar.xz");
    d.destinationPath = (dir / "dl").string();
    auto res = t.download(d, nullptr, nullptr);
    ASSERT_TRUE(res) << res.error().message();
    EXPECT_EQ(res->bytes, 7u);
    EXPECT_EQ((fsys::status(dir / "dl").permissions() & fsys::perms::all),
              fsys::perms::owner_read | fsys::perms::owner_write);
}

TEST_F(FileTransportTest, RefusesEscapesAndLimits) {
    DownloadRequest d;
    d.url = url("/v1/patches/escape.tar.xz");
    d.destinationPath = (dir / "dl").string();
    auto r = t.download(d, nullptr, nullptr);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code(), ErrorCode::Permission);
    EXPECT_FALSE(fsys::exists(dir / "dl"));
    d.url = url("/v1/patches/p.tar.xz");
    d.maxBytes = 3;
    EXPECT_EQ(t.download(d, nullptr, nullptr).error().code(), ErrorCode::TooLarge);
    HttpRequest missing;
    missing.method = "POST";
    missing.url = url("/v1/client/" + std::string(32, 'c') + "/updates");
    missing.body = R"({"kernel":"k","architecture":"x86_64"})";
    EXPECT_EQ(t.send(missing, nullptr)->status, 404);
}

TEST_F(FileTransportTest, LargePatchesAreStreamedWithProgressAndCancel) {
    std::string big((3u << 20) + 17, '\0');
    for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 131 % 251);
    std::ofstream(dir / "mirror/v1/patches/big.tar.xz", std::ios::binary) << big;
    DownloadRequest d;
    d.url = url("/v1/patches/big.tar.xz");
    d.destinationPath = (dir / "dl").string();
    std::vector<std::pair<std::uint64_t, std::uint64_t>> seen;
    auto res = t.download(
        d, [&](std::uint64_t done, std::uint64_t total) { seen.emplace_back(done, total); }, nullptr);
    ASSERT_TRUE(res) << res.error().message();
    EXPECT_EQ(res->bytes, big.size());
    std::ifstream in(dir / "dl", std::ios::binary);
    EXPECT_TRUE(std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>()) == big)
        << "byte-exact copy";
    ASSERT_GE(seen.size(), 4u) << "progress per 1 MiB step";
    for (size_t i = 1; i < seen.size(); ++i) EXPECT_GT(seen[i].first, seen[i - 1].first);
    EXPECT_EQ(seen.back(), std::make_pair(std::uint64_t(big.size()), std::uint64_t(big.size())));

    CancelToken cancel;
    auto r = t.download(
        d, [&](std::uint64_t, std::uint64_t) { cancel.cancel(); }, &cancel);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code(), ErrorCode::Cancelled);

    fsys::remove(dir / "dl");
    fsys::create_symlink(dir / "outside/secret", dir / "dl");
    r = t.download(d, nullptr, nullptr);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code(), ErrorCode::Io);
    std::ifstream secret(dir / "outside/secret");
    EXPECT_EQ(std::string((std::istreambuf_iterator<char>(secret)), std::istreambuf_iterator<char>()), "secret")
        << "not written through";
}

// The destination is written as every transport writes it
// (livepatch/download_file.h). Regression: this transport opened it without
// O_NONBLOCK and without a file-type check, so a FIFO planted at the
// destination blocked the agent forever in open(2); the child below would
// hang and be killed, and the test fail, on that code. A file with another
// mode ends up 0600, as the https transport always made it.
TEST_F(FileTransportTest, TheDestinationIsARegularPrivateFileOrRefused) {
    std::ofstream(dir / "mirror/v1/patches/p.tar.xz") << "tarball";
    DownloadRequest d;
    d.url = url("/v1/patches/p.tar.xz");
    d.destinationPath = (dir / "dl").string();
    ASSERT_EQ(::mkfifo(d.destinationPath.c_str(), 0600), 0);
    const pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        ::alarm(5);  // the old code never returns from open(2)
        auto r = t.download(d, nullptr, nullptr);
        ::_exit(!r && r.error().code() == ErrorCode::Io ? 0 : 1);
    }
    int status = 0;
    ASSERT_EQ(::waitpid(child, &status, 0), child);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
        << "a FIFO at the destination must be refused at once, status " << status;

    fsys::remove(dir / "dl");
    std::ofstream(dir / "dl") << "old partial";
    fsys::permissions(dir / "dl", fsys::perms::owner_read | fsys::perms::owner_write | fsys::perms::group_read |
                                      fsys::perms::others_read);
    auto r = t.download(d, nullptr, nullptr);
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_EQ(fsys::status(dir / "dl").permissions() & fsys::perms::all,
              fsys::perms::owner_read | fsys::perms::owner_write);
    std::ifstream in(dir / "dl");
    EXPECT_EQ(std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>()), "tarball");
}

// Regression (security review item 10): the mirror root was whatever came
// before "/v1/" in each offer URL, so an offer could read any directory.
TEST_F(FileTransportTest, OfferUrlsCannotMoveTheMirrorRoot) {
    fsys::create_directories(dir / "outside/v1/patches");
    std::ofstream(dir / "outside/v1/patches/x.tar.xz") << "outside";
    for (const std::string& u :
         {url("/../outside/v1/patches/x.tar.xz"), url("/../../../..") + (dir / "outside/v1/patches/x.tar.xz").string(),
          "file://" + (dir / "outside").string() + "/v1/patches/x.tar.xz"}) {
        auto r = fetch(u);
        ASSERT_FALSE(r) << u;
        EXPECT_EQ(r.error().code(), ErrorCode::Permission) << r.error().message();
        EXPECT_NE(r.error().message().find("is not under the mirror root"), std::string::npos) << r.error().message();
        EXPECT_NE(downloaded(), "outside");
    }
    HttpRequest req;
    req.method = "POST";
    req.url = "file://" + (dir / "outside").string() + "/v1/client/" + std::string(32, 'b');
    auto s = t.send(req, nullptr);
    ASSERT_FALSE(s);
    EXPECT_EQ(s.error().code(), ErrorCode::Permission);
    FileTransport unconfigured;
    DownloadRequest d;
    d.url = url("/v1/patches/p.tar.xz");
    d.destinationPath = (dir / "dl").string();
    EXPECT_EQ(unconfigured.download(d, nullptr, nullptr).error().code(), ErrorCode::ConfigInvalid)
        << "no root, nothing read";
}

// Both ways of opening keep every step under the root: a symlink inside the
// mirror that points out, absolute or relative, is refused.
TEST_F(FileTransportTest, SymlinksOutOfTheMirrorAreRefusedByBothOpeners) {
    fsys::create_symlink("../../../outside/secret", dir / "mirror/v1/patches/relative.tar.xz");
    fsys::create_directory_symlink(dir / "outside", dir / "mirror/v1/outdir");
    const std::string root = (dir / "mirror").string();
    for (auto how : {MirrorOpen::Openat2, MirrorOpen::ComponentWalk}) {
        for (const std::string rel : {"v1/patches/escape.tar.xz", "v1/patches/relative.tar.xz", "v1/outdir/secret",
                                      "v1/../../outside/secret"}) {
            auto fd = openInMirror(root, rel, how);
            ASSERT_FALSE(fd) << rel;
            EXPECT_EQ(fd.error().code(), ErrorCode::Permission) << rel << ": " << fd.error().message();
        }
        auto ok = openInMirror(root, "v1/patches/p.tar.xz", how);
        ASSERT_TRUE(ok) << ok.error().message();
        ::close(*ok);
        EXPECT_EQ(openInMirror(root, "v1/patches/none", how).error().code(), ErrorCode::NotFound);
    }
}

// Regression (security review item 10): the old code checked a path with
// realpath() and opened it again by name; a directory swapped for a symlink
// in between made it read outside the mirror. Here v1/patches flips between
// the real directory and a symlink to outside/ while downloads run: no
// download may ever return the outside file.
TEST_F(FileTransportTest, ADirectorySwappedForASymlinkNeverLeadsOut) {
    fsys::create_directories(dir / "outside/pp");
    std::ofstream(dir / "outside/pp/p.tar.xz") << "outside";
    fsys::create_directory_symlink(dir / "outside/pp", dir / "mirror/v1/link");
    fsys::rename(dir / "mirror/v1/patches", dir / "mirror/v1/real");
    std::atomic<bool> stop{false};
    std::thread flipper([&] {
        // rename(2) is atomic: "patches" is always either the directory or the symlink.
        const auto patches = dir / "mirror/v1/patches";
        while (!stop) {
            ::rename((dir / "mirror/v1/real").c_str(), patches.c_str());
            ::rename(patches.c_str(), (dir / "mirror/v1/real").c_str());
            ::rename((dir / "mirror/v1/link").c_str(), patches.c_str());
            ::rename(patches.c_str(), (dir / "mirror/v1/link").c_str());
        }
    });
    int served = 0, refused = 0;
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(3);
    while (std::chrono::steady_clock::now() < until && served < 300) {
        auto r = fetch(url("/v1/patches/p.tar.xz"));
        if (r) {
            ++served;
            ASSERT_EQ(downloaded(), "tarball") << "read through a symlink swapped in";
        } else {
            ++refused;
        }
    }
    stop = true;
    flipper.join();
    EXPECT_GT(served + refused, 0);
}

// A TUF repository as livepatch-repo writes it: metadata/ and targets/ at the
// mirror root (source-type=static) or under v1/tuf/; nothing else, and no
// segment that starts with "." (so never "..").
TEST(FileMirror, MapsTufRepositoryPaths) {
    EXPECT_EQ(*mirrorPathFor("GET", "/metadata/timestamp.json", ""), "metadata/timestamp.json");
    EXPECT_EQ(*mirrorPathFor("GET", "/metadata/3.root.json", ""), "metadata/3.root.json");
    EXPECT_EQ(*mirrorPathFor("GET", "/targets/5.15.0-1.2-generic/x86_64/ab.lp-1.tar.xz", ""),
              "targets/5.15.0-1.2-generic/x86_64/ab.lp-1.tar.xz");
    EXPECT_EQ(*mirrorPathFor("GET", "/v1/tuf/metadata/timestamp.json", ""), "v1/tuf/metadata/timestamp.json");
    for (const std::string bad : {"/metadata/../v1/register.json", "/targets/../../etc/passwd", "/targets/a/.hidden",
                                  "/metadata/a/b", "/metadata/", "/keys/timestamp.pem", "/targets/a/b/c/d/e/f"})
        EXPECT_FALSE(mirrorPathFor("GET", bad, "")) << bad;
    EXPECT_FALSE(mirrorPathFor("POST", "/metadata/timestamp.json", ""));
}

TEST_F(FileTransportTest, ServesTufMetadataAnd404sWhatIsMissing) {
    fsys::create_directories(dir / "mirror/metadata");
    std::ofstream(dir / "mirror/metadata/timestamp.json") << R"({"signed":{}})";
    HttpRequest r;
    r.url = url("/metadata/timestamp.json");
    r.maxResponseBytes = 100;
    auto got = t.send(r, nullptr);
    ASSERT_TRUE(got) << got.error().message();
    EXPECT_EQ(got->status, 200);
    EXPECT_EQ(got->body, R"({"signed":{}})");
    r.url = url("/metadata/2.root.json");
    got = t.send(r, nullptr);
    ASSERT_TRUE(got);
    EXPECT_EQ(got->status, 404) << "the end of the root rotation chain";
    r.url = url("/metadata/timestamp.json");
    r.maxResponseBytes = 4;
    got = t.send(r, nullptr);
    ASSERT_FALSE(got);
    EXPECT_EQ(got.error().code(), ErrorCode::TooLarge);
    fsys::create_symlink(dir / "outside/secret", dir / "mirror/metadata/snapshot.json");
    r.url = url("/metadata/snapshot.json");
    r.maxResponseBytes = 100;
    got = t.send(r, nullptr);
    EXPECT_FALSE(got && got->status == 200 && got->body == "secret") << "a link out of the mirror is never followed";
}
