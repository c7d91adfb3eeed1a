// Malicious tarballs are built in the test with libarchive's writer.
#include <archive.h>
#include <archive_entry.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>

#include <filesystem>
#include <fstream>

#include "livepatch/testing/fakes.h"
#include "livepatch/testing/files.h"
#include "package/patch_package.h"
#include "package/signed_patch.h"
#include "util/fs.h"

using namespace livepatch;
namespace fsys = std::filesystem;

namespace {

struct Entry {
    std::string name;
    std::string data;
    unsigned type = AE_IFREG;
    std::string link;  // symlink target or hardlink
    bool hardlink = false;
};

void writeTar(const std::string& path, const std::vector<Entry>& entries, const std::string& filter = "") {
    archive* a = archive_write_new();
    archive_write_set_format_pax_restricted(a);
    if (filter == "xz") archive_write_add_filter_xz(a);
    if (filter == "gz") archive_write_add_filter_gzip(a);
    if (filter == "bz2") archive_write_add_filter_bzip2(a);
    archive_write_open_filename(a, path.c_str());
    for (const auto& e : entries) {
        archive_entry* en = archive_entry_new();
        archive_entry_set_pathname(en, e.name.c_str());
        archive_entry_set_filetype(en, e.type);
        archive_entry_set_perm(en, 0644);
        if (e.hardlink) archive_entry_set_hardlink(en, e.link.c_str());
        else if (!e.link.empty()) archive_entry_set_symlink(en, e.link.c_str());
        archive_entry_set_size(en, e.type == AE_IFREG && !e.hardlink ? static_cast<la_int64_t>(e.data.size()) : 0);
        archive_write_header(a, en);
        if (e.type == AE_IFREG && !e.hardlink) archive_write_data(a, e.data.data(), e.data.size());
        archive_entry_free(en);
    }
    archive_write_close(a);
    archive_write_free(a);
}

const char* kMeta =
    R"({"format":1,"name":"lp_t","version":"2","module":"lp_t.ko","kernel":"5.15.0-100.110-generic","architecture":"x86_64","replace":true,"fixes":[{"name":"cve-2024-1","description":"d","bug":"b","patched":true}]})";

class Package : public ::testing::Test {
protected:
    void SetUp() override { dir = livepatch::testing::freshTestDir("lppkg", {"out", "outside"}); }
    void TearDown() override { fsys::remove_all(dir); }
    Status unpack(const std::vector<Entry>& entries, UnpackLimits limits = {}) {
        writeTar((dir / "t.tar").string(), entries);
        return safeUnpack((dir / "t.tar").string(), (dir / "out").string(), limits);
    }
    bool outEmpty() { return fsys::is_empty(dir / "out"); }
    fsys::path dir;
};

}  // namespace

TEST_F(Package, AllCompressionsOpen) {
    for (const std::string f : {"", "gz", "xz", "bz2"}) {
        const auto tar = (dir / ("p.tar." + f)).string();
        writeTar(tar,
                 {{"livepatch.json", kMeta},
                  {"lp_t.ko",
                   "\x7f"
                   "ELF..."}},
                 f);
        auto pkg = openPatchPackage(tar, (dir / ("w" + f)).string(), {});
        ASSERT_TRUE(pkg) << f << ": " << pkg.error().message();
        EXPECT_EQ(pkg->metadata.version, "2");
        EXPECT_EQ(*fs::readFile(pkg->modulePath),
                  "\x7f"
                  "ELF...");
    }
}

