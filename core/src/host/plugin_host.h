// Loads plugin shared objects and hands out role interfaces.
//
// Refused, each with an Error (PluginInvalid) naming the file:
//   * a file or its directory that is group/world-writable, or not owned by
//     root, when the agent runs as root (enforceOwnership);
//   * a library that fails to dlopen (the dlerror text is kept);
//   * a missing or mismatching `livepatch_plugin_abi` export (SDK ABI, C++
//     compiler ABI, libstdc++ string ABI, Poco version), checked before any
//     plugin object is created;
//   * an info().abiVersion that differs from LIVEPATCH_SDK_ABI_VERSION;
//   * a plugin name already loaded from another file.
// A refused plugin is never used; the others still load.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "livepatch/auth.h"
#include "livepatch/error.h"
#include "livepatch/loader.h"
#include "livepatch/plugin.h"
#include "livepatch/transport.h"
#include "livepatch/verifier.h"

namespace livepatch {

struct LoadedPluginInfo {
    PluginInfo info;
    std::string path;
};

class PluginHost {
public:
    struct Options {
        std::vector<std::string> dirs;  // searched in order for *.so
        bool enforceOwnership = true;   // default: geteuid() == 0
    };

    explicit PluginHost(Options options);
    ~PluginHost();  // destroys plugin objects before unloading libraries
    PluginHost(const PluginHost&) = delete;
    PluginHost& operator=(const PluginHost&) = delete;

    // Load every *.so in every dir (missing dirs are skipped). Returns one
    // Error per refused file; accepted plugins stay loaded.
    std::vector<Error> loadAll();
    Status loadFile(const std::string& path);
    // A plugin object made in this process (tests: livepatch/testing/
    // plugins.h), registered through the same checks as a library's
    // (ABI, name, role, duplicates); `origin` stands for its file in
    // listings and errors.
    Status add(std::unique_ptr<Plugin> plugin, const std::string& origin);

    // configure() every plugin; the first failure is returned (naming it).
    Status configureAll(const PluginContext& context);

    const std::vector<LoadedPluginInfo>& loaded() const noexcept;

    Plugin* find(const std::string& name) const noexcept;
    Transport* transportFor(const std::string& scheme) const noexcept;  // first that supports it
    std::vector<Auth*> auths() const;
    Verifier* verifier(const std::string& name) const noexcept;
    Loader* loader(const std::string& name) const noexcept;

    // Default plugin dir for this executable: <exe dir>/../lib/livepatch-agent/plugins,
    // or $SNAP/usr/lib/livepatch-agent/plugins in a snap.
    static std::string defaultPluginDir();

private:
    Status admit(std::unique_ptr<Plugin> plugin, const std::string& path, const std::function<void()>& unload);
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace livepatch
