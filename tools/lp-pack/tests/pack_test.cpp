// Our signer must produce what the kernel's sign-file produces: same trailer
// layout, and a PKCS#7 blob that `openssl cms -verify` accepts over the body.
#include <glob.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "livepatch/modinfo.h"
#include "livepatch/testing/files.h"
#include "pack.h"
#include "package/patch_package.h"
#include "util/fs.h"

namespace fsys = std::filesystem;
using livepatch::testing::readWholeFile;

namespace {
int sh(const std::string& c) { return std::system((c + " >/dev/null 2>&1").c_str()); }
std::string signFile() {
    glob_t g;
    std::string out;
    if (glob("/usr/lib/linux-kbuild-*/scripts/sign-file", 0, nullptr, &g) == 0 && g.gl_pathc) out = g.gl_pathv[0];
    globfree(&g);
    return out;
}
}  // namespace

class Pack : public ::testing::Test {
protected:
    void SetUp() override {
        dir = fsys::temp_directory_path() / ("lppack-" + std::to_string(::getpid()));
        fsys::create_directories(dir);
        d = dir.string();
        // Like a kbuild livepatch module: modpost's name= and vermagic=, MODULE_INFO(livepatch, "Y").
        std::ofstream(dir / "m.c")
            << "#define MI(n, s) __attribute__((section(\".modinfo\"), used, aligned(1))) "
               "static const char n[] = s;\n"
               "MI(a, \"name=lp_test\") MI(b, \"livepatch=Y\") MI(c, \"vermagic=5.15.0-100-generic SMP \")\n"
               "int f(void) { return 42; }\n";
        ASSERT_EQ(sh("cc -c -o " + d + "/unversioned.ko " + d + "/m.c"), 0);
        std::ofstream(dir / "v3.c")
            << "__attribute__((section(\".modinfo\"), used, aligned(1))) static const char v[] = \"version=3\";\n";
        ASSERT_EQ(sh("cc -c -o " + d + "/v3.o " + d + "/v3.c && ld -r -o " + d + "/m.ko " + d + "/unversioned.ko " + d +
                     "/v3.o"),
                  0);
        ASSERT_EQ(sh("openssl req -new -x509 -newkey rsa:2048 -nodes -days 3 -subj /CN=pack-test -keyout " + d +
                     "/k.pem -out " + d + "/c.pem"),
                  0);
        ASSERT_EQ(sh("openssl x509 -in " + d + "/c.pem -outform DER -out " + d + "/c.der"), 0);
    }
    void TearDown() override { fsys::remove_all(dir); }
    fsys::path dir;
    std::string d;
};

TEST_F(Pack, SignatureMatchesKernelSignFileLayoutAndVerifies) {
    std::string module = readWholeFile(dir / "m.ko");
    auto ours = lppack::signModule(module, readWholeFile(dir / "k.pem"), readWholeFile(dir / "c.pem"), "sha512");
    ASSERT_TRUE(ours) << ours.error().message();
    const std::string magic = "~Module signature appended~\n";
    ASSERT_EQ(ours->substr(ours->size() - magic.size()), magic);
    const auto* info = reinterpret_cast<const unsigned char*>(ours->data() + ours->size() - magic.size() - 12);
    size_t sigLen = (size_t(info[8]) << 24) | (size_t(info[9]) << 16) | (size_t(info[10]) << 8) | info[11];
    EXPECT_EQ(info[2], 2);
    EXPECT_EQ(ours->size(), module.size() + sigLen + 12 + magic.size());
    std::ofstream(dir / "sig.der", std::ios::binary) << ours->substr(module.size(), sigLen);
    EXPECT_EQ(sh("openssl cms -verify -binary -inform DER -in " + d + "/sig.der -content " + d + "/m.ko -certfile " +
                 d + "/c.pem -nointern -noverify -out /dev/null"),
              0);
    // Tampered content must not verify.
    std::ofstream(dir / "bad.ko", std::ios::binary) << module + "x";
    EXPECT_NE(sh("openssl cms -verify -binary -inform DER -in " + d + "/sig.der -content " + d + "/bad.ko -certfile " +
                 d + "/c.pem -nointern -noverify -out /dev/null"),
              0);

    const std::string tool = signFile();
    if (tool.empty()) GTEST_SKIP() << "kernel sign-file not installed";
    fsys::copy_file(dir / "m.ko", dir / "k.ko");
    ASSERT_EQ(sh(tool + " sha512 " + d + "/k.pem " + d + "/c.der " + d + "/k.ko"), 0);
    std::string theirs = readWholeFile(dir / "k.ko");
    // Identical trailer structure; RSA PKCS#1 v1.5 is deterministic, so the blobs match too.
    EXPECT_EQ(theirs.substr(theirs.size() - magic.size() - 12), ours->substr(ours->size() - magic.size() - 12));
    EXPECT_EQ(theirs, *ours);
}

