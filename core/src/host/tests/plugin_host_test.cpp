#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "host/plugin_host.h"
#include "livepatch/testing/plugins.h"

using namespace livepatch;
namespace fsys = std::filesystem;

namespace {

const fsys::path kFixtures = LIVEPATCH_BINARY_DIR "/test-fixtures";

class Host : public ::testing::Test {
protected:
    void SetUp() override {
        // Under the build tree, so that a test can loosen a directory above
        // the plugin's own without touching anything shared.
        dir = fsys::path(LIVEPATCH_BINARY_DIR) / "test-plugin-dirs" /
              ("lphost-" + std::to_string(::getpid()) + "-" +
               ::testing::UnitTest::GetInstance()->current_test_info()->name());
        fsys::remove_all(dir);
        fsys::create_directories(dir);
        ::chmod(dir.c_str(), 0755);
        if (!fsys::exists(kFixtures / "fixture-good.so")) GTEST_SKIP() << "fixtures not built";
    }
    void TearDown() override { fsys::remove_all(dir); }
    fsys::path put(const std::string& fixture, const std::string& as, mode_t mode = 0644) {
        fsys::copy_file(kFixtures / fixture, dir / as, fsys::copy_options::overwrite_existing);
        ::chmod((dir / as).c_str(), mode);
        return dir / as;
    }
    std::vector<Error> loadAll(bool enforce = true) {
        host = std::make_unique<PluginHost>(PluginHost::Options{{dir.string()}, enforce});
        return host->loadAll();
    }
    static void expectOneError(const std::vector<Error>& errors, const fsys::path& file, const std::string& why) {
        ASSERT_EQ(errors.size(), 1u);
        EXPECT_EQ(errors[0].code(), ErrorCode::PluginInvalid);
        EXPECT_NE(errors[0].message().find(file.string()), std::string::npos) << errors[0].message();
        EXPECT_NE(errors[0].message().find(why), std::string::npos) << errors[0].message();
    }
    fsys::path dir;
    std::unique_ptr<PluginHost> host;
};

}  // namespace

TEST_F(Host, LoadsAGoodPluginWithRoleAndVersion) {
    auto p = put("fixture-good.so", "good.so");
    auto errors = loadAll();
    EXPECT_TRUE(errors.empty());
    ASSERT_EQ(host->loaded().size(), 1u);
    EXPECT_EQ(host->loaded()[0].info.name, "fixture-good");
    EXPECT_EQ(host->loaded()[0].info.version, "9.9.9");
    EXPECT_EQ(host->loaded()[0].info.role, PluginRole::Verifier);
    EXPECT_EQ(host->loaded()[0].path, p.string());
    Verifier* v = host->verifier("fixture-good");
    ASSERT_NE(v, nullptr);
    EXPECT_TRUE(v->verify(ModuleImage{"m", "", "x"}));
    EXPECT_EQ(host->loader("fixture-good"), nullptr);
}

TEST_F(Host, RefusesAbiMismatchBeforeCreatingAnything) {
    auto p = put("fixture-bad-abi.so", "bad-abi.so");
    expectOneError(loadAll(), p, "built for SDK ABI 999");
    EXPECT_TRUE(host->loaded().empty());
}

// Issue 14 item 6: what breaks a C++ plugin is not only the SDK's version.
TEST_F(Host, RefusesAPluginBuiltWithAnotherCompilerAbi) {
    auto p = put("fixture-gxx-abi.so", "gxx-abi.so");
    // The fixture fakes the other of 1002 (g++ 3.4-9, clang) and 1017 (g++ 12).
    const int other = __GXX_ABI_VERSION == 1002 ? 1017 : 1002;
    expectOneError(loadAll(), p,
                   "built with C++ compiler ABI (__GXX_ABI_VERSION) " + std::to_string(other) + ", this agent with " +
                       std::to_string(__GXX_ABI_VERSION) + "; rebuild the plugin with the agent's toolchain and SDK");
    EXPECT_TRUE(host->loaded().empty());
}

TEST_F(Host, RefusesAPluginBuiltAgainstAnotherPoco) {
    auto p = put("fixture-poco-version.so", "poco.so");
    expectOneError(
        loadAll(), p,
        "built with Poco version (POCO_VERSION) 0x01090000, this agent with " LIVEPATCH_STRINGIFY(POCO_VERSION));
    EXPECT_TRUE(host->loaded().empty());
}

TEST_F(Host, RefusesAPluginOfAnOlderSdkByName) {
    auto p = put("fixture-old-sdk.so", "old.so");
    expectOneError(loadAll(), p,
                   "built with an SDK older than " LIVEPATCH_SDK_VERSION " (no livepatch_plugin_abi export)");
}

TEST_F(Host, RefusesAPluginReportingAnotherAbi) {
    auto p = put("fixture-info-abi.so", "info-abi.so");
    expectOneError(loadAll(), p, "reports SDK ABI");
}

TEST_F(Host, RefusesALibraryThatIsNoPlugin) {
    auto p = put("fixture-no-abi.so", "plain.so");
    expectOneError(loadAll(), p, "not a livepatch plugin");
}

