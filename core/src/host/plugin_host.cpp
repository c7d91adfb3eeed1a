#include "host/plugin_host.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <Poco/ClassLoader.h>
#include <Poco/Manifest.h>
#include <Poco/SharedLibrary.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <map>

#include "livepatch/text.h"
#include "util/fs.h"
#include "util/layout.h"

namespace livepatch {

namespace {

Error refuse(const std::string& path, const std::string& why) {
    return Error(ErrorCode::PluginInvalid, "plugin " + path + " refused: " + why);
}

// "k=v k=v ..." of LIVEPATCH_BUILD_ABI.
std::map<std::string, std::string> abiFields(const std::string& abi) {
    std::map<std::string, std::string> out;
    size_t pos = 0;
    while (pos < abi.size()) {
        size_t end = abi.find(' ', pos);
        if (end == std::string::npos) end = abi.size();
        const std::string field = abi.substr(pos, end - pos);
        const size_t eq = field.find('=');
        if (eq != std::string::npos) out[field.substr(0, eq)] = field.substr(eq + 1);
        pos = end + 1;
    }
    return out;
}

// Why a plugin built with `plugin` (its LIVEPATCH_BUILD_ABI) cannot share C++
// objects with this agent, or "" if it can.
std::string abiMismatch(const std::string& plugin) {
    struct Part {
        const char* field;
        const char* what;
    };
    static const Part parts[] = {
        {"sdk-abi", "SDK ABI"},
        {"gxx-abi", "C++ compiler ABI (__GXX_ABI_VERSION)"},
        {"cxx11-abi", "libstdc++ string ABI (_GLIBCXX_USE_CXX11_ABI)"},
        {"poco", "Poco version (POCO_VERSION)"},
    };
    const auto theirs = abiFields(plugin.substr(0, 256)), ours = abiFields(LIVEPATCH_BUILD_ABI);
    for (const auto& p : parts) {
        auto it = theirs.find(p.field);
        const std::string value = it == theirs.end() ? "(none)" : it->second;
        if (value != ours.at(p.field))
            return std::string(p.field) == "sdk-abi"
                       ? "built for SDK ABI " + terminalSafe(value, 40) + ", this agent has ABI " + ours.at(p.field)
                       : std::string("built with ") + p.what + " " + terminalSafe(value, 40) + ", this agent with " +
                             ours.at(p.field) + "; rebuild the plugin with the agent's toolchain and SDK";
    }
    return "";
}

bool roleMatches(Plugin* p, PluginRole role) {
    switch (role) {
    case PluginRole::Transport: return dynamic_cast<Transport*>(p) != nullptr;
    case PluginRole::Auth: return dynamic_cast<Auth*>(p) != nullptr;
    case PluginRole::Verifier: return dynamic_cast<Verifier*>(p) != nullptr;
    case PluginRole::Loader: return dynamic_cast<Loader*>(p) != nullptr;
    }
    return false;
}

}  // namespace

struct PluginHost::Impl {
    Options options;
    Poco::ClassLoader<Plugin> classLoader;
    struct Entry {
        std::unique_ptr<Plugin> object;
        LoadedPluginInfo info;
    };
    std::vector<Entry> entries;  // destroyed before classLoader (declared after)
    std::vector<LoadedPluginInfo> infos;

    ~Impl() {
        entries.clear();  // objects first, then libraries
    }
};

PluginHost::PluginHost(Options options) : impl_(new Impl) { impl_->options = std::move(options); }

PluginHost::~PluginHost() = default;

std::vector<Error> PluginHost::loadAll() {
    std::vector<Error> errors;
    for (const auto& dir : impl_->options.dirs) {
        struct stat st;
        if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) continue;
        auto names = fs::listDir(dir);
        if (!names) {
            errors.push_back(names.error());
            continue;
        }
        for (const auto& n : *names) {
            if (n.size() < 4 || n.compare(n.size() - 3, 3, ".so") != 0) continue;
            auto s = loadFile(fs::join(dir, n));
            if (!s) errors.push_back(s.error());
        }
    }
    return errors;
}

namespace {

// The plugin file, opened once. As root: it and every directory above it
// must be root-owned and not group/world-writable (fs::openRootOnly). The
// library is then loaded through /proc/self/fd/N, so exactly the checked
// file is mapped, whatever happens to the path afterwards.
Result<fs::UniqueFd> openPluginFile(const std::string& path, bool enforceOwnership) {
    if (enforceOwnership) {
        auto fd = fs::openRootOnly(path, "the file", ErrorCode::PluginInvalid);
        if (!fd) return refuse(path, fd.error().message());
        return fd;
    }
    fs::UniqueFd fd(::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK));
    if (fd.get() < 0)
        return refuse(path, errno == ELOOP ? "it is a symlink" : std::string("cannot open: ") + std::strerror(errno));
    struct stat st;
    if (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) return refuse(path, "not a regular file");
    return fd;
}

}  // namespace

