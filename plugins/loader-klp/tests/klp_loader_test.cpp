// The loader's state machine against a fake kernel that behaves like
// kernel/livepatch: a loaded patch starts in transition, completes after a
// few polls (or never, when stalled), replace disables older patches.
#include <gtest/gtest.h>

#include <livepatch/modinfo.h>
#include <livepatch/testing/fakes.h>
#include <livepatch/testing/module_image.h>

#include <cerrno>
#include <map>
#include <set>

#include "klp_loader.h"

using namespace livepatch;
using namespace livepatch::plugins::klp;

namespace {

class FakeKernel : public KernelInterface {
public:
    std::map<std::string, std::string> files;
    int busyLoads = 0;    // EBUSY for this many finit_module calls
    int loadErrno = 0;    // fail every load with this
    bool stall = false;   // transitions never complete
    int stallPolls = -1;  // with stall: complete after this many polls (-1 = never)
    int pollsToComplete = 3;
    bool registersNoLivepatch = false;    // the module loads but creates no /sys/kernel/livepatch entry
    int unloadErrno = 0;                  // fail every delete_module with this
    CancelToken* cancelOnPoll = nullptr;  // cancelled at the first poll of a transition
    bool refuseWrites = false;            // every sysfs write fails (e.g. EPERM under lockdown)
    std::vector<std::string> loads, unloads;
    std::map<std::string, int> pending;  // patch -> polls left
    std::map<std::string, bool> replaces;