TEST_F(Package, RefusesEscapesLinksAndDevices) {
    struct Case {
        std::vector<Entry> entries;
        std::string why;
    };
    std::vector<Case> cases = {
        {{{"/etc/evil", "x"}}, "absolute path"},
        {{{"../outside/evil", "x"}}, "\"..\""},
        {{{"a/../../outside/evil", "x"}}, "\"..\""},
        {{{"link", "", AE_IFLNK, "/etc/passwd"}}, "symbolic link"},
        {{{"x", "data"}, {"hard", "", AE_IFREG, "x", true}}, "hard link"},
        {{{"dev", "", AE_IFCHR}}, "device"},
        {{{"fifo", "", AE_IFIFO}}, "device, fifo or socket"},
        {{{"dup", "1"}, {"./dup", "2"}}, "duplicate"},
    };
    for (const auto& c : cases) {
        auto s = unpack(c.entries);
        ASSERT_FALSE(s) << c.why;
        EXPECT_EQ(s.error().code(), ErrorCode::UnsafeArchive) << c.why;
        EXPECT_NE(s.error().message().find(c.why), std::string::npos) << s.error().message();
        EXPECT_TRUE(outEmpty()) << c.why;
        EXPECT_TRUE(fsys::is_empty(dir / "outside"));
    }
}

TEST_F(Package, LimitsStopBombs) {
    UnpackLimits few;
    few.maxEntries = 3;
    std::vector<Entry> many;
    for (int i = 0; i < 5; ++i) many.push_back({"f" + std::to_string(i), "x"});
    auto s = unpack(many, few);
    ASSERT_FALSE(s);
    EXPECT_EQ(s.error().code(), ErrorCode::TooLarge);
    EXPECT_TRUE(outEmpty());
    // 64 MiB of zeros compresses to a few KiB: counted while writing, not trusted from headers.
    writeTar((dir / "bomb.tar.xz").string(), {{"zeros", std::string(64u << 20, '\0')}}, "xz");
    EXPECT_LT(fsys::file_size(dir / "bomb.tar.xz"), 64u << 10);
    UnpackLimits small;
    small.maxTotalBytes = 1u << 20;
    auto b = safeUnpack((dir / "bomb.tar.xz").string(), (dir / "out").string(), small);
    ASSERT_FALSE(b);
    EXPECT_EQ(b.error().code(), ErrorCode::TooLarge);
    EXPECT_TRUE(outEmpty());
}

TEST_F(Package, CorruptAndTruncatedArchives) {
    std::ofstream(dir / "junk.tar") << "this is not a tar archive at all";
    EXPECT_EQ(safeUnpack((dir / "junk.tar").string(), (dir / "out").string(), {}).error().code(),
              ErrorCode::UnsafeArchive);
    writeTar((dir / "t.tar.gz").string(), {{"livepatch.json", kMeta}, {"lp_t.ko", std::string(100000, 'k')}}, "gz");
    auto size = fsys::file_size(dir / "t.tar.gz");
    fsys::resize_file(dir / "t.tar.gz", size / 2);
    EXPECT_FALSE(safeUnpack((dir / "t.tar.gz").string(), (dir / "out").string(), {}));
    EXPECT_TRUE(outEmpty());
}

// Regression (fuzz-unpack): libarchive returned no error string and we built
// a std::string from NULL.
TEST_F(Package, ArchiveWithoutErrorStringIsAnErrorNotACrash) {
    auto s = safeUnpack(LIVEPATCH_SOURCE_DIR "/core/src/package/tests/data/fuzz-null-error-string.tar",
                        (dir / "out").string(), {});
    ASSERT_FALSE(s);
    EXPECT_TRUE(outEmpty());
}

TEST_F(Package, MetadataValidation) {
    EXPECT_TRUE(parsePatchMetadata(kMeta));
    auto bad = [](const std::string& json, const std::string& why) {
        auto r = parsePatchMetadata(json);
        ASSERT_FALSE(r) << json;
        EXPECT_NE(r.error().message().find(why), std::string::npos) << r.error().message();
    };
    bad("[]", "JSON object");
    bad("{", "JSON object");
    bad(R"({"format":2})", "\"format\" must be 1");
    bad(R"({"format":1,"name":"Bad-Name","version":"1","module":"a.ko","kernel":"k","architecture":"x86_64"})",
        "\"name\"");
    bad(R"({"format":1,"name":"a","version":"1a","module":"a.ko","kernel":"k","architecture":"x86_64"})",
        "\"version\"");
    bad(R"({"format":1,"name":"a","version":"1","module":"../a.ko","kernel":"k","architecture":"x86_64"})",
        "\"module\"");
    bad(R"({"format":1,"name":"a","version":"1","module":"a.ko","kernel":"k","architecture":"vax"})",
        "\"architecture\"");
    bad(R"({"format":1,"name":"a","version":"1","module":"a.ko","kernel":"k","architecture":"x86_64","fixes":[{"name":"CVE-1"}]})",
        "lowercase");
    for (const char* notABool : {R"("no")", R"("false")", "0", "1", "null", "[]"})
        bad(std::string(
                R"({"format":1,"name":"a","version":"1","module":"a.ko","kernel":"k","architecture":"x86_64",)") +
                R"("fixes":[{"name":"cve-1","patched":)" + notABool + "}]}",
            "invalid fields");
}

