// loader-klp: real Linux livepatch loading.
//
// load:   finit_module(memfd of the verified bytes), retrying EBUSY while
//         another transition runs; then follow
//         /sys/kernel/livepatch/<name>/{enabled,transition} until the
//         transition completes. A transition still running after
//         `transition-timeout` seconds is reported with the state it is
//         stuck in and, by `stalled-transition-policy`, reverted (revert,
//         the default: enabled=0, wait, delete_module) or waited for (wait:
//         until it completes or the operation is cancelled). `force`
//         is never written unless `allow-force-transition=true`. On
//         kernels before 5.1 a `signal` attribute, if present, is poked once.
// replace: cumulative patches disable the ones they replace; those modules
//         stay loaded with no livepatch directory and are unloaded here.
// failure: on any failure after finit_module (no livepatch registered,
//         stalled transition, cancel) the module is disabled and deleted
//         again, so nothing untracked stays in the kernel; if that fails
//         too, the error says the module is still loaded.
// unload: enabled=0, wait for the transition, delete_module; a module with
//         no `enabled` file (already disabled) is just unloaded.
#pragma once

#include <livepatch/loader.h>

#include <memory>

#include "kernel_interface.h"

namespace livepatch::plugins::klp {

class KlpLoader : public Loader {
public:
    KlpLoader();  // real kernel, created at configure() under PluginContext::rootDir
    explicit KlpLoader(std::shared_ptr<KernelInterface> kernel);  // tests
    PluginInfo info() const noexcept override;
    std::vector<ConfigKey> configKeys() const noexcept override;
    Status configure(const PluginContext& ctx) noexcept override;
    Result<KernelInfo> probe() noexcept override;
    Status load(const ModuleImage& image, const PatchSpec& spec, const CancelToken* cancel) noexcept override;
    Status unload(const std::string& name, const CancelToken* cancel) noexcept override;
    Result<std::vector<LoadedPatch>> list() noexcept override;
    Result<KernelHealth> health() noexcept override;

private:
    enum class Wait { Done, Stalled, Cancelled };
    // honourWaitPolicy=false: stop at transition-timeout even under stalled-transition-policy=wait.
    Wait waitForTransition(const std::string& name, const CancelToken* cancel, std::string& stuckIn,
                           bool honourWaitPolicy = true);
    // After a failure past finit_module: disable, wait, delete_module; `why`
    // with what was undone, or LoadFailed naming what is still in the kernel.
    Error undoLoad(const std::string& module, const Error& why);
    Status removeModule(const std::string& name, const CancelToken* cancel);
    std::string dir(const std::string& name) const { return "/sys/kernel/livepatch/" + name; }

    std::shared_ptr<KernelInterface> kernel_;
    bool injected_ = false;
    Clock* clock_ = nullptr;
    Logger* logger_ = nullptr;
    long long timeoutSeconds_ = 60;
    bool allowForce_ = false;
    bool waitOnStall_ = false;  // stalled-transition-policy=wait
};

}  // namespace livepatch::plugins::klp
