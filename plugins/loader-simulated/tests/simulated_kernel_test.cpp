#include <gtest/gtest.h>

#include <livepatch/testing/fakes.h>
#include <livepatch/testing/module_image.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "livepatch/testing/files.h"
#include "simulated_kernel.h"

using namespace livepatch;
using livepatch::plugins::SimulatedKernelLoader;
namespace fsys = std::filesystem;
using livepatch::testing::readWholeFile;

namespace {

class SimKernel : public ::testing::Test {
protected:
    void SetUp() override {
        root = livepatch::testing::freshTestDir("simk");
        cfg.declare(loader.configKeys()).set("simulated-kernel-root", root.string());
        cfg.set("transition-timeout", "5");  // core's key, set by the agent
        ctx.config = &cfg;
        ctx.clock = &clock;
        ctx.logger = &log;
        ASSERT_TRUE(loader.configure(ctx));
    }
    void TearDown() override { fsys::remove_all(root); }
    // `bytes`: an ELF image, or any other string as shorthand for a livepatch
    // module called `name` built for the simulated kernel.
    Status load(const std::string& name, const std::string& bytes, bool replace = true) {
        const std::string image = bytes.compare(0, 4,
                                                "\x7f"
                                                "ELF") == 0
                                      ? bytes
                                      : module(name);
        ModuleImage img{name, "", image};
        return loader.load(img, PatchSpec{name, "1", replace}, nullptr);
    }
    static std::string module(const std::string& name, const std::string& version = "1") {
        return livepatch::testing::makeModuleImage(
            livepatch::testing::livepatchModinfo(name, version, "5.15.0-100-generic"));
    }
    fsys::path root;
    livepatch::testing::MapConfigView cfg;
    livepatch::testing::ManualClock clock;
    livepatch::testing::CapturingLogger log;
    PluginContext ctx;
    SimulatedKernelLoader loader;
};

}  // namespace

TEST_F(SimKernel, ProbeInitialisesDefaultKernel) {
    auto k = loader.probe();
    ASSERT_TRUE(k) << k.error().message();
    EXPECT_EQ(k->versionSignature, "5.15.0-100.110-generic");
    EXPECT_EQ(k->release, "5.15.0-100-generic");
    EXPECT_TRUE(k->livepatchSupported);
    EXPECT_EQ(k->bootId.size(), 36u);
}

TEST_F(SimKernel, LoadEnablesPatchKeepsExactBytesAndPatchesCmdline) {
    const std::string bytes = module("lp_a") + std::string("sig\0nature", 10);
    ASSERT_TRUE(load("lp_a", bytes));
    EXPECT_EQ(readWholeFile(root / "modules/lp_a.ko"), bytes);
    EXPECT_EQ(readWholeFile(root / "sys/kernel/livepatch/lp_a/enabled"), "1\n");
    EXPECT_EQ(readWholeFile(root / "sys/kernel/livepatch/lp_a/transition"), "0\n");
    EXPECT_EQ(readWholeFile(root / "proc/cmdline"), "this has been live patched\n");
    auto l = loader.list();
    ASSERT_TRUE(l);
    ASSERT_EQ(l->size(), 1u);
    EXPECT_TRUE((*l)[0].enabled);
    ASSERT_TRUE(loader.unload("lp_a", nullptr));
    EXPECT_FALSE(fsys::exists(root / "sys/kernel/livepatch/lp_a"));
    EXPECT_FALSE(fsys::exists(root / "sys/module/lp_a"));
    EXPECT_EQ(readWholeFile(root / "proc/cmdline"), "BOOT_IMAGE=/boot/vmlinuz root=/dev/vda1 ro\n");
}