    FakeKernel() {
        files["/sys/kernel/livepatch"] = "";
        files["/proc/sys/kernel/random/boot_id"] = "boot-1";
        files["/proc/sys/kernel/tainted"] = "0";
    }
    // Module bytes: an ELF image whose .modinfo gives the name and version
    // (as the kernel reads them), "+replace" appended for a cumulative patch.
    int loadModule(std::string_view bytes) override {
        std::string b(bytes);
        if (busyLoads > 0) {
            --busyLoads;
            return EBUSY;
        }
        if (loadErrno) return loadErrno;
        bool replace = b.size() > 8 && b.substr(b.size() - 8) == "+replace";
        auto info = parseModInfo(bytes);
        if (!info) return ENOEXEC;
        std::string name = info->values("name").at(0), version;
        auto v = info->values("version");
        if (!v.empty()) version = v[0];
        if (files.count("/sys/module/" + name)) return EEXIST;
        loads.push_back(name);
        files["/sys/module/" + name] = "";
        if (!version.empty()) files["/sys/module/" + name + "/version"] = version;
        if (registersNoLivepatch) return 0;  // a plain module, or a livepatch whose init failed to register
        files["/sys/kernel/livepatch/" + name] = "";
        files["/sys/kernel/livepatch/" + name + "/enabled"] = "1";
        files["/sys/kernel/livepatch/" + name + "/transition"] = "1";
        pending[name] = pollsToComplete;
        replaces[name] = replace;
        return 0;
    }
    int unloadModule(const std::string& name) override {
        if (!files.count("/sys/module/" + name)) return ENOENT;
        if (unloadErrno) return unloadErrno;
        if (files.count("/sys/kernel/livepatch/" + name)) return EBUSY;  // still a live patch
        unloads.push_back(name);
        files.erase("/sys/module/" + name);
        files.erase("/sys/module/" + name + "/version");
        return 0;
    }
    std::optional<std::string> read(const std::string& path) override {
        tick(path);
        auto it = files.find(path);
        if (it == files.end()) return std::nullopt;
        return it->second;
    }
    bool write(const std::string& path, const std::string& value) override {
        if (refuseWrites || !files.count(path)) return false;
        files[path] = value;
        const std::string prefix = "/sys/kernel/livepatch/";
        if (path.size() > prefix.size() && path.substr(path.size() - 8) == "/enabled" && value == "0") {
            std::string name = path.substr(prefix.size(), path.size() - prefix.size() - 8);
            files[prefix + name + "/transition"] = "1";
            pending[name] = pollsToComplete;
        }
        return true;
    }
    bool exists(const std::string& path) override { return files.count(path) > 0; }
    std::vector<std::string> list(const std::string& dir) override {
        std::set<std::string> out;
        for (const auto& f : files)
            if (f.first.size() > dir.size() + 1 && f.first.compare(0, dir.size() + 1, dir + "/") == 0)
                out.insert(f.first.substr(dir.size() + 1, f.first.find('/', dir.size() + 1) - dir.size() - 1));
        return {out.begin(), out.end()};
    }
    std::string release() override { return "6.1.0-99-amd64"; }
    std::string machine() override { return "x86_64"; }
    std::string kernelLog() override { return files["kmsg"]; }

private:
    void tick(const std::string& path) {
        if (cancelOnPoll && path.size() > 11 && path.compare(path.size() - 11, 11, "/transition") == 0)
            cancelOnPoll->cancel();
        for (auto& p : pending) {
            if (path != "/sys/kernel/livepatch/" + p.first + "/transition") continue;
            if (stall && stallPolls != 0) {
                if (stallPolls > 0) --stallPolls;
                continue;
            }
            if (--p.second > 0) continue;
            const std::string d = "/sys/kernel/livepatch/" + p.first;
            files[d + "/transition"] = "0";
            if (files[d + "/enabled"] == "0") {
                for (auto it = files.begin(); it != files.end();)
                    it = it->first.compare(0, d.size(), d) == 0 ? files.erase(it) : std::next(it);
            } else if (replaces[p.first]) {
                for (const auto& other : list("/sys/kernel/livepatch")) {
                    if (other == p.first) continue;
                    const std::string od = "/sys/kernel/livepatch/" + other;
                    for (auto it = files.begin(); it != files.end();)
                        it = it->first.compare(0, od.size(), od) == 0 ? files.erase(it) : std::next(it);
                }
            }
        }
    }
};

struct Fixture {
    std::shared_ptr<FakeKernel> kernel = std::make_shared<FakeKernel>();
    livepatch::testing::MapConfigView cfg;
    livepatch::testing::ManualClock clock;
    livepatch::testing::CapturingLogger log;
    PluginContext ctx;
    KlpLoader loader{kernel};
    Fixture() {
        cfg.declare(loader.configKeys()).set("transition-timeout", "10");  // core's key, set by the agent
        ctx.config = &cfg;
        ctx.clock = &clock;
        ctx.logger = &log;
        EXPECT_TRUE(loader.configure(ctx));
    }
    // A livepatch module called `name`; "+replace" after the ELF data tells
    // the fake kernel it is a cumulative (atomic replace) patch.
    static std::string module(const std::string& name, bool replace = false) {
        return livepatch::testing::makeModuleImage(livepatch::testing::livepatchModinfo(name, "1", "6.1.0-99-amd64")) +
               (replace ? "+replace" : "");
    }
    // `bytes`: an ELF image, or a shorthand "<name>[+replace]" for module().
    Status load(const std::string& bytes, const std::string& name, bool replace = true,
                const CancelToken* cancel = nullptr) {
        const bool shorthand = bytes.compare(0, 4,
                                             "\x7f"
                                             "ELF") != 0;
        const bool cumulative = bytes.size() > 8 && bytes.compare(bytes.size() - 8, 8, "+replace") == 0;
        return loader.load(ModuleImage{name, "", shorthand ? module(name, cumulative) : bytes},
                           PatchSpec{name, "1", replace}, cancel);
    }
};

}  // namespace

TEST(KlpLoader, ProbeReportsSupportAndUnsupported) {
    Fixture f;
    auto k = f.loader.probe();
    ASSERT_TRUE(k);
    EXPECT_TRUE(k->livepatchSupported);
    EXPECT_EQ(k->versionSignature, "6.1.0-99-amd64");
    EXPECT_EQ(k->bootId, "boot-1");
    f.kernel->files.erase("/sys/kernel/livepatch");
    auto u = f.loader.probe();
    EXPECT_FALSE(u->livepatchSupported);
    EXPECT_NE(u->unsupportedReason.find("CONFIG_LIVEPATCH"), std::string::npos);
    EXPECT_EQ(f.load("lp_a", "lp_a").error().code(), ErrorCode::Unsupported);
}

