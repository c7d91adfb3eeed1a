// Both patch stores (patch_store.h) against one suite: SQLite here,
// PostgreSQL when the binary runs under with-postgres.sh. The database
// store's own promises (replicas with their own data dirs, the checked
// cache, the size bound, the import of patches/) have their own tests.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "crypto/sha256.h"
#include "livepatch/testing/files.h"
#include "patch_store.h"
#include "store.h"
#include "test_database.h"

namespace {

namespace fsys = std::filesystem;
using livepatch::ErrorCode;
using lpserver::openPatchStore;
using lpserver::PatchStore;
using lpserver::Store;

std::string slurp(const fsys::path& p) {
    std::ifstream in(p, std::ios::binary);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// A stored file's bytes as a download reads them: through open()'s
// descriptor, up to the length it gave.
livepatch::Result<std::string> readAll(PatchStore& p, const std::string& name) {
    auto f = p.open(name);
    if (!f) return f.error();
    std::string out(f->length, '\0');
    for (std::size_t at = 0; at < out.size();) {
        ssize_t n = ::pread(f->fd.get(), &out[at], out.size() - at, static_cast<off_t>(at));
        if (n <= 0) return livepatch::Error(ErrorCode::Io, "short read");
        at += static_cast<std::size_t>(n);
    }
    return out;
}

class PatchStoreTest : public ::testing::TestWithParam<std::string> {
protected:
    void SetUp() override {
        root = livepatch::testing::freshTestDir("lppatchstore", {"a", "b", "c"});
        database = lpserver::testing::freshTestDatabase("ps_", root);
    }
    void TearDown() override {
        patches.clear();
        stores.clear();
        fsys::remove_all(root);
    }
    // A replica: its own data dir, the shared database.
    PatchStore& open(const std::string& dataDir, std::uint64_t maxBytes = 1u << 20) {
        stores.push_back(lpserver::testing::openReplicaStore(root / dataDir, database));
        auto p = openPatchStore(*lpserver::parsePatchStoreKind(GetParam()), (root / dataDir).string(), *stores.back(),
                                maxBytes);
        EXPECT_TRUE(p) << p.error().message();
        patches.push_back(std::move(*p));
        return *patches.back();
    }
    // A checked file in the store's staging dir, under a new name each time
    // as an upload leaves it (the filesystem store links it into place).
    std::string stage(PatchStore& p, const std::string& content) {
        const std::string path = p.stagingDir() + "/.upload-test" + std::to_string(++staged);
        std::ofstream(path, std::ios::binary) << content;
        return path;
    }
    fsys::path root;
    std::string database;
    int staged = 0;
    std::vector<std::unique_ptr<Store>> stores;
    std::vector<std::unique_ptr<PatchStore>> patches;
};

TEST_P(PatchStoreTest, PutFileIsReadWithItsDigest) {
    auto& p = open("a");
    const std::string bytes("patch\0bytes\xff", 12);
    const std::string staged = stage(p, bytes);
    ASSERT_TRUE(p.put("lp_x-1.tar.xz", staged));
    EXPECT_EQ(slurp(staged), bytes) << "the staged file is the caller's";
    auto i = p.info("lp_x-1.tar.xz");
    ASSERT_TRUE(i) << i.error().message();
    EXPECT_EQ(i->sha256, livepatch::sha256Hex(bytes));
    EXPECT_EQ(i->length, bytes.size());
    auto r = readAll(p, "lp_x-1.tar.xz");
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_EQ(*r, bytes);
}

TEST_P(PatchStoreTest, AStoredFileIsNeverReplaced) {
    auto& p = open("a");
    ASSERT_TRUE(p.put("lp_x-1.tar.xz", stage(p, "first")));
    auto again = p.put("lp_x-1.tar.xz", stage(p, "second"));
    ASSERT_FALSE(again);
    EXPECT_EQ(again.error().code(), ErrorCode::AlreadyEnabled);
    EXPECT_EQ(*readAll(p, "lp_x-1.tar.xz"), "first");
}

TEST_P(PatchStoreTest, UnknownAndRemovedFilesAreNotFound) {
    auto& p = open("a");
    EXPECT_EQ(p.info("nothing.tar.xz").error().code(), ErrorCode::NotFound);
    EXPECT_EQ(readAll(p, "nothing.tar.xz").error().code(), ErrorCode::NotFound);
    ASSERT_TRUE(p.put("lp_x-1.tar.xz", stage(p, "bytes")));
    ASSERT_TRUE(p.remove("lp_x-1.tar.xz"));
    EXPECT_EQ(p.info("lp_x-1.tar.xz").error().code(), ErrorCode::NotFound);
    EXPECT_EQ(readAll(p, "lp_x-1.tar.xz").error().code(), ErrorCode::NotFound);
    EXPECT_TRUE(p.put("lp_x-1.tar.xz", stage(p, "again"))) << "a removed name can be stored again";
}

INSTANTIATE_TEST_SUITE_P(Stores, PatchStoreTest, ::testing::Values("filesystem", "database"));

// The database store's own promises.
class DatabasePatchStoreTest : public PatchStoreTest {};

TEST_P(DatabasePatchStoreTest, AnotherReplicaServesTheFileFromTheDatabase) {
    auto& a = open("a");
    auto& b = open("b");
    const std::string bytes = "uploaded through replica a";
    ASSERT_TRUE(a.put("lp_x-1.tar.xz", stage(a, bytes)));
    auto r = readAll(b, "lp_x-1.tar.xz");
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_EQ(*r, bytes);
    const fsys::path cached = root / "b/patch-cache" / livepatch::sha256Hex(bytes);
    EXPECT_EQ(slurp(cached), bytes) << "b keeps a content-addressed copy";
    EXPECT_EQ(fsys::status(root / "b/patch-cache").permissions() & fsys::perms::all, fsys::perms::owner_all);
    EXPECT_FALSE(fsys::exists(root / "b/patches/lp_x-1.tar.xz"));
    auto taken = b.put("lp_x-1.tar.xz", stage(b, "other bytes"));
    ASSERT_FALSE(taken);
    EXPECT_EQ(taken.error().code(), ErrorCode::AlreadyEnabled) << "the name is taken on every replica";
}

TEST_P(DatabasePatchStoreTest, ADamagedCacheFileIsFetchedAgainNeverServed) {
    auto& a = open("a");
    const std::string bytes = "the real patch bytes";
    ASSERT_TRUE(a.put("lp_x-1.tar.xz", stage(a, bytes)));
    const fsys::path cached = root / "a/patch-cache" / livepatch::sha256Hex(bytes);
    ASSERT_EQ(slurp(cached), bytes);
    for (const std::string damage : {"the real patch bytez", "short", "the real patch bytes and more"}) {
        std::ofstream(cached, std::ios::binary | std::ios::trunc) << damage;
        auto r = readAll(a, "lp_x-1.tar.xz");
        ASSERT_TRUE(r) << r.error().message();
        EXPECT_EQ(*r, bytes) << "served a damaged cache file: " << damage;
        EXPECT_EQ(slurp(cached), bytes) << "the cache file was not repaired";
    }
    fsys::remove(cached);
    EXPECT_EQ(*readAll(a, "lp_x-1.tar.xz"), bytes);
}

TEST_P(DatabasePatchStoreTest, FilesOverTheUploadLimitAreRefused) {
    auto& small = open("a", 8);
    auto r = small.put("lp_x-1.tar.xz", stage(small, "nine bytes"));
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code(), ErrorCode::TooLarge);
    EXPECT_EQ(small.info("lp_x-1.tar.xz").error().code(), ErrorCode::NotFound);
    // Stored by a replica with a larger limit: this one does not fetch it.
    auto& large = open("b", 1024);
    ASSERT_TRUE(large.put("lp_y-1.tar.xz", stage(large, "twelve bytes")));
    auto& other = open("c", 8);
    EXPECT_EQ(readAll(other, "lp_y-1.tar.xz").error().code(), ErrorCode::TooLarge);
}

TEST_P(DatabasePatchStoreTest, PatchesOfTheDataDirAreImportedAtOpen) {
    fsys::create_directories(root / "a/patches");
    std::ofstream(root / "a/patches/lp_old-1.tar.xz") << "from before";
    std::ofstream(root / "a/patches/.upload-x") << "staging, not a patch";
    open("a");
    auto& b = open("b");
    EXPECT_EQ(*readAll(b, "lp_old-1.tar.xz"), "from before");
    EXPECT_EQ(b.info(".upload-x").error().code(), ErrorCode::NotFound);
}

INSTANTIATE_TEST_SUITE_P(Database, DatabasePatchStoreTest, ::testing::Values("database"));

TEST(PatchStoreKind, OnlyFilesystemOrDatabaseAnyDataDir) {
    auto root = livepatch::testing::freshTestDir("lppatchstorekind");
    lpserver::StoreOptions o;
    o.dataDir = root.string();
    auto s = Store::open(o);
    ASSERT_TRUE(s);
    for (const char* bad : {"s3", "", "Filesystem", "database "}) {
        auto k = lpserver::parsePatchStoreKind(bad);
        ASSERT_FALSE(k) << bad;
        EXPECT_EQ(k.error().code(), ErrorCode::ConfigInvalid);
        EXPECT_EQ(k.error().message(), "--patch-store: expected filesystem or database");
    }
    EXPECT_EQ(*lpserver::parsePatchStoreKind("filesystem"), lpserver::PatchStoreKind::Filesystem);
    EXPECT_EQ(*lpserver::parsePatchStoreKind("database"), lpserver::PatchStoreKind::Database);
    // --data-dir as the operator typed it: relative paths work for either store.
    const std::string relative = fsys::relative(root, fsys::current_path()).string();
    for (const char* kind : {"filesystem", "database"}) {
        auto r = openPatchStore(*lpserver::parsePatchStoreKind(kind), relative, **s, 1024);
        EXPECT_TRUE(r) << kind << ": " << r.error().message();
    }
    EXPECT_TRUE(fsys::is_directory(root / "patch-cache"));
    s->reset();
    fsys::remove_all(root);
}

}  // namespace
