// Test vectors are made at test time with the kernel's own scripts/sign-file,
// so the parser is checked against the real format, not against itself.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <livepatch/testing/fakes.h>

#include <glob.h>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "livepatch/testing/files.h"
#include "module_signature.h"

using namespace livepatch;
using livepatch::plugins::ModuleSignatureVerifier;
namespace fsys = std::filesystem;
using livepatch::testing::readWholeFile;

namespace {

std::string signFile() {
    glob_t g;
    std::string out;
    if (glob("/usr/lib/linux-kbuild-*/scripts/sign-file", 0, nullptr, &g) == 0 && g.gl_pathc > 0) out = g.gl_pathv[0];
    globfree(&g);
    return out;
}

void run(const std::string& cmd) { ASSERT_EQ(std::system((cmd + " >/dev/null 2>&1").c_str()), 0) << cmd; }

class ModuleSignature : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        dir = fsys::temp_directory_path() / ("modsig-" + std::to_string(::getpid()));
        fsys::remove_all(dir);
        fsys::create_directories(dir / "keyring");
        ::chmod(dir.c_str(), 0700);
        ::chmod((dir / "keyring").c_str(), 0700);
        tool = signFile();
        if (tool.empty()) return;
        const std::string d = dir.string();
        std::ofstream(dir / "mod.c") << "int livepatch_test_fn(int x) { return x * 3 + 1; }\n";
        run("cc -c -o " + d + "/mod.ko " + d + "/mod.c");
        for (const std::string k : {"trusted", "other"}) {
            run("openssl req -new -x509 -newkey rsa:2048 -nodes -days 30 -subj /CN=livepatch-" + k +
                "-signer -keyout " + d + "/" + k + ".key -out " + d + "/" + k + ".pem");
            run("openssl x509 -in " + d + "/" + k + ".pem -outform DER -out " + d + "/" + k + ".der");
        }
        fsys::copy_file(dir / "trusted.pem", dir / "keyring/trusted.pem");
        auto sign = [&](const std::string& hash, const std::string& key, const std::string& out) {
            fsys::copy_file(dir / "mod.ko", dir / out, fsys::copy_options::overwrite_existing);
            run(tool + " " + hash + " " + d + "/" + key + ".key " + d + "/" + key + ".der " + d + "/" + out);
        };
        sign("sha512", "trusted", "good512.ko");
        sign("sha256", "trusted", "good256.ko");
        sign("sha512", "other", "untrusted.ko");
    }
    static void TearDownTestSuite() { fsys::remove_all(dir); }
    void SetUp() override {
        if (tool.empty()) GTEST_SKIP() << "kernel sign-file not installed (apt-get install linux-headers-amd64)";
        cfg.set("keyring-dir", (dir / "keyring").string());
        cfg.set("signature-hashes", "sha512");
        ctx.config = &cfg;
        ctx.logger = &log;
        ctx.clock = &clock;
        ASSERT_TRUE(v.configure(ctx));
    }
    Result<VerifyReport> check(const std::string& bytes) { return v.verify(ModuleImage{"mod", "", bytes}); }

    static inline fsys::path dir;
    static inline std::string tool;
    livepatch::testing::MapConfigView cfg;
    livepatch::testing::CapturingLogger log;
    livepatch::testing::ManualClock clock;
    PluginContext ctx;
    ModuleSignatureVerifier v;
};

}  // namespace

TEST_F(ModuleSignature, ValidSha512SignatureFromKeyring) {
    auto r = check(readWholeFile(dir / "good512.ko"));
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_EQ(r->algorithm, "rsa-sha512");
    EXPECT_NE(r->signer.find("livepatch-trusted-signer"), std::string::npos);
}

TEST_F(ModuleSignature, Sha256RefusedByDefaultAllowedByConfig) {
    auto r = check(readWholeFile(dir / "good256.ko"));
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code(), ErrorCode::SignatureInvalid);
    EXPECT_NE(r.error().message().find("digest sha256 is not allowed"), std::string::npos);
    cfg.set("signature-hashes", "sha512,sha256");
    ASSERT_TRUE(v.configure(ctx));
    EXPECT_TRUE(check(readWholeFile(dir / "good256.ko")));
}

TEST_F(ModuleSignature, UnsignedModule) {
    auto r = check(readWholeFile(dir / "mod.ko"));
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code(), ErrorCode::Unsigned);
}

TEST_F(ModuleSignature, TruncatedTrailerAndSignature) {
    std::string good = readWholeFile(dir / "good512.ko");
    auto cut = check(good.substr(0, good.size() - 5));
    ASSERT_FALSE(cut);
    EXPECT_EQ(cut.error().code(), ErrorCode::Unsigned);
    // Remove bytes from the middle of the PKCS#7 blob, keeping the trailer.
    std::string mid = good;
    mid.erase(good.size() - 28 - 12 - 40, 20);
    auto r = check(mid);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code(), ErrorCode::SignatureInvalid);
    // Claimed length larger than the file.
    std::string big = good;
    big[big.size() - 28 - 4] = '\x7f';
    auto b = check(big);
    ASSERT_FALSE(b);
    EXPECT_NE(b.error().message().find("exceeds"), std::string::npos);
}

TEST_F(ModuleSignature, WrongKeyIsUntrusted) {
    auto r = check(readWholeFile(dir / "untrusted.ko"));
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code(), ErrorCode::UntrustedSigner);
    EXPECT_NE(r.error().message().find("livepatch-other-signer"), std::string::npos);
}

TEST_F(ModuleSignature, TamperedBody) {
    std::string bad = readWholeFile(dir / "good512.ko");
    bad[100] ^= 0x01;
    auto r = check(bad);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code(), ErrorCode::SignatureInvalid);
    EXPECT_NE(r.error().message().find("does not match"), std::string::npos);
}

TEST_F(ModuleSignature, TrailingGarbage) {
    auto r = check(readWholeFile(dir / "good512.ko") + "garbage");
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code(), ErrorCode::SignatureInvalid);
    EXPECT_NE(r.error().message().find("after the module signature"), std::string::npos);
}

TEST_F(ModuleSignature, WrongIdType) {
    std::string bad = readWholeFile(dir / "good512.ko");
    bad[bad.size() - 28 - 12 + 2] = 1;  // PKEY_ID_X509
    auto r = check(bad);
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message().find("id_type 1"), std::string::npos);
}

TEST_F(ModuleSignature, EmptyOrUnsafeKeyring) {
    fsys::create_directories(dir / "empty");
    ::chmod((dir / "empty").c_str(), 0700);
    cfg.set("keyring-dir", (dir / "empty").string());
    ASSERT_TRUE(v.configure(ctx));
    auto r = check(readWholeFile(dir / "good512.ko"));
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code(), ErrorCode::UntrustedSigner);
    if (::geteuid() == 0) {
        ::chmod((dir / "keyring").c_str(), 0777);
        cfg.set("keyring-dir", (dir / "keyring").string());
        ASSERT_TRUE(v.configure(ctx));
        auto w = check(readWholeFile(dir / "good512.ko"));
        ::chmod((dir / "keyring").c_str(), 0700);
        ASSERT_FALSE(w);
        EXPECT_EQ(w.error().code(), ErrorCode::Permission);
    }
}
