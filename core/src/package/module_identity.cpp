#include "package/module_identity.h"

#include "livepatch/modinfo.h"

namespace livepatch {

namespace {

// A value from the module, fit for a one-line message: control and non-ASCII
// bytes escaped, length bounded.
std::string shown(const std::string& v) {
    std::string out = "\"";
    for (unsigned char c : v.substr(0, 64)) {
        if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
            out += static_cast<char>(c);
        } else {
            static const char hex[] = "0123456789abcdef";
            out += "\\x";
            out += hex[c >> 4];
            out += hex[c & 15];
        }
    }
    return out + (v.size() > 64 ? "...\"" : "\"");
}

Error refused(const std::string& why) { return Error(ErrorCode::PolicyRefused, "module identity: " + why); }

}  // namespace

Result<ModuleIdentity> checkModuleIdentity(std::string_view module, const PatchMetadata& md,
                                           const IdentityPolicy& policy) {
    auto info = parseModInfo(module);
    if (!info) return info.error().wrap("module identity");
    auto field = [&](const char* key) -> Result<std::string> {
        auto v = info->unique(key);
        if (!v) return v.error().wrap("module identity");
        return v->value_or("");
    };
    auto livepatch = field("livepatch"), name = field("name"), vermagic = field("vermagic"), version = field("version");
    for (const auto* r : {&livepatch, &name, &vermagic, &version})
        if (!*r) return r->error();
    if (*livepatch != "Y") return refused("the module is not a livepatch module (its .modinfo has no livepatch=Y)");
    if (*name != md.name)
        return refused("the signed module is named " + shown(*name) + " but the patch metadata says \"" + md.name +
                       "\"");
    const std::string built = vermagic->substr(0, vermagic->find(' '));
    if (built != policy.kernelRelease)
        return refused("the module is built for kernel " + shown(built) + ", running \"" + policy.kernelRelease + "\"");
    if (version->empty() && !policy.allowUnversioned)
        return refused("the signed module declares no version (MODULE_VERSION); the patch metadata's version \"" +
                       md.version +
                       "\" is not signed, so it is not trusted (allow-unversioned-modules=true accepts such modules)");
    // Rollback protection rests on the signed version, never on the metadata's.
    if (!version->empty() && !policy.appliedVersion.empty() && !policy.allowRollback &&
        compareVersions(*version, policy.appliedVersion) < 0)
        return Error(ErrorCode::Rollback, "the signed module is version " + shown(*version) +
                                              ", lower than the applied \"" + policy.appliedVersion +
                                              "\": rollback refused (use `refresh --allow-rollback` to accept it)");
    if (!version->empty() && *version != md.version)
        return refused("the signed module is version " + shown(*version) + " but the patch metadata says \"" +
                       md.version + "\"");
    return ModuleIdentity{*name, *version};
}

}  // namespace livepatch
