// Both catalogue stores (catalogue.h) against one suite: SQLite here,
// PostgreSQL when the binary runs under with-postgres.sh. Each "replica" is
// its own CatalogueStore on its own Store (its own connections) over the one
// database, as two servers would be, and for the file store over one file.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>

#include "catalogue.h"
#include "crypto/sha256.h"
#include "livepatch/testing/files.h"
#include "store.h"
#include "test_database.h"

namespace {

namespace fsys = std::filesystem;
using livepatch::ErrorCode;
using lpserver::CatalogueStore;
using lpserver::CatalogueStoreKind;
using lpserver::Store;

const char* kTwoTiers =
    "tiers: [canary, stable]\n"
    "kernels:\n"
    "  - kernel: 6.1.0-1-amd64\n"
    "    architecture: x86_64\n"
    "    patches:\n"
    "      - {file: lp_a-1.tar.xz, name: lp_a, version: \"1\", tier: canary}\n";

class CatalogueStoreTest : public ::testing::TestWithParam<CatalogueStoreKind> {
protected:
    void SetUp() override {
        root = livepatch::testing::freshTestDir("lpcatalogue", {"a", "b"});
        database = lpserver::testing::freshTestDatabase("cat_", root);
        file = (root / "catalogue.yaml").string();
    }
    void TearDown() override {
        catalogues.clear();
        stores.clear();
        fsys::remove_all(root);
    }
    // A replica: its own data dir and connections, the shared database (and,
    // for the file store, the shared file).
    CatalogueStore& open(const std::string& dataDir) {
        stores.push_back(lpserver::testing::openReplicaStore(root / dataDir, database));
        auto c = lpserver::openCatalogueStore(GetParam(), file, *stores.back());
        EXPECT_TRUE(c) << c.error().message();
        catalogues.push_back(std::move(*c));
        return *catalogues.back();
    }
    fsys::path root;
    std::string database, file;
    std::vector<std::unique_ptr<Store>> stores;
    std::vector<std::unique_ptr<CatalogueStore>> catalogues;
};

TEST_P(CatalogueStoreTest, ANewCatalogueIsEmptyWithTheStableTierOnly) {
    auto& c = open("a");
    auto snap = c.snapshot();
    ASSERT_TRUE(snap) << snap.error().message();
    EXPECT_EQ((*snap)->tierNames(), std::vector<std::string>{"stable"});
    EXPECT_TRUE((*snap)->kernels.empty());
}

TEST_P(CatalogueStoreTest, AnEditIsSeenAtOnceByItsReplicaAndSoonByAnother) {
    auto& a = open("a");
    auto& b = open("b");
    ASSERT_TRUE(b.snapshot());  // b has a cached copy from before the edit
    ASSERT_TRUE(a.replace(kTwoTiers, "*"));
    auto mine = a.snapshot();
    ASSERT_TRUE(mine);
    EXPECT_EQ((*mine)->tierNames(), (std::vector<std::string>{"canary", "stable"})) << "its own edit, at once";
    // The other replica: within the poll interval (the file store: at once).
    std::vector<std::string> seen;
    for (int i = 0; i < 60; ++i) {
        auto theirs = b.snapshot();
        ASSERT_TRUE(theirs);
        seen = (*theirs)->tierNames();
        if (seen.size() == 2) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    EXPECT_EQ(seen, (std::vector<std::string>{"canary", "stable"}));
}

TEST_P(CatalogueStoreTest, ConcurrentEditsFromTwoReplicasAreAllKept) {
    auto& a = open("a");
    auto& b = open("b");
    // Each edit appends one tier to the list it read: a lost update (two
    // edits from the same generation both written) loses a tier.
    constexpr int kEach = 15;
    auto editor = [](CatalogueStore& c, const std::string& prefix, std::atomic<int>& failures) {
        for (int i = 0; i < kEach; ++i) {
            auto s = c.edit([&](YAML::Node& root) -> livepatch::Status {
                root["tiers"].push_back(prefix + std::to_string(i));
                // Between the read and the write, where the other replica
                // gets in: without this the edits rarely overlap at all.
                std::this_thread::sleep_for(std::chrono::milliseconds(3));
                return {};
            });
            if (!s) ++failures;
        }
    };
    std::atomic<int> failures{0};
    std::thread ta([&] { editor(a, "a", failures); });
    std::thread tb([&] { editor(b, "b", failures); });
    ta.join();
    tb.join();
    EXPECT_EQ(failures.load(), 0);
    auto doc = a.document();
    ASSERT_TRUE(doc);
    auto parsed = lpserver::parseCatalogue(doc->text, "test");
    ASSERT_TRUE(parsed) << parsed.error().message();
    EXPECT_EQ(parsed->tiers.size(), static_cast<std::size_t>(2 * kEach + 1)) << doc->text;
}

TEST_P(CatalogueStoreTest, ReplaceNeedsTheCurrentTagAndAValidDocument) {
    auto& c = open("a");
    ASSERT_TRUE(c.replace(kTwoTiers, "*"));
    auto doc = c.document();
    ASSERT_TRUE(doc);
    EXPECT_EQ(doc->etag, livepatch::sha256Hex(doc->text));
    // Someone else edits after we read: our replace is refused, not merged.
    ASSERT_TRUE(c.edit([](YAML::Node& root) -> livepatch::Status {
        root["kernels"][0]["supported"] = "kernel-end-of-life";
        return {};
    }));
    auto stale = c.replace("tiers: [stable]\n", doc->etag);
    ASSERT_FALSE(stale);
    EXPECT_EQ(stale.error().code(), ErrorCode::Stale);
    // A document the server could not use is never stored.
    auto current = c.document();
    ASSERT_TRUE(current);
    for (const char* bad : {"tiers: [\"Not A Tier\"]\n",
                            "kernels:\n  - kernel: k\n    architecture: x86_64\n    patches: [{file: ../../etc/shadow,"
                            " name: p, version: \"1\"}]\n",
                            "kernels: [{kernel: k, architecture: x, patches: [{file: f, name: p, version: \"1\", "
                            "replace: maybe}]}]\n",
                            "- just\n- a list\n"}) {
        auto s = c.replace(bad, current->etag);
        ASSERT_FALSE(s) << bad;
        EXPECT_EQ(s.error().code(), ErrorCode::ConfigInvalid) << bad;
    }
    auto after = c.document();
    ASSERT_TRUE(after);
    EXPECT_EQ(after->text, current->text) << "refused documents leave the catalogue as it was";
    EXPECT_TRUE(c.replace("tiers: [stable]\n", current->etag)) << "the current tag is accepted";
}

TEST_P(CatalogueStoreTest, AnEditWhoseResultDoesNotParseWritesNothing) {
    auto& c = open("a");
    ASSERT_TRUE(c.replace(kTwoTiers, "*"));
    auto before = c.document();
    ASSERT_TRUE(before);
    auto s = c.edit([](YAML::Node& root) -> livepatch::Status {
        root["kernels"][0]["patches"][0]["file"] = "a/b";
        return {};
    });
    ASSERT_FALSE(s);
    EXPECT_EQ(s.error().code(), ErrorCode::ConfigInvalid);
    auto after = c.document();
    ASSERT_TRUE(after);
    EXPECT_EQ(after->text, before->text);
}

INSTANTIATE_TEST_SUITE_P(Stores, CatalogueStoreTest,
                         ::testing::Values(CatalogueStoreKind::File, CatalogueStoreKind::Database),
                         [](const auto& info) { return info.param == CatalogueStoreKind::File ? "File" : "Database"; });

// The database store's first start imports the file catalogue it replaces,
// once: later edits in the database are not undone by the file.
class DatabaseCatalogueImport : public CatalogueStoreTest {};

TEST_P(DatabaseCatalogueImport, TheFileIsImportedOnceAtTheFirstStart) {
    std::ofstream(file) << kTwoTiers;
    auto& a = open("a");
    auto snap = a.snapshot();
    ASSERT_TRUE(snap);
    ASSERT_EQ((*snap)->kernels.size(), 1u);
    EXPECT_EQ((*snap)->kernels[0].patches.at(0).file, "lp_a-1.tar.xz");
    ASSERT_TRUE(a.edit([](YAML::Node& root) -> livepatch::Status {
        root["tiers"] = YAML::Load("[stable]");
        return {};
    }));
    auto& b = open("b");  // a second start (another replica, or a restart)
    auto again = b.snapshot();
    ASSERT_TRUE(again);
    EXPECT_EQ((*again)->tierNames(), std::vector<std::string>{"stable"}) << "the file was not imported again";
}

INSTANTIATE_TEST_SUITE_P(Database, DatabaseCatalogueImport, ::testing::Values(CatalogueStoreKind::Database),
                         [](const auto&) { return "Database"; });

TEST(CatalogueParse, PatchFilesArePlainNamesAndFlagsBooleans) {
    EXPECT_TRUE(lpserver::parseCatalogue(kTwoTiers, "t"));
    EXPECT_TRUE(lpserver::parseCatalogue("", "t")) << "the empty catalogue";
    auto traversal = lpserver::parseCatalogue(
        "kernels: [{kernel: k, architecture: x, patches: [{file: ../x, name: p, version: "
        "\"1\"}]}]\n",
        "t");
    ASSERT_FALSE(traversal);
    EXPECT_NE(traversal.error().message().find("plain file name"), std::string::npos);
    for (const char* notText : {"tiers: [stable]\n# \xff\xfe\n", "tiers: [stable] # \x1b[2J\n"}) {
        auto bytes = lpserver::parseCatalogue(notText, "t");
        ASSERT_FALSE(bytes) << "not UTF-8 text: an edit would re-emit it as a document yaml-cpp cannot load";
        EXPECT_NE(bytes.error().message().find("not UTF-8 text"), std::string::npos);
    }
    EXPECT_TRUE(lpserver::parseCatalogue("# caf\xc3\xa9\ntiers: [stable]\r\n", "t")) << "UTF-8 and CRLF are text";
    auto soak = lpserver::parseCatalogue("tiers: [{name: canary, soak: soon}, stable]\n", "t");
    ASSERT_FALSE(soak);
    EXPECT_NE(soak.error().message().find("tiers entry 1"), std::string::npos) << soak.error().message();
}

}  // namespace

namespace lpserver {
// Readable test names in ctest's listing.
void PrintTo(CatalogueStoreKind k, std::ostream* os) { *os << (k == CatalogueStoreKind::File ? "file" : "database"); }
}  // namespace lpserver
