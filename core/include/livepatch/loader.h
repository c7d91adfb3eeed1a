// livepatch-agent plugin SDK: loading role.
//
// A loader puts a verified module into a kernel (the real one via
// finit_module + /sys/kernel/livepatch, or a simulated one), waits for the
// livepatch transition, and takes it out again.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "livepatch/plugin.h"
#include "livepatch/verifier.h"

namespace livepatch {

struct KernelInfo {
    std::string release;           // uname -r: "6.1.0-18-amd64"
    std::string versionSignature;  // /proc/version_signature or derived: "5.15.0-100.110-generic"
    std::string architecture;      // "x86_64"
    std::string bootId;            // /proc/sys/kernel/random/boot_id
    bool livepatchSupported = false;
    std::string unsupportedReason;  // why not, when !livepatchSupported
};

struct PatchSpec {
    std::string name;     // livepatch/module name, [a-z0-9_]+
    std::string version;  // patch version from the server
    bool replace = true;  // cumulative "atomic replace" patch
};

struct LoadedPatch {
    std::string name;
    // The version the module itself declares in its signed .modinfo
    // ("version=", i.e. MODULE_VERSION; /sys/module/<name>/version on the
    // real kernel). Empty when the module declares none. Status and
    // reconciliation trust this, never a recorded or offered version.
    std::string version;
    bool enabled = false;
    bool transitioning = false;
};

struct KernelHealth {
    std::uint64_t taintMask = 0;  // /proc/sys/kernel/tainted
    std::uint64_t oopsCount = 0;  // oops/BUG/WARN lines seen in the kernel log
};

class Loader : public Plugin {
public:
    // What kernel is running and whether it can take live patches.
    virtual Result<KernelInfo> probe() noexcept = 0;

    // Load the verified image and wait until the transition completes.
    // Replaced patches (image is cumulative) are cleaned up here.
    virtual Status load(const ModuleImage& image, const PatchSpec& spec, const CancelToken* cancel) noexcept = 0;

    // Disable the patch, wait for the transition, unload the module.
    virtual Status unload(const std::string& name, const CancelToken* cancel) noexcept = 0;

    // Live patches present in the kernel now.
    virtual Result<std::vector<LoadedPatch>> list() noexcept = 0;

    // Snapshot for post-apply health checks.
    virtual Result<KernelHealth> health() noexcept = 0;
};

}  // namespace livepatch
