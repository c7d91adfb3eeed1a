// The one verifier and publisher of patch files: admin uploads (PUT
// /admin/patches/{file}) and upstream sync both go through it.
#pragma once

#include <string>

#include "livepatch/error.h"
#include "package/patch_package.h"

namespace lpserver {

// The metadata of a well-formed patch (safe unpack, livepatch.json) whose
// module carries an appended signature. archive is a file in dir (a scratch
// directory is made next to it). Whether the signer is trusted is each
// agent's keyring's decision.
livepatch::Result<livepatch::PatchMetadata> checkSignedPatch(const std::string& archive, const std::string& dir);

// Links the checked file `staged` (in dataDir/patches) to patches/<file> and
// lists it in the catalogue in `tier`, under the catalogue lock: agents see
// the whole patch or nothing. An existing file or version is never replaced
// (AlreadyEnabled). The caller removes `staged`.
livepatch::Status publishStagedPatch(const std::string& dataDir, const std::string& staged, const std::string& file,
                                     const std::string& tier, const livepatch::PatchMetadata& md);

}  // namespace lpserver
