#include "simulated_kernel.h"

#include <livepatch/modinfo.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <random>
#include <regex>
#include <sstream>

namespace livepatch::plugins {

namespace fsys = std::filesystem;

namespace {

std::string readText(const std::string& p) {
    std::ifstream in(p);
    std::stringstream ss;
    ss << in.rdbuf();
    std::string s = ss.str();
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
    return s;
}

bool writeText(const std::string& p, const std::string& text) {
    std::error_code ec;
    fsys::create_directories(fsys::path(p).parent_path(), ec);
    std::ofstream out(p, std::ios::trunc);
    out << text;
    return static_cast<bool>(out);
}

std::string newUuid() {
    std::mt19937_64 rng{std::random_device{}()};
    char buf[40];
    auto a = rng(), b = rng();
    snprintf(buf, sizeof buf, "%08llx-%04llx-4%03llx-%04llx-%012llx", (unsigned long long)(a >> 32),
             (unsigned long long)((a >> 16) & 0xffff), (unsigned long long)(a & 0xfff),
             (unsigned long long)(0x8000 | ((b >> 48) & 0x3fff)), (unsigned long long)(b & 0xffffffffffffULL));
    return buf;
}

const std::regex kNameRe("^[a-z0-9_]{1,55}$");

}  // namespace

// What the real kernel shows in /sys/module/<name>/version: the module's
// own MODULE_VERSION, read here from the bytes the simulated kernel keeps.
std::string SimulatedKernelLoader::moduleVersion(const std::string& name) const {
    std::ifstream in(path("modules/" + name + ".ko"), std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    const std::string bytes = ss.str();
    auto info = parseModInfo(bytes);
    if (!info) return "";
    auto v = info->unique("version");
    return v && *v ? **v : "";
}

PluginInfo SimulatedKernelLoader::info() const noexcept {
    return {"loader-simulated", PluginRole::Loader, "1.0.0", LIVEPATCH_SDK_ABI_VERSION,
            "simulated kernel in a directory (demos, tests)"};
}

Status SimulatedKernelLoader::initializeRoot(const std::string& root) {
    try {
        fsys::create_directories(root);
        ::chmod(root.c_str(), 0700);
        auto p = [&](const std::string& rel) { return root + "/" + rel; };
        if (!fsys::exists(p("proc/version_signature")))
            writeText(p("proc/version_signature"), "Ubuntu 5.15.0-100.110-generic 5.15.149\n");
        if (!fsys::exists(p("proc/sys/kernel/osrelease")))
            writeText(p("proc/sys/kernel/osrelease"), "5.15.0-100-generic\n");
        if (!fsys::exists(p("proc/sys/kernel/random/boot_id")))
            writeText(p("proc/sys/kernel/random/boot_id"), newUuid() + "\n");
        if (!fsys::exists(p("proc/sys/kernel/tainted"))) writeText(p("proc/sys/kernel/tainted"), "0\n");
        if (!fsys::exists(p("proc/cmdline")))
            writeText(p("proc/cmdline"), "BOOT_IMAGE=/boot/vmlinuz root=/dev/vda1 ro\n");
        if (!fsys::exists(p("kmsg.log"))) writeText(p("kmsg.log"), "");
        fsys::create_directories(p("sys/kernel/livepatch"));
        fsys::create_directories(p("sys/module"));
        fsys::create_directories(p("modules"));
        fsys::create_directories(p("control"));
        return {};
    } catch (const std::exception& e) {
        return Error(ErrorCode::Io, std::string("cannot initialise simulated kernel: ") + e.what());
    }
}

std::vector<ConfigKey> SimulatedKernelLoader::configKeys() const noexcept {
    return {pathKey("simulated-kernel-root", "root directory of the simulated kernel (loader-simulated)")};
}

Status SimulatedKernelLoader::configure(const PluginContext& ctx) noexcept {
    clock_ = ctx.clock;
    logger_ = ctx.logger;
    root_ = ctx.config->value("simulated-kernel-root");
    timeoutSeconds_ = ctx.config->integer("transition-timeout");  // core's key: every loader reads it
    if (timeoutSeconds_ <= 0) return Error(ErrorCode::ConfigInvalid, "loader-simulated: transition-timeout is not set");
    return {};
}

Result<KernelInfo> SimulatedKernelLoader::probe() noexcept {
    if (root_.empty())
        return Error(
            ErrorCode::ConfigInvalid,
            "loader-simulated needs simulated-kernel-root (livepatch-agent config simulated-kernel-root=/dir)");
    LP_TRY(initializeRoot(root_));
    KernelInfo k;
    std::istringstream sig(readText(path("proc/version_signature")));
    std::string distro;
    sig >> distro >> k.versionSignature;
    k.release = readText(path("proc/sys/kernel/osrelease"));
    k.bootId = readText(path("proc/sys/kernel/random/boot_id"));
    k.architecture = "x86_64";
#if defined(__aarch64__)
    k.architecture = "aarch64";
#endif
    k.livepatchSupported = !fsys::exists(path("control/no-livepatch"));
    if (!k.livepatchSupported) k.unsupportedReason = "kernel built without CONFIG_LIVEPATCH (no /sys/kernel/livepatch)";
    return k;
}

void SimulatedKernelLoader::kmsg(const std::string& line) {
    std::ofstream out(path("kmsg.log"), std::ios::app);
    out << line << "\n";
}

void SimulatedKernelLoader::updateCmdline() {
    bool anyEnabled = false;
    std::error_code ec;
    for (auto& e : fsys::directory_iterator(path("sys/kernel/livepatch"), ec))
        if (readText(e.path().string() + "/enabled") == "1") anyEnabled = true;
    const std::string orig = path("state/cmdline.orig");
    if (anyEnabled) {
        if (!fsys::exists(orig)) writeText(orig, readText(path("proc/cmdline")) + "\n");
        writeText(path("proc/cmdline"), "this has been live patched\n");
    } else if (fsys::exists(orig)) {
        writeText(path("proc/cmdline"), readText(orig) + "\n");
        fsys::remove(orig, ec);
    }
}

Status SimulatedKernelLoader::removePatch(const std::string& name) {
    std::error_code ec;
    fsys::remove_all(path("sys/kernel/livepatch/" + name), ec);
    fsys::remove_all(path("sys/module/" + name), ec);
    fsys::remove(path("modules/" + name + ".ko"), ec);
    kmsg("livepatch: module " + name + " unloaded");
    updateCmdline();
    return {};
}

// Like the real kernel, a transition completes on its own once its time has
// come (`transition-done-at`, wall-clock ms), whether or not anyone waits
// for it: an agent killed mid-transition finds it finished. Whoever looks at
// the kernel (a wait, list()) settles the transitions that are due.
void SimulatedKernelLoader::startTransition(const std::string& name, bool enable, bool replace) {
    const std::string dir = path("sys/kernel/livepatch/" + name);
    long long delayMs = 0;
    try {
        if (fsys::exists(path("control/transition-delay-ms")))
            delayMs = std::stoll(readText(path("control/transition-delay-ms")));
    } catch (...) {
    }
    const long long nowMs =
        std::chrono::duration_cast<std::chrono::milliseconds>(clock_->now().time_since_epoch()).count();
    writeText(dir + "/transition-done-at", std::to_string(nowMs + delayMs) + "\n");
    if (enable) writeText(dir + "/replace", replace ? "1\n" : "0\n");
    writeText(dir + "/enabled", enable ? "1\n" : "0\n");
    writeText(dir + "/transition", "1\n");
}

void SimulatedKernelLoader::settleTransition(const std::string& name) {
    const std::string dir = path("sys/kernel/livepatch/" + name);
    if (readText(dir + "/transition") != "1" || fsys::exists(path("control/stall"))) return;
    long long doneAt = 0;
    try {
        doneAt = std::stoll(readText(dir + "/transition-done-at"));
    } catch (...) {
    }
    const long long nowMs =
        std::chrono::duration_cast<std::chrono::milliseconds>(clock_->now().time_since_epoch()).count();
    if (nowMs < doneAt) return;
    writeText(dir + "/transition", "0\n");
    std::error_code ec;
    if (readText(dir + "/enabled") != "1") {
        // Disabled: the livepatch goes away, the module stays until unloaded.
        fsys::remove_all(dir, ec);
        kmsg("livepatch: '" + name + "': unpatching complete");
        updateCmdline();
        return;
    }
    kmsg("livepatch: '" + name + "': patching complete");
    if (readText(dir + "/replace") == "1") {
        std::vector<std::string> others;
        for (auto& e : fsys::directory_iterator(path("sys/kernel/livepatch"), ec))
            if (e.path().filename() != name) others.push_back(e.path().filename().string());
        for (const auto& o : others) (void)removePatch(o);  // replaced: disabled by the kernel, unloaded by us
    }
    updateCmdline();
}

Status SimulatedKernelLoader::waitTransition(const std::string& name, const CancelToken* cancel) {
    const std::string dir = path("sys/kernel/livepatch/" + name);
    auto start = clock_->steadyNow();
    const auto timeout = std::chrono::seconds(timeoutSeconds_);
    for (;;) {
        settleTransition(name);
        if (readText(dir + "/transition") != "1") return {};  // done, or the livepatch is gone
        if (clock_->steadyNow() - start >= timeout) {
            std::string target = readText(dir + "/enabled") == "1" ? "patched" : "unpatched";
            return Error(ErrorCode::TransitionStalled, "livepatch " + name + " stuck in transition to " + target +
                                                           " after " + std::to_string(timeoutSeconds_) + "s");
        }
        if (!clock_->sleepFor(std::chrono::milliseconds(100), cancel))
            return Error(ErrorCode::Cancelled, "cancelled while waiting for the transition of " + name);
    }
}

Status SimulatedKernelLoader::load(const ModuleImage& image, const PatchSpec& spec,
                                   const CancelToken* cancel) noexcept {
    try {
        auto k = probe();
        if (!k) return k.error();
        if (!k->livepatchSupported) return Error(ErrorCode::Unsupported, k->unsupportedReason);
        if (!std::regex_match(spec.name, kNameRe)) return Error(ErrorCode::LoadFailed, "invalid livepatch name");
        if (fsys::exists(path("control/refuse-load")))
            return Error(ErrorCode::LoadFailed, "kernel refused the module: " + readText(path("control/refuse-load")));
        const std::string dir = path("sys/kernel/livepatch/" + spec.name);
        settleTransition(spec.name);
        if (fsys::exists(dir) && readText(dir + "/enabled") == "1" && readText(dir + "/transition") == "0") return {};
        // What the real kernel decides from the module's own bytes.
        auto info = parseModInfo(image.bytes);
        if (!info)
            return Error(ErrorCode::LoadFailed, "kernel refused module " + spec.name + ": not a valid module (" +
                                                    info.error().message() + ")");
        auto declared = info->unique("name");
        if (!declared || declared->value_or(spec.name) != spec.name)
            return Error(ErrorCode::LoadFailed,
                         "module for livepatch " + spec.name + " names itself otherwise in its .modinfo; not loaded");
        auto vermagic = info->unique("vermagic");
        const std::string magic = vermagic && *vermagic ? **vermagic : "";
        if (magic.substr(0, magic.find(' ')) != k->release)
            return Error(ErrorCode::LoadFailed,
                         "kernel refused module " + spec.name + ": its version magic is not for kernel " + k->release);
        auto livepatch = info->unique("livepatch");
        const bool registers = livepatch && *livepatch && **livepatch == "Y";
        std::ofstream ko(path("modules/" + spec.name + ".ko"), std::ios::binary | std::ios::trunc);
        ko.write(image.bytes.data(), static_cast<std::streamsize>(image.bytes.size()));
        ko.close();
        writeText(path("sys/module/" + spec.name + "/refcnt"), "0\n");
        kmsg("module " + spec.name + " loaded");
        if (!registers) {
            // Like loader-klp after finit_module: nothing untracked stays behind.
            (void)removePatch(spec.name);
            return Error(ErrorCode::LoadFailed,
                         "module " + spec.name +
                             " loaded but registered no livepatch (is it a livepatch module?); module " + spec.name +
                             " removed again");
        }
        startTransition(spec.name, true, spec.replace);
        kmsg("livepatch: enabling patch '" + spec.name + "'");
        auto s = waitTransition(spec.name, cancel);
        if (!s) {
            // Like loader-klp: a stalled or cancelled transition is reverted
            // and the module deleted rather than left half-patched.
            writeText(dir + "/enabled", "0\n");
            (void)removePatch(spec.name);
            kmsg("livepatch: '" + spec.name + "': reverted after a stalled or cancelled transition");
            return s;
        }
        updateCmdline();
        return {};
    } catch (const std::exception& e) {
        return Error(ErrorCode::LoadFailed, std::string("simulated kernel error: ") + e.what());
    }
}

Status SimulatedKernelLoader::unload(const std::string& name, const CancelToken* cancel) noexcept {
    try {
        auto k = probe();
        if (!k) return k.error();
        const std::string dir = path("sys/kernel/livepatch/" + name);
        if (!fsys::exists(dir)) {
            if (fsys::exists(path("sys/module/" + name))) return removePatch(name);  // already disabled
            return {};
        }
        startTransition(name, false, false);
        auto s = waitTransition(name, cancel);
        if (!s) return s;
        return removePatch(name);
    } catch (const std::exception& e) {
        return Error(ErrorCode::LoadFailed, std::string("simulated kernel error: ") + e.what());
    }
}

Result<std::vector<LoadedPatch>> SimulatedKernelLoader::list() noexcept {
    auto k = probe();
    if (!k) return k.error();
    std::vector<LoadedPatch> out;
    std::error_code ec;
    std::vector<std::string> names;
    for (auto& e : fsys::directory_iterator(path("sys/kernel/livepatch"), ec))
        names.push_back(e.path().filename().string());
    for (const auto& n : names) settleTransition(n);
    for (auto& e : fsys::directory_iterator(path("sys/kernel/livepatch"), ec)) {
        LoadedPatch p;
        p.name = e.path().filename().string();
        p.version = moduleVersion(p.name);
        p.enabled = readText(e.path().string() + "/enabled") == "1";
        p.transitioning = readText(e.path().string() + "/transition") == "1";
        out.push_back(p);
    }
    return out;
}

Result<KernelHealth> SimulatedKernelLoader::health() noexcept {
    auto k = probe();
    if (!k) return k.error();
    KernelHealth h;
    try {
        h.taintMask = std::stoull(readText(path("proc/sys/kernel/tainted")));
    } catch (...) {
    }
    std::ifstream in(path("kmsg.log"));
    std::string line;
    static const std::regex oops(R"((Oops|BUG:|WARNING:|Call Trace))");
    while (std::getline(in, line))
        if (std::regex_search(line, oops)) ++h.oopsCount;
    return h;
}

}  // namespace livepatch::plugins
