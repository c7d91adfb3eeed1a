// Real ELF files (cc -c), notes added with binutils' objcopy by our signer,
// both layouts, verified by the verify-elf-note plugin; then every refusal.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <livepatch/testing/fakes.h>
#include <livepatch/testing/module_image.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "elf_note.h"
#include "livepatch/testing/files.h"

using namespace livepatch;
using namespace livepatch::plugins::xen;
namespace fsys = std::filesystem;
using livepatch::testing::readWholeFile;

namespace {
int sh(const std::string& c) { return std::system((c + " >/dev/null 2>&1").c_str()); }
const std::string kSigner = LIVEPATCH_BINARY_DIR "/bin/xen-livepatch-sign";

class XenSign : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        dir = fsys::temp_directory_path() / ("xensign-" + std::to_string(::getpid()));
        fsys::create_directories(dir / "keyring");
        ::chmod(dir.c_str(), 0700);
        ::chmod((dir / "keyring").c_str(), 0700);
        const std::string d = dir.string();
        std::ofstream(dir / "p.c") << "int xen_livepatch_payload(int x) { return x + 41; }\n";
        ASSERT_EQ(sh("cc -c -o " + d + "/p.o " + d + "/p.c"), 0);
        for (const std::string k : {"good", "other"}) {
            ASSERT_EQ(sh("openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out " + d + "/" + k + ".key"),
                      0);
            ASSERT_EQ(sh("openssl pkey -in " + d + "/" + k + ".key -pubout -out " + d + "/" + k + ".pub.pem"), 0);
        }
        fsys::copy_file(dir / "good.pub.pem", dir / "keyring/good.pub.pem");
        for (const std::string layout : {"final", "draft"}) {
            fsys::copy_file(dir / "p.o", dir / (layout + ".o"));
            ASSERT_EQ(sh(kSigner + " --key " + d + "/good.key --layout " + layout + " " + d + "/" + layout + ".o"), 0);
        }
        fsys::copy_file(dir / "p.o", dir / "other.o");
        ASSERT_EQ(sh(kSigner + " --key " + d + "/other.key " + d + "/other.o"), 0);
    }
    static void TearDownTestSuite() { fsys::remove_all(dir); }
    void SetUp() override {
        cfg.set("keyring-dir", (dir / "keyring").string());
        ctx.config = &cfg;
        ctx.clock = &clock;
        ctx.logger = &log;
        ASSERT_TRUE(v.configure(ctx));
    }
    Result<VerifyReport> check(const std::string& bytes) { return v.verify(ModuleImage{"p", "", bytes}); }
    static inline fsys::path dir;
    livepatch::testing::MapConfigView cfg;
    livepatch::testing::ManualClock clock;
    livepatch::testing::CapturingLogger log;
    PluginContext ctx;
    ElfNoteVerifier v;
};
}  // namespace

TEST_F(XenSign, BothLayoutsVerify) {
    for (const std::string layout : {"final", "draft"}) {
        std::string elf = readWholeFile(dir / (layout + ".o"));
        auto note = findSignatureNote(elf);
        ASSERT_TRUE(note) << note.error().message();
        EXPECT_EQ(note->layout, layout == "final" ? Layout::Final : Layout::Draft);
        EXPECT_EQ(note->signatureSize, 256u);
        auto r = check(elf);
        ASSERT_TRUE(r) << layout << ": " << r.error().message();
        EXPECT_NE(r->detail.find(layout), std::string::npos);
        ASSERT_EQ(sh("readelf -n " + (dir / (layout + ".o")).string() + " | grep -q Xen"), 0)
            << "binutils sees the note";
    }
}

TEST_F(XenSign, TamperedWrongKeyAndUnsigned) {
    std::string elf = readWholeFile(dir / "final.o");
    elf[70] ^= 1;
    EXPECT_EQ(check(elf).error().code(), ErrorCode::SignatureInvalid);
    EXPECT_EQ(check(readWholeFile(dir / "other.o")).error().code(), ErrorCode::SignatureInvalid);
    EXPECT_EQ(check(readWholeFile(dir / "p.o")).error().code(), ErrorCode::Unsigned);
    EXPECT_EQ(check("not an elf at all").error().code(), ErrorCode::SignatureInvalid);
}

