// A patch as a TUF target's signed `custom` field describes it (written by
// `livepatch-repo add` from the package's own livepatch.json): the one
// reader of those fields, for the agent (engine/signed_catalogue: which
// patch is current) and for livepatch-server's upstream sync (which listed
// patch may be mirrored).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "livepatch/error.h"
#include "package/patch_package.h"
#include "tuf/metadata.h"

namespace livepatch {

struct SignedPatch {
    std::string name, version, kernel, architecture;
    std::string published;  // RFC 3339
    std::string filename;   // the target path's last segment, a plain file name
    std::string sha256;     // from the signed entry's hashes
    std::uint64_t length = 0;
    std::vector<PatchFix> fixes;
};

// nullopt when the target is not a patch (no custom object) or `wanted`
// (given kernel and architecture, checked first) says it is not for the
// caller: a malformed entry for another kernel does not stop this one.
// Protocol error (naming the target and field) for a malformed custom field.
// Signed text is still text from the network: the signer's keys may be the
// attacker's (a compromised targets key until rotation), so every field is
// bounded and printable before it is stored or shown.
Result<std::optional<SignedPatch>> readSignedPatch(
    const tuf::TargetFile& target,
    const std::function<bool(const std::string& kernel, const std::string& architecture)>& wanted);

}  // namespace livepatch