TEST_F(Package, PackageNeedsItsModule) {
    writeTar((dir / "p.tar").string(), {{"livepatch.json", kMeta}});
    auto r = openPatchPackage((dir / "p.tar").string(), (dir / "w").string(), {});
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message().find("does not contain the module"), std::string::npos);
}

// Issue 20.5: on a full disk the unpack error named the archive entry but
// not the file it could not write. RLIMIT_FSIZE makes write() fail the way a
// full file system does, without needing one.
TEST_F(Package, AWriteThatFailsNamesTheFileAndTheReason) {
    writeTar((dir / "t.tar").string(), {{"livepatch.json", kMeta}, {"lp_t.ko", std::string(200000, 'x')}});
    Result<void> r = [&] {
        livepatch::testing::FileSizeLimit full(100000);
        return safeUnpack((dir / "t.tar").string(), (dir / "out").string(), {});
    }();
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code(), ErrorCode::Io);
    EXPECT_NE(r.error().message().find((dir / "out" / "lp_t.ko").string()), std::string::npos) << r.error().message();
    EXPECT_NE(r.error().message().find(std::strerror(EFBIG)), std::string::npos) << r.error().message();
}

TEST(Versions, NumericDottedCompare) {
    EXPECT_LT(compareVersions("9", "10"), 0);
    EXPECT_GT(compareVersions("95.2", "95.1"), 0);
    EXPECT_EQ(compareVersions("007", "7"), 0);
    EXPECT_LT(compareVersions("1", "1.1"), 0);
}

namespace {

// One 512-byte tar header (GNU magic) with any type flag.
std::string tarHeader(const std::string& name, char type, std::uint64_t size) {
    std::string h(512, '\0');
    h.replace(0, name.size(), name);
    auto octal = [&](size_t off, size_t width, std::uint64_t v) {
        char buf[24];
        std::snprintf(buf, sizeof buf, "%0*llo", static_cast<int>(width - 1), static_cast<unsigned long long>(v));
        h.replace(off, width - 1, buf);
    };
    octal(100, 8, 0755);
    octal(108, 8, 0);
    octal(116, 8, 0);
    octal(124, 12, size);
    octal(136, 12, 0);
    h[156] = type;
    h.replace(257, 8, std::string("ustar  \0", 8));
    h.replace(148, 8, std::string(8, ' '));
    unsigned sum = 0;
    for (unsigned char c : h) sum += c;
    char chk[8];
    std::snprintf(chk, sizeof chk, "%06o", sum);
    h.replace(148, 7, std::string(chk, 6) + '\0');
    return h;
}

// The raw bytes `tar`, xz-compressed by libarchive (fast preset).
void writeXz(const std::string& path, const std::string& tar) {
    archive* a = archive_write_new();
    archive_write_set_format_raw(a);
    archive_write_add_filter_xz(a);
    archive_write_set_filter_option(a, "xz", "compression-level", "0");
    archive_write_open_filename(a, path.c_str());
    archive_entry* en = archive_entry_new();
    archive_entry_set_filetype(en, AE_IFREG);
    archive_entry_set_size(en, static_cast<la_int64_t>(tar.size()));
    archive_write_header(a, en);
    archive_write_data(a, tar.data(), tar.size());
    archive_entry_free(en);
    archive_write_close(a);
    archive_write_free(a);
}

}  // namespace