TEST(KlpLoader, LoadWaitsForTheTransition) {
    Fixture f;
    ASSERT_TRUE(f.load("lp_a", "lp_a"));
    EXPECT_EQ(f.kernel->files["/sys/kernel/livepatch/lp_a/transition"], "0");
    EXPECT_FALSE(f.clock.sleeps().empty());
    auto l = f.loader.list();
    ASSERT_EQ(l->size(), 1u);
    EXPECT_TRUE((*l)[0].enabled);
}

TEST(KlpLoader, RetriesEbusyWhileAnotherTransitionRuns) {
    Fixture f;
    f.kernel->busyLoads = 3;
    ASSERT_TRUE(f.load("lp_a", "lp_a"));
    EXPECT_EQ(f.kernel->loads.size(), 1u);
    f.kernel->busyLoads = 1000;
    auto s = f.load("lp_b", "lp_b");
    ASSERT_FALSE(s);
    EXPECT_EQ(s.error().code(), ErrorCode::Busy);
}

TEST(KlpLoader, StalledTransitionIsReportedAndReverted) {
    Fixture f;
    f.kernel->stall = true;
    f.kernel->stallPolls = 150;  // the 10 s timeout passes, then the revert completes
    f.kernel->files["/sys/kernel/livepatch/lp_a/force"] = "0";
    auto s = f.load("lp_a", "lp_a");
    ASSERT_FALSE(s);
    EXPECT_EQ(s.error().code(), ErrorCode::TransitionStalled);
    EXPECT_NE(s.error().message().find("stuck in transition to patched after 10s; reverted; module lp_a removed again"),
              std::string::npos)
        << s.error().message();
    EXPECT_FALSE(f.kernel->exists("/sys/kernel/livepatch/lp_a/force"))
        << "force never written without the operator flag";
    EXPECT_FALSE(f.kernel->exists("/sys/module/lp_a")) << "reverted and deleted";
}

TEST(KlpLoader, ARevertThatStallsTooSaysTheModuleIsStillLoaded) {
    Fixture f;
    f.kernel->stall = true;  // forever: the revert cannot complete either
    auto s = f.load("lp_a", "lp_a");
    ASSERT_FALSE(s);
    EXPECT_EQ(s.error().code(), ErrorCode::TransitionStalled);
    EXPECT_NE(s.error().message().find(
                  "stuck in transition to unpatched while reverting: module lp_a is still in the kernel"),
              std::string::npos)
        << s.error().message();
}

// Whatever fails after finit_module, nothing untracked stays in the kernel.
TEST(KlpLoader, AModuleThatRegistersNoLivepatchIsDeletedAgain) {
    Fixture f;
    f.kernel->registersNoLivepatch = true;
    auto s =
        f.load(livepatch::testing::makeModuleImage(livepatch::testing::livepatchModinfo("lp_a", "1", "6.1.0-99-amd64")),
               "lp_a");
    ASSERT_FALSE(s);
    EXPECT_EQ(s.error().code(), ErrorCode::LoadFailed);
    EXPECT_NE(
        s.error().message().find("registered no livepatch (is it a livepatch module?); module lp_a removed again"),
        std::string::npos)
        << s.error().message();
    EXPECT_EQ(f.kernel->unloads, std::vector<std::string>{"lp_a"});
    EXPECT_FALSE(f.kernel->exists("/sys/module/lp_a"));
}

TEST(KlpLoader, AFailedDeleteAfterAFailedLoadIsSurfaced) {
    Fixture f;
    f.kernel->registersNoLivepatch = true;
    f.kernel->unloadErrno = EPERM;
    auto s = f.load("lp_a", "lp_a");
    ASSERT_FALSE(s);
    EXPECT_EQ(s.error().code(), ErrorCode::LoadFailed);
    EXPECT_NE(s.error().message().find(
                  "cannot unload module lp_a: Operation not permitted: module lp_a is still in the kernel"),
              std::string::npos)
        << s.error().message();
    EXPECT_TRUE(f.log.contains("could not be taken out after a failed load"));
}