TEST_F(SimKernel, ReplaceUnloadsOlderPatches) {
    ASSERT_TRUE(load("lp_1", "one"));
    ASSERT_TRUE(load("lp_2", "two", true));
    EXPECT_FALSE(fsys::exists(root / "sys/kernel/livepatch/lp_1"));
    EXPECT_FALSE(fsys::exists(root / "modules/lp_1.ko"));
    EXPECT_TRUE(fsys::exists(root / "sys/kernel/livepatch/lp_2"));
    ASSERT_TRUE(load("lp_3", "three", false));
    EXPECT_TRUE(fsys::exists(root / "sys/kernel/livepatch/lp_2"));
}

TEST_F(SimKernel, SlowTransitionWaitsOnInjectedClock) {
    ASSERT_TRUE(loader.probe());
    std::ofstream(root / "control/transition-delay-ms") << "1500";
    ASSERT_TRUE(load("lp_slow", "x"));
    EXPECT_GE(clock.sleeps().size(), 15u);
}

TEST_F(SimKernel, StalledTransitionIsReportedAndReverted) {
    ASSERT_TRUE(loader.probe());
    std::ofstream(root / "control/stall") << "1";
    auto s = load("lp_stuck", "x");
    ASSERT_FALSE(s);
    EXPECT_EQ(s.error().code(), ErrorCode::TransitionStalled);
    EXPECT_NE(s.error().message().find("stuck in transition to patched"), std::string::npos);
    EXPECT_FALSE(fsys::exists(root / "sys/kernel/livepatch/lp_stuck"));
    EXPECT_EQ(readWholeFile(root / "proc/cmdline"), "BOOT_IMAGE=/boot/vmlinuz root=/dev/vda1 ro\n");
}

TEST_F(SimKernel, RefusedLoadAndUnsupportedKernel) {
    ASSERT_TRUE(loader.probe());
    std::ofstream(root / "control/refuse-load") << "Key was rejected by service";
    auto s = load("lp_x", "x");
    ASSERT_FALSE(s);
    EXPECT_EQ(s.error().code(), ErrorCode::LoadFailed);
    fsys::remove(root / "control/refuse-load");
    std::ofstream(root / "control/no-livepatch") << "1";
    auto k = loader.probe();
    ASSERT_TRUE(k);
    EXPECT_FALSE(k->livepatchSupported);
    EXPECT_EQ(load("lp_x", "x").error().code(), ErrorCode::Unsupported);
}

TEST_F(SimKernel, UnloadOfDisabledButPresentModule) {
    ASSERT_TRUE(load("lp_a", "x"));
    fsys::remove_all(root / "sys/kernel/livepatch/lp_a");  // kernel already disabled it
    ASSERT_TRUE(loader.unload("lp_a", nullptr));
    EXPECT_FALSE(fsys::exists(root / "sys/module/lp_a"));
}

TEST_F(SimKernel, HealthCountsOopsLines) {
    ASSERT_TRUE(loader.probe());
    auto h0 = loader.health();
    ASSERT_TRUE(h0);
    std::ofstream(root / "kmsg.log", std::ios::app) << "BUG: unable to handle page fault\n";
    std::ofstream(root / "proc/sys/kernel/tainted") << "32768\n";
    auto h1 = loader.health();
    EXPECT_EQ(h1->oopsCount, h0->oopsCount + 1);
    EXPECT_EQ(h1->taintMask, 32768u);
}

TEST_F(SimKernel, ListReportsTheVersionTheModuleDeclares) {
    using livepatch::testing::livepatchModinfo;
    using livepatch::testing::makeModuleImage;
    ASSERT_TRUE(load("lp_a", makeModuleImage(livepatchModinfo("lp_a", "4", "5.15.0-100-generic")), false));
    ASSERT_TRUE(load("lp_b", makeModuleImage(livepatchModinfo("lp_b", "", "5.15.0-100-generic")), false));
    auto l = loader.list();
    ASSERT_TRUE(l);
    ASSERT_EQ(l->size(), 2u);
    for (const auto& p : *l) EXPECT_EQ(p.version, p.name == "lp_a" ? "4" : "") << p.name;
}