// A GNU dumpdir ('D') entry is a directory whose body libarchive skips inside
// archive_read_next_header, unseen by a count of written bytes: a small .tar.xz
// with a 48 MiB 'D' entry unpacked "OK" under a 1 MiB limit.
TEST_F(Package, ADumpdirEntryWithABodyIsRefusedBeforeItIsDecompressed) {
    const std::uint64_t body = 48u << 20;
    std::string tar = tarHeader("dumpdir", 'D', body) + std::string(body, '\0');
    tar += tarHeader("livepatch.json", '0', 5) + "hello" + std::string(507, '\0') + std::string(1024, '\0');
    writeXz((dir / "d.tar.xz").string(), tar);
    EXPECT_LT(fsys::file_size(dir / "d.tar.xz"), 64u << 10);
    UnpackLimits small;
    small.maxTotalBytes = 1u << 20;
    auto s = safeUnpack((dir / "d.tar.xz").string(), (dir / "out").string(), small);
    ASSERT_FALSE(s) << "unpacked a 48 MiB archive under a 1 MiB limit";
    EXPECT_EQ(s.error().code(), ErrorCode::UnsafeArchive) << s.error().describe();
    EXPECT_NE(s.error().message().find("\"dumpdir\" refused: a non-regular entry with 50331648 bytes of data"),
              std::string::npos)
        << s.error().message();
    EXPECT_TRUE(outEmpty());
}

// What the limit counts is the whole decompressed stream, headers and all:
// 40 directory headers (20 KiB) pass a limit the 5 data bytes never would.
TEST_F(Package, TheLimitCountsTheDecompressedStreamNotOnlyWrittenData) {
    std::vector<Entry> entries;
    for (int i = 0; i < 40; ++i) entries.push_back({"d" + std::to_string(i), "", AE_IFDIR});
    entries.push_back({"f", "hello"});
    UnpackLimits limits;
    limits.maxTotalBytes = 8u << 10;  // the data is 5 bytes; the stream over 20 KiB
    auto s = unpack(entries, limits);
    ASSERT_FALSE(s);
    EXPECT_EQ(s.error().code(), ErrorCode::TooLarge);
    EXPECT_TRUE(outEmpty());
}

// The signed catalogue's fixes: "patched" is a JSON boolean or absent
// (patched); anything else is refused, never read as patched.
TEST(SignedPatchFixes, PatchedIsABooleanOrAbsentNeverAnythingElse) {
    auto target = [](tuf::Json patched) {
        tuf::TargetFile t;
        t.path = "k/x86_64/lp_a-1.tar.gz";
        t.length = 10;
        t.hashes["sha256"] = std::string(64, 'a');
        tuf::Json::Object fix{{"name", tuf::Json("cve-2026-1")}};
        if (patched.kind() != tuf::Json::Kind::Null) fix.emplace("patched", patched);
        t.custom = tuf::Json(tuf::Json::Object{{"name", tuf::Json("lp_a")},
                                               {"version", tuf::Json("1")},
                                               {"kernel", tuf::Json("k")},
                                               {"architecture", tuf::Json("x86_64")},
                                               {"published", tuf::Json("2026-01-01T00:00:00Z")},
                                               {"fixes", tuf::Json(tuf::Json::Array{tuf::Json(fix)})}});
        return readSignedPatch(t, [](const std::string&, const std::string&) { return true; });
    };
    auto absent = target(tuf::Json());
    ASSERT_TRUE(absent) << absent.error().describe();
    EXPECT_TRUE((*absent)->fixes.at(0).patched);
    auto no = target(tuf::Json(false));
    ASSERT_TRUE(no);
    EXPECT_FALSE((*no)->fixes.at(0).patched);
    for (const tuf::Json& v :
         {tuf::Json("no"), tuf::Json("false"), tuf::Json(std::int64_t{0}), tuf::Json(tuf::Json::Array{})}) {
        auto r = target(v);
        ASSERT_FALSE(r) << "a non-boolean \"patched\" was accepted";
        EXPECT_EQ(r.error().code(), ErrorCode::Protocol);
        EXPECT_NE(r.error().message().find("\"patched\" must be true or false"), std::string::npos)
            << r.error().message();
    }
}
