// loader-simulated: a kernel that lives in a directory, for demos and tests.
//
// Layout under `simulated-kernel-root` (created with defaults when empty):
//   proc/version_signature            "Ubuntu 5.15.0-100.110-generic 5.15.149"
//   proc/sys/kernel/osrelease         "5.15.0-100-generic"
//   proc/sys/kernel/random/boot_id    uuid (a new one = a "reboot")
//   proc/sys/kernel/tainted           taint mask
//   proc/cmdline                      reads "this has been live patched" while a patch is enabled
//   sys/kernel/livepatch/<name>/{enabled,transition,replace}
//   sys/kernel/livepatch/<name>/transition-done-at   wall-clock ms when the transition completes on its own
//   sys/module/<name>/refcnt
//   modules/<name>.ko                 the exact bytes the agent loaded (list() reads
//                                     its .modinfo version= like /sys/module/<name>/version)
//   kmsg.log                          kernel log lines
//   control/transition-delay-ms       simulate a slow transition
//   control/stall                     transition never completes
//   control/refuse-load               load fails with this message (like EKEYREJECTED)
//   control/no-livepatch              kernel without CONFIG_LIVEPATCH
// Same state machine as the real loader: load -> transition -> enabled;
// replace disables and unloads older patches; a stalled transition is
// reverted after `transition-timeout` seconds (default 60). A transition
// completes on its own when its time comes, waited for or not (an agent
// killed mid-transition finds it done).
#pragma once

#include <livepatch/loader.h>

#include <string>

namespace livepatch::plugins {

class SimulatedKernelLoader : public Loader {
public:
    PluginInfo info() const noexcept override;
    std::vector<ConfigKey> configKeys() const noexcept override;
    Status configure(const PluginContext& ctx) noexcept override;
    Result<KernelInfo> probe() noexcept override;
    Status load(const ModuleImage& image, const PatchSpec& spec, const CancelToken* cancel) noexcept override;
    Status unload(const std::string& name, const CancelToken* cancel) noexcept override;
    Result<std::vector<LoadedPatch>> list() noexcept override;
    Result<KernelHealth> health() noexcept override;

    // Create the default layout if the root is empty (idempotent).
    static Status initializeRoot(const std::string& root);

private:
    std::string path(const std::string& rel) const { return root_ + "/" + rel; }
    void startTransition(const std::string& name, bool enable, bool replace);
    void settleTransition(const std::string& name);
    Status waitTransition(const std::string& name, const CancelToken* cancel);
    Status removePatch(const std::string& name);
    void updateCmdline();
    void kmsg(const std::string& line);
    std::string moduleVersion(const std::string& name) const;

    std::string root_;
    Clock* clock_ = nullptr;
    Logger* logger_ = nullptr;
    long long timeoutSeconds_ = 60;
};

}  // namespace livepatch::plugins