// Like the real kernel: the module's own bytes decide what it is.
TEST_F(SimKernel, ModulesAreJudgedByTheirOwnModinfo) {
    using livepatch::testing::livepatchModinfo;
    using livepatch::testing::makeModuleImage;
    auto s = load("lp_a", std::string("\x7f"
                                      "ELF-bytes\0x",
                                      12));
    ASSERT_FALSE(s);
    EXPECT_NE(s.error().message().find("not a valid module"), std::string::npos) << s.error().message();

    s = load("lp_a", makeModuleImage(livepatchModinfo("e1000e", "1", "5.15.0-100-generic")));
    ASSERT_FALSE(s);
    EXPECT_NE(s.error().message().find("names itself otherwise"), std::string::npos) << s.error().message();

    s = load("lp_a", makeModuleImage(livepatchModinfo("lp_a", "1", "6.1.0-18-amd64")));
    ASSERT_FALSE(s);
    EXPECT_NE(s.error().message().find("version magic"), std::string::npos) << s.error().message();

    // Loads, but a plain module registers no livepatch: it is deleted again.
    s = load("lp_a", makeModuleImage({{"name", "lp_a"}, {"vermagic", "5.15.0-100-generic SMP "}}));
    ASSERT_FALSE(s);
    EXPECT_NE(
        s.error().message().find("registered no livepatch (is it a livepatch module?); module lp_a removed again"),
        std::string::npos)
        << s.error().message();
    EXPECT_FALSE(fsys::exists(root / "sys/module/lp_a"));
    EXPECT_FALSE(fsys::exists(root / "modules/lp_a.ko"));
    EXPECT_FALSE(fsys::exists(root / "sys/kernel/livepatch/lp_a"));
}

TEST_F(SimKernel, CancelDuringTheTransitionRevertsAndDeletes) {
    ASSERT_TRUE(loader.probe());
    std::ofstream(root / "control/transition-delay-ms") << "1500";
    CancelToken cancel;
    cancel.cancel();
    auto s = loader.load(ModuleImage{"lp_a", "", module("lp_a")}, PatchSpec{"lp_a", "1", true}, &cancel);
    ASSERT_FALSE(s);
    EXPECT_EQ(s.error().code(), ErrorCode::Cancelled);
    EXPECT_FALSE(fsys::exists(root / "sys/module/lp_a"));
    EXPECT_FALSE(fsys::exists(root / "sys/kernel/livepatch/lp_a"));
}

// Like the real kernel: a transition an agent was killed in the middle of
// (nobody waits for it any more) completes on its own when due; whoever
// looks at the kernel next sees it done.
TEST_F(SimKernel, ATransitionNobodyWaitsForCompletesOnItsOwn) {
    ASSERT_TRUE(load("lp_a", module("lp_a")));
    // What a SIGKILL during the wait leaves: enabled, in transition, due in 3 s.
    const auto nowMs = std::chrono::duration_cast<std::chrono::milliseconds>(clock.now().time_since_epoch()).count();
    std::ofstream(root / "sys/kernel/livepatch/lp_a/transition", std::ios::trunc) << "1\n";
    std::ofstream(root / "sys/kernel/livepatch/lp_a/transition-done-at", std::ios::trunc) << nowMs + 3000 << "\n";
    auto l = loader.list();
    ASSERT_TRUE(l);
    ASSERT_EQ(l->size(), 1u);
    EXPECT_TRUE((*l)[0].transitioning);
    clock.advance(std::chrono::milliseconds(3000));
    l = loader.list();
    ASSERT_TRUE(l);
    ASSERT_EQ(l->size(), 1u);
    EXPECT_TRUE((*l)[0].enabled);
    EXPECT_FALSE((*l)[0].transitioning) << "done without anyone waiting";
    EXPECT_EQ(readWholeFile(root / "sys/kernel/livepatch/lp_a/transition"), "0\n");
}
