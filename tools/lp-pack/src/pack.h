// livepatch-pack: sign a module in the kernel's appended PKCS#7 format
// (what scripts/sign-file produces) and pack a patch tarball.
#pragma once

#include <string>
#include <vector>

#include "livepatch/error.h"

namespace lppack {

// The module's signed .modinfo must carry the patch version: the agent
// trusts only signed bytes, never livepatch.json, for what version it
// loads. Returns the module with "version=<version>" in its .modinfo: as
// it is when it already says so; with the string added (objcopy
// --update-section on the relocatable .ko) when it has none. Refuses a
// module without .modinfo, one that says another version, and an already
// signed one without the version (adding it would break the signature).
livepatch::Result<std::string> embedVersion(const std::string& module, const std::string& version);

// The checks `pack` makes before packing: the module's .modinfo says
// name=spec.name, livepatch=Y and version=spec.version (InvalidArgument
// with the precise mismatch otherwise).
livepatch::Status checkModuleMatches(const std::string& module, const std::string& name, const std::string& version);

// Append "~Module signature appended~" signature to the module bytes.
// hash: sha512 | sha256. The certificate may be PEM or DER.
livepatch::Result<std::string> signModule(const std::string& module, const std::string& keyPem, const std::string& cert,
                                          const std::string& hash);

struct PackSpec {
    std::string name, version, kernel, architecture, modulePath, fixesYaml;
    bool replace = true;
};

// Write livepatch.json + the module into a tar (.tar.xz/.tar.gz/.tar.bz2/.tar by extension).
livepatch::Status packPatch(const PackSpec& spec, const std::string& outPath);

}  // namespace lppack