TEST_F(Host, RefusesACorruptLibrary) {
    std::ofstream(dir / "corrupt.so") << std::string(
        "\x7f"
        "ELF garbage that will not load",
        30);
    ::chmod((dir / "corrupt.so").c_str(), 0644);
    expectOneError(loadAll(), dir / "corrupt.so", "cannot load library");
}

TEST_F(Host, RefusesDuplicateNamesNamingBothFiles) {
    auto a = put("fixture-good.so", "a.so");
    auto b = put("fixture-dup.so", "b.so");
    auto errors = loadAll();
    expectOneError(errors, b, "duplicate plugin name \"fixture-good\"");
    EXPECT_NE(errors[0].message().find(a.string()), std::string::npos);
    EXPECT_EQ(host->loaded().size(), 1u);
}

TEST_F(Host, RefusesARoleMismatch) {
    auto p = put("fixture-wrong-role.so", "role.so");
    expectOneError(loadAll(), p, "declares role loading but does not implement it");
}

TEST_F(Host, RefusesWorldWritableFileAndGroupWritableDir) {
    auto p = put("fixture-good.so", "good.so", 0666);
    expectOneError(loadAll(), p, "group/world-writable");
    ::chmod(p.c_str(), 0644);
    ::chmod(dir.c_str(), 0775);
    expectOneError(loadAll(), p, "directory " + dir.string() + " above the file is group/world-writable");
    ::chmod(dir.c_str(), 0755);
    EXPECT_TRUE(loadAll().empty());
    ::chmod(p.c_str(), 0666);
    EXPECT_TRUE(loadAll(false).empty()) << "checks apply only when running as root";
}

TEST_F(Host, RefusesAWritableDirectoryAnywhereAbove) {
    if (::geteuid() != 0) GTEST_SKIP() << "ownership checks apply only as root";
    // The plugin and its own directory are fine; a directory two levels up
    // is world-writable, so someone else could rename the whole branch.
    const fsys::path sub = dir / "a" / "b";
    fsys::create_directories(sub);
    ::chmod((dir / "a").c_str(), 0777);
    ::chmod(sub.c_str(), 0755);
    fsys::copy_file(kFixtures / "fixture-good.so", sub / "good.so");
    ::chmod((sub / "good.so").c_str(), 0644);
    host = std::make_unique<PluginHost>(PluginHost::Options{{sub.string()}, true});
    expectOneError(host->loadAll(), sub / "good.so",
                   "directory " + (dir / "a").string() + " above the file is group/world-writable");
    ::chmod((dir / "a").c_str(), 0755);
    host = std::make_unique<PluginHost>(PluginHost::Options{{sub.string()}, true});
    EXPECT_TRUE(host->loadAll().empty());
}

TEST_F(Host, RefusesFilesNotOwnedByRoot) {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root to chown";
    auto p = put("fixture-good.so", "good.so");
    ASSERT_EQ(::chown(p.c_str(), 65534, 65534), 0);
    expectOneError(loadAll(), p, "owned by uid 65534, not root");
}

TEST_F(Host, RefusesSymlinks) {
    auto p = put("fixture-good.so", "real.bin");
    fsys::create_symlink(p, dir / "link.so");
    expectOneError(loadAll(), dir / "link.so", "symlink");
}

TEST_F(Host, OneBadPluginDoesNotStopTheOthers) {
    put("fixture-good.so", "good.so");
    put("fixture-no-abi.so", "plain.so");
    auto errors = loadAll();
    EXPECT_EQ(errors.size(), 1u);
    EXPECT_EQ(host->loaded().size(), 1u);
}

// Fakes in tests are registered where the agent registers every plugin: an
// in-process object passes the same checks as a library's, and is then found
// by role like one.
TEST(HostAdd, AnInProcessPluginPassesTheChecksOfALoadedOne) {
    PluginHost host(PluginHost::Options{});
    ASSERT_TRUE(
        host.add(std::make_unique<livepatch::testing::FakeKernel>("6.1.0-1-amd64", "6.1.0-1-amd64"), "in-process"));
    ASSERT_TRUE(host.add(std::make_unique<livepatch::testing::FakeVerifier>("fake-verify"), "in-process"));
    EXPECT_NE(host.loader("fake-loader"), nullptr);
    EXPECT_NE(host.verifier("fake-verify"), nullptr);
    EXPECT_EQ(host.transportFor("https"), nullptr);
    ASSERT_EQ(host.loaded().size(), 2u);
    EXPECT_EQ(host.loaded()[0].path, "in-process");

    auto duplicate = host.add(std::make_unique<livepatch::testing::FakeVerifier>("fake-verify"), "second");
    ASSERT_FALSE(duplicate);
    EXPECT_NE(duplicate.error().message().find("duplicate plugin name \"fake-verify\""), std::string::npos)
        << duplicate.error().message();
    auto badName = host.add(std::make_unique<livepatch::testing::FakeVerifier>("Fake Verify"), "third");
    ASSERT_FALSE(badName);
    EXPECT_NE(badName.error().message().find("invalid plugin name"), std::string::npos) << badName.error().message();
    EXPECT_EQ(host.loaded().size(), 2u) << "a refused object is not registered";
}
