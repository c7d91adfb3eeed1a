// Our signer must produce what the kernel's sign-file produces: same trailer
// layout, and a PKCS#7 blob that `openssl cms -verify` accepts over the body.
#include <gtest/gtest.h>
#include <glob.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "pack.h"
#include "package/patch_package.h"
#include "util/fs.h"

namespace fsys = std::filesystem;

namespace {
std::string slurp(const fsys::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}
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
        std::ofstream(dir / "m.c") << "int f(void) { return 42; }\n";
        ASSERT_EQ(sh("cc -c -o " + d + "/m.ko " + d + "/m.c"), 0);
        ASSERT_EQ(sh("openssl req -new -x509 -newkey rsa:2048 -nodes -days 3 -subj /CN=pack-test -keyout " + d + "/k.pem -out " + d + "/c.pem"), 0);
        ASSERT_EQ(sh("openssl x509 -in " + d + "/c.pem -outform DER -out " + d + "/c.der"), 0);
    }
    void TearDown() override { fsys::remove_all(dir); }
    fsys::path dir;
    std::string d;
};

TEST_F(Pack, SignatureMatchesKernelSignFileLayoutAndVerifies) {
    std::string module = slurp(dir / "m.ko");
    auto ours = lppack::signModule(module, slurp(dir / "k.pem"), slurp(dir / "c.pem"), "sha512");
    ASSERT_TRUE(ours) << ours.error().message();
    const std::string magic = "~Module signature appended~\n";
    ASSERT_EQ(ours->substr(ours->size() - magic.size()), magic);
    const auto* info = reinterpret_cast<const unsigned char*>(ours->data() + ours->size() - magic.size() - 12);
    size_t sigLen = (size_t(info[8]) << 24) | (size_t(info[9]) << 16) | (size_t(info[10]) << 8) | info[11];
    EXPECT_EQ(info[2], 2);
    EXPECT_EQ(ours->size(), module.size() + sigLen + 12 + magic.size());
    std::ofstream(dir / "sig.der", std::ios::binary) << ours->substr(module.size(), sigLen);
    EXPECT_EQ(sh("openssl cms -verify -binary -inform DER -in " + d + "/sig.der -content " + d + "/m.ko -certfile " + d +
                 "/c.pem -nointern -noverify -out /dev/null"), 0);
    // Tampered content must not verify.
    std::ofstream(dir / "bad.ko", std::ios::binary) << module + "x";
    EXPECT_NE(sh("openssl cms -verify -binary -inform DER -in " + d + "/sig.der -content " + d + "/bad.ko -certfile " + d +
                 "/c.pem -nointern -noverify -out /dev/null"), 0);

    const std::string tool = signFile();
    if (tool.empty()) GTEST_SKIP() << "kernel sign-file not installed";
    fsys::copy_file(dir / "m.ko", dir / "k.ko");
    ASSERT_EQ(sh(tool + " sha512 " + d + "/k.pem " + d + "/c.der " + d + "/k.ko"), 0);
    std::string theirs = slurp(dir / "k.ko");
    // Identical trailer structure; RSA PKCS#1 v1.5 is deterministic, so the blobs match too.
    EXPECT_EQ(theirs.substr(theirs.size() - magic.size() - 12), ours->substr(ours->size() - magic.size() - 12));
    EXPECT_EQ(theirs, *ours);
}

TEST_F(Pack, PackedTarballOpensWithTheAgentsUnpacker) {
    std::ofstream(dir / "fixes.yaml") << "- {name: cve-2024-1086, description: nf_tables use-after-free, bug: lp#1, patched: true}\n";
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
        EXPECT_EQ(slurp(pkg->modulePath), slurp(dir / "m.ko"));
    }
}