TEST(KlpLoader, CancelDuringTheTransitionRevertsAndDeletes) {
    Fixture f;
    CancelToken cancel;
    f.kernel->cancelOnPoll = &cancel;
    auto s = f.load("lp_a", "lp_a", true, &cancel);
    ASSERT_FALSE(s);
    EXPECT_EQ(s.error().code(), ErrorCode::Cancelled);
    EXPECT_NE(s.error().message().find("module lp_a removed again"), std::string::npos) << s.error().message();
    EXPECT_FALSE(f.kernel->exists("/sys/kernel/livepatch/lp_a"));
    EXPECT_FALSE(f.kernel->exists("/sys/module/lp_a"));
}

TEST(KlpLoader, AModuleNamingItselfOtherwiseIsNeverLoaded) {
    Fixture f;
    auto s = f.load(
        livepatch::testing::makeModuleImage(livepatch::testing::livepatchModinfo("e1000e", "1", "6.1.0-99-amd64")),
        "lp_a");
    ASSERT_FALSE(s);
    EXPECT_EQ(s.error().code(), ErrorCode::LoadFailed);
    EXPECT_NE(s.error().message().find("names itself otherwise"), std::string::npos);
    EXPECT_TRUE(f.kernel->loads.empty());
}

// Issue 13.5: a failed write to `enabled` on the stall path was ignored and
// the patch reported "reverted" while it stayed in the kernel.
TEST(KlpLoader, ARevertTheKernelRefusesIsReported) {
    Fixture f;
    f.kernel->stall = true;
    f.kernel->refuseWrites = true;
    auto s = f.load("lp_a", "lp_a");
    ASSERT_FALSE(s);
    EXPECT_EQ(s.error().code(), ErrorCode::TransitionStalled);
    EXPECT_NE(s.error().message().find("cannot disable livepatch lp_a: module lp_a is still in the kernel"),
              std::string::npos)
        << s.error().message();
    EXPECT_EQ(f.kernel->files["/sys/kernel/livepatch/lp_a/enabled"], "1") << "still in the kernel, as reported";
    EXPECT_TRUE(f.kernel->unloads.empty());
}

TEST(KlpLoader, WaitPolicyKeepsWaitingForAStalledTransition) {
    Fixture f;
    f.cfg.set("stalled-transition-policy", "wait");
    ASSERT_TRUE(f.loader.configure(f.ctx));
    f.kernel->stall = true;
    f.kernel->stallPolls = 250;  // 25 s of 100 ms polls, past the 10 s timeout
    ASSERT_TRUE(f.load("lp_a", "lp_a"));
    EXPECT_EQ(f.kernel->files["/sys/kernel/livepatch/lp_a/enabled"], "1") << "not reverted";
    EXPECT_TRUE(f.log.contains("stalled-transition-policy=wait"));
}

TEST(KlpLoader, ForceOnlyWithExplicitOperatorFlag) {
    Fixture f;
    f.kernel->stall = true;
    f.cfg.set("allow-force-transition", "true");
    ASSERT_TRUE(f.loader.configure(f.ctx));
    f.kernel->files["/sys/kernel/livepatch/lp_a/force"] = "0";
    ASSERT_TRUE(f.load("lp_a", "lp_a"));
    EXPECT_EQ(f.kernel->files["/sys/kernel/livepatch/lp_a/force"], "1");
}

TEST(KlpLoader, ReplaceUnloadsTheReplacedModules) {
    Fixture f;
    ASSERT_TRUE(f.load("lp_1", "lp_1"));
    ASSERT_TRUE(f.load("lp_2+replace", "lp_2"));
    EXPECT_FALSE(f.kernel->exists("/sys/kernel/livepatch/lp_1"));
    EXPECT_FALSE(f.kernel->exists("/sys/module/lp_1")) << "replaced module unloaded";
    EXPECT_EQ(f.kernel->unloads, std::vector<std::string>{"lp_1"});
    EXPECT_TRUE(f.kernel->exists("/sys/kernel/livepatch/lp_2"));
}