Status PluginHost::loadFile(const std::string& path) {
    auto file = openPluginFile(path, impl_->options.enforceOwnership);
    if (!file) return file.error();
    // The descriptor stays open for the life of the process: the dynamic
    // linker knows a library by the name it was opened under, and a library
    // may stay mapped after dlclose (C++ unique symbols), so a reused
    // /proc/self/fd/N would be answered with the earlier library.
    const std::string loadPath = fs::procFdPath(file->release());

    // ABI check before any plugin object exists.
    try {
        Poco::SharedLibrary lib(loadPath);
        if (!lib.hasSymbol("livepatch_plugin_abi")) {
            const bool older = lib.hasSymbol("livepatch_sdk_abi_version");
            lib.unload();
            if (older)
                return refuse(path, std::string("built with an SDK older than ") + LIVEPATCH_SDK_VERSION +
                                        " (no livepatch_plugin_abi export); rebuild it against this SDK");
            return refuse(path, "not a livepatch plugin (no livepatch_plugin_abi export)");
        }
        auto fn = reinterpret_cast<const char* (*)()>(lib.getSymbol("livepatch_plugin_abi"));
        const char* abi = fn();
        const std::string why = abiMismatch(abi ? abi : "");
        lib.unload();
        if (!why.empty()) return refuse(path, why);
    } catch (const Poco::Exception& e) {
        return refuse(path, "cannot load library: " + e.message());
    }

    std::vector<std::unique_ptr<Plugin>> created;
    try {
        impl_->classLoader.loadLibrary(loadPath);
        const auto* manifest = impl_->classLoader.findManifest(loadPath);
        if (!manifest || manifest->size() != 1) {
            impl_->classLoader.unloadLibrary(loadPath);
            return refuse(path, "must export exactly one plugin class (LIVEPATCH_PLUGIN)");
        }
        created.emplace_back(manifest->begin()->create());
    } catch (const Poco::Exception& e) {
        return refuse(path, "cannot load library: " + e.displayText());
    } catch (const std::exception& e) {
        return refuse(path, std::string("plugin constructor failed: ") + e.what());
    }

    return admit(std::move(created.front()), path, [&] {
        try {
            impl_->classLoader.unloadLibrary(loadPath);
        } catch (...) {
        }
    });
}

Status PluginHost::add(std::unique_ptr<Plugin> plugin, const std::string& origin) {
    if (!plugin) return refuse(origin, "no plugin object");
    return admit(std::move(plugin), origin, [] {});
}

// The checks every plugin object passes before it is used, whether it came
// from a library or from add(). `unload` undoes its library when refused.
Status PluginHost::admit(std::unique_ptr<Plugin> created, const std::string& path,
                         const std::function<void()>& unload) {
    Plugin* plugin = created.get();
    PluginInfo info = plugin->info();
    auto reject = [&](const std::string& why) {
        created.reset();
        unload();
        return refuse(path, why);
    };
    if (info.abiVersion != LIVEPATCH_SDK_ABI_VERSION)
        return reject("reports SDK ABI " + std::to_string(info.abiVersion) + ", this agent has ABI " +
                      std::to_string(LIVEPATCH_SDK_ABI_VERSION));
    if (info.name.empty() || info.name.size() > 64 || !std::all_of(info.name.begin(), info.name.end(), [](char c) {
            return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
        }))
        return reject("invalid plugin name \"" + info.name.substr(0, 64) + "\" (use [a-z0-9-])");
    if (!roleMatches(plugin, info.role))
        return reject(std::string("declares role ") + pluginRoleName(info.role) + " but does not implement it");
    for (const auto& e : impl_->entries)
        if (e.info.info.name == info.name)
            return reject("duplicate plugin name \"" + info.name + "\" (already loaded from " + e.info.path + ")");

    Impl::Entry entry;
    entry.object = std::move(created);
    entry.info = LoadedPluginInfo{info, path};
    impl_->infos.push_back(entry.info);
    impl_->entries.push_back(std::move(entry));
    return {};
}

Status PluginHost::configureAll(const PluginContext& context) {
    for (auto& e : impl_->entries) {
        Status s = e.object->configure(context);
        if (!s) return s.error().wrap("plugin " + e.info.info.name);
    }
    return {};
}

const std::vector<LoadedPluginInfo>& PluginHost::loaded() const noexcept { return impl_->infos; }

Plugin* PluginHost::find(const std::string& name) const noexcept {
    for (auto& e : impl_->entries)
        if (e.info.info.name == name) return e.object.get();
    return nullptr;
}

Transport* PluginHost::transportFor(const std::string& scheme) const noexcept {
    for (auto& e : impl_->entries)
        if (auto* t = dynamic_cast<Transport*>(e.object.get()))
            if (t->supportsScheme(scheme)) return t;
    return nullptr;
}

std::vector<Auth*> PluginHost::auths() const {
    std::vector<Auth*> out;
    for (auto& e : impl_->entries)
        if (auto* a = dynamic_cast<Auth*>(e.object.get())) out.push_back(a);
    return out;
}

Verifier* PluginHost::verifier(const std::string& name) const noexcept { return dynamic_cast<Verifier*>(find(name)); }

Loader* PluginHost::loader(const std::string& name) const noexcept { return dynamic_cast<Loader*>(find(name)); }

std::string PluginHost::defaultPluginDir() { return agentLibDir() + "/plugins"; }

}  // namespace livepatch
