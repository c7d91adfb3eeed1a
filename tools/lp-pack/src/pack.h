// livepatch-pack: sign a module in the kernel's appended PKCS#7 format
// (what scripts/sign-file produces) and pack a patch tarball.
#pragma once

#include <string>
#include <vector>

#include "livepatch/error.h"

namespace lppack {

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