TEST_F(XenSign, UnknownVersionAlgorithmHashRefused) {
    std::string elf = readWholeFile(dir / "final.o");
    auto note = findSignatureNote(elf);
    ASSERT_TRUE(note);
    const std::size_t typeOff = note->signatureOffset - 4 - 4;  // n_type precedes "Xen\0"
    auto withType = [&](std::uint32_t type) {
        std::string e = elf;
        std::memcpy(&e[typeOff], &type, 4);
        return findSignatureNote(e);
    };
    EXPECT_NE(withType(2).error().message().find("unknown version 2"), std::string::npos);
    EXPECT_NE(withType(1 | (1u << 16)).error().message().find("unknown algorithm 1"), std::string::npos);
    EXPECT_NE(withType(1 | (3u << 24)).error().message().find("unknown hash 3"), std::string::npos);
}

TEST_F(XenSign, SizeAndStructureBounds) {
    std::string elf = readWholeFile(dir / "draft.o");
    auto note = findSignatureNote(elf);
    ASSERT_TRUE(note);
    std::string bad = elf;
    std::uint32_t wrong = 100;
    std::memcpy(&bad[note->signatureOffset - 4], &wrong, 4);  // draft sig_len
    EXPECT_NE(findSignatureNote(bad).error().message().find("sig_len"), std::string::npos);
    EXPECT_FALSE(findSignatureNote(elf.substr(0, elf.size() / 2)));  // truncated
    // A second signature section is refused.
    const std::string d = dir.string();
    fsys::copy_file(dir / "final.o", dir / "two.o", fsys::copy_options::overwrite_existing);
    std::ofstream(dir / "n.bin", std::ios::binary) << std::string(300, '\0');
    // objcopy will not add a second section of the same name: add a look-alike
    // and patch one byte of its name.
    ASSERT_EQ(sh("objcopy --add-section .note.Xen.signaturX=" + d + "/n.bin " + d + "/two.o"), 0);
    std::string twoBytes = readWholeFile(dir / "two.o");
    auto pos = twoBytes.find(".note.Xen.signaturX");
    ASSERT_NE(pos, std::string::npos);
    twoBytes[pos + 18] = 'e';
    auto two = findSignatureNote(twoBytes);
    ASSERT_FALSE(two);
    EXPECT_NE(two.error().message().find("more than one"), std::string::npos);
}

TEST_F(XenSign, UnsafeKeyringRefused) {
    if (::geteuid() != 0) GTEST_SKIP() << "ownership rules apply when running as root";
    ::chmod((dir / "keyring/good.pub.pem").c_str(), 0666);
    auto r = check(readWholeFile(dir / "final.o"));
    ::chmod((dir / "keyring/good.pub.pem").c_str(), 0644);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code(), ErrorCode::Permission);
}

// A note section of 12-15 bytes ending at the end of the file holds a note
// header but no name: the name was compared 4 bytes past the input (an ASan
// heap over-read). The bytes after the view here are "Xen\0", so the old
// code also gave the wrong answer without ASan. Also in the fuzz corpus
// (tests/fuzz/elf-note/corpus/regression-note-name-at-eof.o).
TEST(XenNote, ANoteNameBeyondTheSectionIsNeverRead) {
    const std::string header(
        "\x04\0\0\0"
        "\0\0\0\0"
        "\x01\0\0\0",
        12);  // namesz 4, descsz 0, type 1
    for (size_t extra = 0; extra < 4; ++extra) {
        const std::string elf = livepatch::testing::makeElfImage(
            {{".note.Xen.signature", 7 /* SHT_NOTE */, header + std::string(extra, 'X')}});
        const std::string buffer = elf + std::string("Xen\0", 4);
        auto r = findSignatureNote(std::string_view(buffer.data(), elf.size()));
        ASSERT_FALSE(r);
        EXPECT_NE(r.error().message().find("note name outside the section"), std::string::npos)
            << extra << ": " << r.error().message();
    }
}