TEST_F(Pack, PackedTarballOpensWithTheAgentsUnpacker) {
    std::ofstream(dir / "fixes.yaml")
        << "- {name: cve-2024-1086, description: nf_tables use-after-free, bug: lp#1, patched: true}\n";
    lppack::PackSpec spec{"lp_test", "3", "5.15.0-100.110-generic", "x86_64", d + "/m.ko", d + "/fixes.yaml", true};
    for (const std::string ext : {".tar.xz", ".tar.gz", ".tar.bz2"}) {
        const std::string out = d + "/p" + ext;
        ASSERT_TRUE(lppack::packPatch(spec, out));
        auto pkg = livepatch::openPatchPackage(out, d + "/work" + ext.substr(5), livepatch::UnpackLimits{});
        ASSERT_TRUE(pkg) << pkg.error().message();
        EXPECT_EQ(pkg->metadata.name, "lp_test");
        EXPECT_EQ(pkg->metadata.version, "3");
        ASSERT_EQ(pkg->metadata.fixes.size(), 1u);
        EXPECT_EQ(pkg->metadata.fixes[0].name, "cve-2024-1086");
        EXPECT_EQ(readWholeFile(pkg->modulePath), readWholeFile(dir / "m.ko"));
    }
}

std::string modinfoVersion(const std::string& module) {
    auto info = livepatch::parseModInfo(module);
    if (!info) return "<" + info.error().message() + ">";
    auto v = info->unique("version");
    return v && *v ? **v : "<none>";
}

TEST_F(Pack, SignWithVersionAddsItToTheModinfoBeforeSigning) {
    const std::string plain = readWholeFile(dir / "unversioned.ko");
    ASSERT_EQ(modinfoVersion(plain), "<none>");
    auto versioned = lppack::embedVersion(plain, "7");
    ASSERT_TRUE(versioned) << versioned.error().message();
    EXPECT_EQ(modinfoVersion(*versioned), "7");
    auto info = livepatch::parseModInfo(*versioned);
    EXPECT_EQ(info->values("name"), std::vector<std::string>{"lp_test"}) << "the other strings are kept";
    // The signature covers the added string.
    auto signedMod =
        lppack::signModule(*versioned, readWholeFile(dir / "k.pem"), readWholeFile(dir / "c.pem"), "sha512");
    ASSERT_TRUE(signedMod);
    EXPECT_EQ(modinfoVersion(*signedMod), "7");
    EXPECT_EQ(signedMod->compare(0, versioned->size(), *versioned), 0);
    // A module already saying that version is left as it is.
    auto same = lppack::embedVersion(readWholeFile(dir / "m.ko"), "3");
    ASSERT_TRUE(same);
    EXPECT_EQ(*same, readWholeFile(dir / "m.ko"));
}

TEST_F(Pack, SignRefusesAnotherVersionASignedModuleAndANonModule) {
    auto other = lppack::embedVersion(readWholeFile(dir / "m.ko"), "4");
    ASSERT_FALSE(other);
    EXPECT_NE(other.error().message().find("says version=3, not 4"), std::string::npos) << other.error().message();
    auto signedPlain = lppack::signModule(readWholeFile(dir / "unversioned.ko"), readWholeFile(dir / "k.pem"),
                                          readWholeFile(dir / "c.pem"), "sha512");
    ASSERT_TRUE(signedPlain);
    auto r = lppack::embedVersion(*signedPlain, "4");
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message().find("already signed"), std::string::npos) << r.error().message();
    r = lppack::embedVersion("int f;", "4");
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message().find("not a kernel module"), std::string::npos) << r.error().message();
    EXPECT_FALSE(lppack::embedVersion(readWholeFile(dir / "unversioned.ko"), "1;rm"));
}

TEST_F(Pack, PackRefusesAModuleWhoseModinfoDisagrees) {
    auto packWith = [&](const std::string& module, const std::string& name, const std::string& version) {
        lppack::PackSpec spec{name, version, "5.15.0-100.110-generic", "x86_64", module, "", true};
        auto s = lppack::packPatch(spec, d + "/out.tar.xz");
        return s ? std::string("packed") : s.error().message();
    };
    EXPECT_EQ(packWith(d + "/m.ko", "lp_test", "3"), "packed");
    EXPECT_NE(packWith(d + "/m.ko", "lp_test", "999").find("says version=3, but --version is 999"), std::string::npos);
    EXPECT_NE(packWith(d + "/m.ko", "lp_other", "3").find("says name=lp_test, not lp_other"), std::string::npos);
    EXPECT_NE(packWith(d + "/unversioned.ko", "lp_test", "3")
                  .find("has no version=; the agent trusts only the signed version"),
              std::string::npos);
    std::ofstream(dir / "plain.c") << "int g(void) { return 1; }\n";
    ASSERT_EQ(sh("cc -c -o " + d + "/plain.ko " + d + "/plain.c"), 0);
    EXPECT_NE(packWith(d + "/plain.ko", "lp_test", "3").find("not a kernel module"), std::string::npos);
}