TEST(KlpLoader, UnloadDisablesWaitsAndRemoves) {
    Fixture f;
    ASSERT_TRUE(f.load("lp_a", "lp_a"));
    ASSERT_TRUE(f.loader.unload("lp_a", nullptr));
    EXPECT_FALSE(f.kernel->exists("/sys/kernel/livepatch/lp_a"));
    EXPECT_FALSE(f.kernel->exists("/sys/module/lp_a"));
}

TEST(KlpLoader, UnloadOfAlreadyDisabledModule) {
    Fixture f;
    f.kernel->files["/sys/module/lp_old"] = "";  // no enabled file: already disabled
    ASSERT_TRUE(f.loader.unload("lp_old", nullptr));
    EXPECT_EQ(f.kernel->unloads, std::vector<std::string>{"lp_old"});
    EXPECT_TRUE(f.loader.unload("lp_never_loaded", nullptr));
}

TEST(KlpLoader, ErrnoBecomesAnActionableMessage) {
    Fixture f;
    f.kernel->loadErrno = EKEYREJECTED;
    auto s = f.load("lp_a", "lp_a");
    ASSERT_FALSE(s);
    EXPECT_EQ(s.error().code(), ErrorCode::LoadFailed);
    EXPECT_NE(s.error().message().find("signature"), std::string::npos);
    f.kernel->loadErrno = ENOEXEC;
    EXPECT_NE(f.load("lp_a", "lp_a").error().message().find("another kernel"), std::string::npos);
}

TEST(KlpLoader, AlreadyAppliedIsANoOp) {
    Fixture f;
    ASSERT_TRUE(f.load("lp_a", "lp_a"));
    ASSERT_TRUE(f.load("lp_a", "lp_a"));
    EXPECT_EQ(f.kernel->loads.size(), 1u);
}

TEST(KlpLoader, HealthCountsOopsAndTaint) {
    Fixture f;
    f.kernel->files["kmsg"] = "ok\nBUG: kernel NULL pointer dereference\nWARNING: CPU: 0 PID: 1\n";
    f.kernel->files["/proc/sys/kernel/tainted"] = "4096";
    auto h = f.loader.health();
    EXPECT_EQ(h->oopsCount, 2u);
    EXPECT_EQ(h->taintMask, 4096u);
}

TEST(KlpLoader, ListReportsTheVersionFromSysModule) {
    Fixture f;
    using livepatch::testing::livepatchModinfo;
    using livepatch::testing::makeModuleImage;
    ASSERT_TRUE(f.load(makeModuleImage(livepatchModinfo("lp_a", "5", "6.1.0-99-amd64")), "lp_a", false));
    ASSERT_TRUE(f.load(makeModuleImage(livepatchModinfo("lp_b", "", "6.1.0-99-amd64")), "lp_b", false));
    EXPECT_EQ(f.kernel->files["/sys/module/lp_a/version"], "5");
    auto l = f.loader.list();
    ASSERT_TRUE(l);
    ASSERT_EQ(l->size(), 2u);
    for (const auto& p : *l) EXPECT_EQ(p.version, p.name == "lp_a" ? "5" : "") << p.name;
}

// The restore after a revert cancelled mid-transition: the module is still
// loaded (EEXIST) and transitioning to unpatched; loading it again must turn
// the transition back, not wait for it to finish unpatched and say "loaded".
TEST(KlpLoader, LoadingAPatchThatIsBeingRevertedReEnablesIt) {
    Fixture f;
    ASSERT_TRUE(f.load("lp_a", "lp_a"));
    f.kernel->files["/sys/kernel/livepatch/lp_a/enabled"] = "0";
    f.kernel->files["/sys/kernel/livepatch/lp_a/transition"] = "1";
    f.kernel->pending["lp_a"] = 3;
    ASSERT_TRUE(f.load("lp_a", "lp_a"));
    EXPECT_EQ(f.kernel->files["/sys/kernel/livepatch/lp_a/enabled"], "1");
    auto l = f.loader.list();
    ASSERT_TRUE(l);
    ASSERT_EQ(l->size(), 1u) << "the livepatch went away: the revert finished instead";
    EXPECT_TRUE((*l)[0].enabled);
}
