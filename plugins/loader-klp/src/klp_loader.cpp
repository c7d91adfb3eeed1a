#include "klp_loader.h"

#include <livepatch/modinfo.h>

#include <cerrno>
#include <cstring>
#include <regex>
#include <set>
#include <sstream>

#include "linux_kernel.h"

namespace livepatch::plugins::klp {

namespace {

const std::regex kNameRe("^[a-z0-9_]{1,55}$");

std::string errnoHint(int e) {
    switch (e) {
    case EKEYREJECTED:
    case EBADMSG:
    case ENOKEY:
        return "the kernel rejected the module signature (module.sig_enforce / lockdown: is the signing key enrolled?)";
    case EPERM: return "not permitted (needs CAP_SYS_MODULE; kernel lockdown may forbid module loading)";
    case ENOEXEC: return "not a valid module for this kernel (built for another kernel version?)";
    case EINVAL: return "the kernel refused the module (invalid module or parameters; see the kernel log)";
    case ENOENT: return "unknown symbol or missing dependency (see the kernel log)";
    default: return std::strerror(e);
    }
}

}  // namespace

KlpLoader::KlpLoader() = default;
KlpLoader::KlpLoader(std::shared_ptr<KernelInterface> kernel) : kernel_(std::move(kernel)), injected_(true) {}

PluginInfo KlpLoader::info() const noexcept {
    return {"loader-klp", PluginRole::Loader, "1.0.0", LIVEPATCH_SDK_ABI_VERSION,
            "Linux livepatch: finit_module + /sys/kernel/livepatch transitions"};
}

Status KlpLoader::configure(const PluginContext& ctx) noexcept {
    clock_ = ctx.clock;
    logger_ = ctx.logger;
    if (!injected_) kernel_ = std::make_shared<LinuxKernel>(ctx.rootDir.empty() ? "/" : ctx.rootDir);
    timeoutSeconds_ = ctx.config->integer("transition-timeout");  // core's key: every loader reads it
    if (timeoutSeconds_ <= 0) return Error(ErrorCode::ConfigInvalid, "loader-klp: transition-timeout is not set");
    allowForce_ = ctx.config->flag("allow-force-transition");
    waitOnStall_ = ctx.config->value("stalled-transition-policy") == "wait";
    return {};
}

std::vector<ConfigKey> KlpLoader::configKeys() const noexcept {
    return {
        choiceKey("stalled-transition-policy", "revert", {"revert", "wait"},
                  "revert|wait: what to do when a transition outlasts transition-timeout"),
        flagKey("allow-force-transition", "write `force` to a stalled transition (makes the module unremovable)"),
    };
}

Result<KernelInfo> KlpLoader::probe() noexcept {
    if (!kernel_) return Error(ErrorCode::Internal, "loader-klp is not configured");
    KernelInfo k;
    k.release = kernel_->release();
    k.architecture = kernel_->machine();
    if (auto sig = kernel_->read("/proc/version_signature")) {
        std::istringstream in(*sig);
        std::string distro;
        in >> distro >> k.versionSignature;
    }
    if (k.versionSignature.empty()) k.versionSignature = k.release;
    k.bootId = kernel_->read("/proc/sys/kernel/random/boot_id").value_or("");
    k.livepatchSupported = kernel_->exists("/sys/kernel/livepatch");
    if (!k.livepatchSupported) k.unsupportedReason = "kernel built without CONFIG_LIVEPATCH (no /sys/kernel/livepatch)";
    return k;
}

KlpLoader::Wait KlpLoader::waitForTransition(const std::string& name, const CancelToken* cancel, std::string& stuckIn,
                                             bool honourWaitPolicy) {
    const auto start = clock_->steadyNow();
    const auto timeout = std::chrono::seconds(timeoutSeconds_);
    bool signalled = false, warnedStall = false;
    for (;;) {
        auto transition = kernel_->read(dir(name) + "/transition");
        if (!transition || *transition == "0") return Wait::Done;  // gone (freed) or finished
        const auto elapsed = clock_->steadyNow() - start;
        if (!signalled && elapsed >= timeout / 2 && kernel_->exists(dir(name) + "/signal")) {
            kernel_->write(dir(name) + "/signal", "1");  // pre-5.1 kernels only
            signalled = true;
        }
        if (elapsed >= timeout) {
            stuckIn = kernel_->read(dir(name) + "/enabled").value_or("") == "1" ? "patched" : "unpatched";
            if (!waitOnStall_ || !honourWaitPolicy) return Wait::Stalled;
            if (!warnedStall) {
                if (logger_)
                    logger_->warning("livepatch " + name + " stuck in transition to " + stuckIn + " after " +
                                     std::to_string(timeoutSeconds_) + "s; waiting (stalled-transition-policy=wait)");
                warnedStall = true;
            }
        }
        if (!clock_->sleepFor(std::chrono::milliseconds(100), cancel)) return Wait::Cancelled;
    }
}

Status KlpLoader::removeModule(const std::string& name, const CancelToken* cancel) {
    for (int attempt = 0; attempt < 50; ++attempt) {
        int e = kernel_->unloadModule(name);
        if (e == 0 || e == ENOENT) return {};
        if (e != EBUSY && e != EAGAIN && e != EWOULDBLOCK)
            return Error(ErrorCode::LoadFailed, "cannot unload module " + name + ": " + std::strerror(e));
        if (!clock_->sleepFor(std::chrono::milliseconds(200), cancel)) return Error(ErrorCode::Cancelled, "cancelled");
    }
    return Error(ErrorCode::Busy, "module " + name + " is still in use; not unloaded");
}

Error KlpLoader::undoLoad(const std::string& module, const Error& why) {
    // Not cancellable and never waiting forever: what finit_module put in
    // the kernel must not stay there, untracked, because we were asked to stop.
    std::string problem;
    if (kernel_->read(dir(module) + "/enabled").value_or("") == "1") {
        std::string stuckIn;
        if (!kernel_->write(dir(module) + "/enabled", "0")) problem = "cannot disable livepatch " + module;
        else if (waitForTransition(module, nullptr, stuckIn, false) != Wait::Done)
            problem = "livepatch " + module + " stuck in transition to " + stuckIn + " while reverting";
    }
    if (problem.empty()) {
        auto removed = removeModule(module, nullptr);
        if (removed) return Error(why.code(), why.message() + "; module " + module + " removed again");
        problem = removed.error().message();
    }
    if (logger_) logger_->error("module " + module + " could not be taken out after a failed load: " + problem);
    // A cancel that leaves a module behind is a load failure, not a quiet stop.
    return Error(why.code() == ErrorCode::Cancelled ? ErrorCode::LoadFailed : why.code(),
                 why.message() + "; " + problem + ": module " + module + " is still in the kernel");
}

Status KlpLoader::load(const ModuleImage& image, const PatchSpec& spec, const CancelToken* cancel) noexcept {
    try {
        auto k = probe();
        if (!k) return k.error();
        if (!k->livepatchSupported) return Error(ErrorCode::Unsupported, k->unsupportedReason);
        if (!std::regex_match(spec.name, kNameRe)) return Error(ErrorCode::LoadFailed, "invalid livepatch name");
        // The kernel names the module from its own bytes; a module that is
        // not the patch asked for is never handed to finit_module.
        auto info = parseModInfo(image.bytes);
        if (!info) return info.error().wrap("module " + spec.name);
        auto declared = info->unique("name");
        if (!declared) return declared.error().wrap("module " + spec.name);
        if (declared->value_or(spec.name) != spec.name)
            return Error(ErrorCode::LoadFailed,
                         "module for livepatch " + spec.name + " names itself otherwise in its .modinfo; not loaded");
        if (kernel_->read(dir(spec.name) + "/enabled").value_or("") == "1" &&
            kernel_->read(dir(spec.name) + "/transition").value_or("1") == "0")
            return {};  // already applied
        std::set<std::string> before;
        for (const auto& n : kernel_->list("/sys/kernel/livepatch")) before.insert(n);

        int e = 0;
        for (int attempt = 0; attempt < 20; ++attempt) {
            e = kernel_->loadModule(image.bytes);
            if (e != EBUSY) break;  // another transition in progress: wait and retry
            if (!clock_->sleepFor(std::chrono::milliseconds(500), cancel))
                return Error(ErrorCode::Cancelled, "cancelled");
        }
        if (e == EEXIST) {
            if (!kernel_->exists(dir(spec.name)))
                return Error(ErrorCode::LoadFailed, "module " + spec.name + " is loaded but not an enabled livepatch");
            // Still loaded from a revert that was cancelled mid-transition:
            // writing 1 reverses the transition back to patched.
            if (kernel_->read(dir(spec.name) + "/enabled").value_or("") != "1" &&
                !kernel_->write(dir(spec.name) + "/enabled", "1"))
                return Error(ErrorCode::LoadFailed,
                             "livepatch " + spec.name + " is being reverted and the kernel refused to re-enable it");
        } else if (e == EBUSY) {
            return Error(ErrorCode::Busy, "another livepatch transition kept the kernel busy; try again later");
        } else if (e != 0) {
            return Error(ErrorCode::LoadFailed, "kernel refused module " + spec.name + ": " + errnoHint(e));
        }
        // From here on the module is in the kernel: every failure takes out
        // again what this call loaded (not a module that was there before: EEXIST).
        const bool loadedHere = e == 0;
        auto fail = [&](const Error& why) { return loadedHere ? undoLoad(spec.name, why) : why; };
        if (!kernel_->exists(dir(spec.name)))
            return fail(
                Error(ErrorCode::LoadFailed,
                      "module " + spec.name + " loaded but registered no livepatch (is it a livepatch module?)"));

        std::string stuckIn;
        auto w = waitForTransition(spec.name, cancel, stuckIn);
        if (w == Wait::Cancelled)
            return fail(Error(ErrorCode::Cancelled, "cancelled while waiting for the transition"));
        if (w == Wait::Stalled) {
            const std::string what = "livepatch " + spec.name + " stuck in transition to " + stuckIn + " after " +
                                     std::to_string(timeoutSeconds_) + "s";
            if (allowForce_ && kernel_->exists(dir(spec.name) + "/force")) {
                // Operator's explicit choice: force makes the module unremovable forever.
                kernel_->write(dir(spec.name) + "/force", "1");
                if (logger_) logger_->warning(what + "; forced by allow-force-transition=true");
                return {};
            }
            if (logger_) logger_->error(what + "; reverting");
            return undoLoad(spec.name, Error(ErrorCode::TransitionStalled, what + "; reverted"));
        }
        if (spec.replace) {
            // Replaced patches: the kernel disabled them and removed their
            // livepatch directory; their modules are still loaded.
            for (const auto& old : before) {
                if (old == spec.name || kernel_->exists(dir(old))) continue;
                if (kernel_->exists("/sys/module/" + old)) {
                    auto s = removeModule(old, cancel);
                    if (!s && logger_) logger_->warning("replaced patch " + old + ": " + s.error().message());
                }
            }
        }
        return {};
    } catch (const std::exception& ex) {
        return Error(ErrorCode::LoadFailed, std::string("loader-klp: ") + ex.what());
    }
}

Status KlpLoader::unload(const std::string& name, const CancelToken* cancel) noexcept {
    try {
        if (!std::regex_match(name, kNameRe)) return Error(ErrorCode::InvalidArgument, "invalid livepatch name");
        if (kernel_->exists(dir(name) + "/enabled")) {
            if (kernel_->read(dir(name) + "/enabled").value_or("") == "1" &&
                !kernel_->write(dir(name) + "/enabled", "0"))
                return Error(ErrorCode::LoadFailed, "cannot disable livepatch " + name);
            std::string stuckIn;
            auto w = waitForTransition(name, cancel, stuckIn);
            if (w == Wait::Cancelled) return Error(ErrorCode::Cancelled, "cancelled");
            if (w == Wait::Stalled)
                return Error(ErrorCode::TransitionStalled,
                             "livepatch " + name + " stuck in transition to " + stuckIn + " while disabling");
        }
        if (!kernel_->exists("/sys/module/" + name)) return {};
        return removeModule(name, cancel);
    } catch (const std::exception& ex) {
        return Error(ErrorCode::LoadFailed, std::string("loader-klp: ") + ex.what());
    }
}

Result<std::vector<LoadedPatch>> KlpLoader::list() noexcept {
    std::vector<LoadedPatch> out;
    for (const auto& n : kernel_->list("/sys/kernel/livepatch")) {
        LoadedPatch p;
        p.name = n;
        // MODULE_VERSION of the loaded module, as the kernel read it from the
        // module's own .modinfo; absent when the module declares none.
        p.version = kernel_->read("/sys/module/" + n + "/version").value_or("");
        p.enabled = kernel_->read(dir(n) + "/enabled").value_or("") == "1";
        p.transitioning = kernel_->read(dir(n) + "/transition").value_or("") == "1";
        out.push_back(p);
    }
    return out;
}

Result<KernelHealth> KlpLoader::health() noexcept {
    KernelHealth h;
    try {
        h.taintMask = std::stoull(kernel_->read("/proc/sys/kernel/tainted").value_or("0"));
    } catch (...) {
    }
    static const std::regex oops(R"((Oops|BUG:|WARNING:|general protection fault))");
    std::istringstream log(kernel_->kernelLog());
    std::string line;
    while (std::getline(log, line))
        if (std::regex_search(line, oops)) ++h.oopsCount;
    return h;
}

}  // namespace livepatch::plugins::klp
