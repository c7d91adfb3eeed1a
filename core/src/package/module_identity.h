// The module's own identity, from the signed bytes.
//
// livepatch.json and the server's offer are not signed: a compromised
// server or mirror can say anything in them. The .modinfo strings of the
// module are covered by its signature, so after verification they are the
// only trustworthy statement of what is about to be loaded. The engine
// requires them to agree with the metadata and the running kernel.
#pragma once

#include <string>
#include <string_view>

#include "livepatch/error.h"
#include "package/patch_package.h"

namespace livepatch {

struct ModuleIdentity {
    std::string name;     // .modinfo name=
    std::string version;  // .modinfo version= (MODULE_VERSION); empty when the module declares none
};

struct IdentityPolicy {
    std::string kernelRelease;      // uname -r of the running kernel: vermagic's first word must equal it
    bool allowUnversioned = false;  // config allow-unversioned-modules: accept a module without version=
    std::string appliedVersion;     // version applied on this kernel now ("" = none)
    bool allowRollback = false;     // operator's one-time --allow-rollback
};

// Refuses (PolicyRefused; SignatureInvalid for an unreadable .modinfo) a
// module that is not a livepatch module (livepatch=Y), whose name= differs
// from the metadata's name, whose vermagic is for another kernel, or whose
// version= differs from the metadata's version or is missing (unless
// allowUnversioned). A signed version lower than the applied one is a
// Rollback unless allowed. Values from the module are shown escaped.
Result<ModuleIdentity> checkModuleIdentity(std::string_view module, const PatchMetadata& md,
                                           const IdentityPolicy& policy);

}  // namespace livepatch
