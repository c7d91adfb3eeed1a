// The one verifier and publisher of patch files: admin uploads (PUT
// /admin/patches/{file}) and upstream sync both go through it.
#pragma once

#include <string>

#include "catalogue.h"
#include "livepatch/error.h"
#include "package/patch_package.h"
#include "patch_store.h"

namespace lpserver {

// The metadata of a well-formed patch (safe unpack, livepatch.json) whose
// module carries an appended signature. archive is a file in dir (a scratch
// directory is made next to it). Whether the signer is trusted is each
// agent's keyring's decision.
livepatch::Result<livepatch::PatchMetadata> checkSignedPatch(const std::string& archive, const std::string& dir);

// Puts the checked file `staged` (in patches.stagingDir()) into the patch
// store as <file> and lists it in the catalogue in `tier`: the file is
// stored completely before the catalogue names it, and removed again if the
// catalogue does not take it, so agents (on any replica) see the whole patch
// or nothing. An existing file or version is never replaced (AlreadyEnabled).
// The caller removes `staged`.
// verifiedBy: for a mirrored patch, what vouched for its bytes (recorded as
// source: upstream, verified-by: ...); "" for an upload.
livepatch::Status publishStagedPatch(PatchStore& patches, CatalogueStore& catalogue, const std::string& staged,
                                     const std::string& file, const std::string& tier,
                                     const livepatch::PatchMetadata& md, const std::string& verifiedBy = "");

}  // namespace lpserver
