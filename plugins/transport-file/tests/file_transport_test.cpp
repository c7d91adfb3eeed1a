#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "file_transport.h"

using namespace livepatch;
using namespace livepatch::plugins;
namespace fsys = std::filesystem;

TEST(FileMirror, MapsProtocolPaths) {
    const std::string id = std::string(32, 'a');
    EXPECT_EQ(*mirrorPathFor("POST", "/v1/client/" + id, "{}"), "v1/register.json");
    EXPECT_EQ(*mirrorPathFor("POST", "/v1/client/" + id + "/updates", R"({"kernel":"5.15.0-1.2-generic","architecture":"x86_64"})"),
              "v1/updates/5.15.0-1.2-generic/x86_64.json");
    EXPECT_EQ(*mirrorPathFor("GET", "/v1/patches/lp-1.tar.xz", ""), "v1/patches/lp-1.tar.xz");
    EXPECT_FALSE(mirrorPathFor("POST", "/v1/client/" + id + "/updates", R"({"kernel":"../../etc","architecture":"x"})"));
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
        std::ofstream(dir / "mirror/v1/register.json") << R"({"machine-token":"offline-mirror-token-0001","tier":"stable"})";
        std::ofstream(dir / "mirror/v1/patches/p.tar.xz") << "tarball";
        std::ofstream(dir / "outside/secret") << "secret";
        fsys::create_symlink(dir / "outside/secret", dir / "mirror/v1/patches/escape.tar.xz");
    }
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
    EXPECT_EQ((fsys::status(dir / "dl").permissions() & fsys::perms::all), fsys::perms::owner_read | fsys::perms::owner_write);
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
    auto res = t.download(d, [&](std::uint64_t done, std::uint64_t total) { seen.emplace_back(done, total); }, nullptr);
    ASSERT_TRUE(res) << res.error().message();
    EXPECT_EQ(res->bytes, big.size());
    std::ifstream in(dir / "dl", std::ios::binary);
    EXPECT_TRUE(std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>()) == big) << "byte-exact copy";
    ASSERT_GE(seen.size(), 4u) << "progress per 1 MiB step";
    for (size_t i = 1; i < seen.size(); ++i) EXPECT_GT(seen[i].first, seen[i - 1].first);
    EXPECT_EQ(seen.back(), std::make_pair(std::uint64_t(big.size()), std::uint64_t(big.size())));

    CancelToken cancel;
    auto r = t.download(d, [&](std::uint64_t, std::uint64_t) { cancel.cancel(); }, &cancel);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code(), ErrorCode::Cancelled);

    fsys::remove(dir / "dl");
    fsys::create_symlink(dir / "outside/secret", dir / "dl");
    r = t.download(d, nullptr, nullptr);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code(), ErrorCode::Io);
    std::ifstream secret(dir / "outside/secret");
    EXPECT_EQ(std::string((std::istreambuf_iterator<char>(secret)), std::istreambuf_iterator<char>()), "secret") << "not written through";
}
