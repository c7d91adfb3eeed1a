#include <cstddef>
#include <cstdint>
#include <string>

#include "tuf/metadata.h"

// Every role parser on every input (a mirror chooses which file it sends),
// then the signature check over whatever parsed, against its own keys for root.
extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace livepatch::tuf;
    const std::string bytes(reinterpret_cast<const char*>(data), size);
    const MetadataLimits limits;
    if (auto root = parseRoot(bytes, limits.rootMaxLength)) {
        for (const auto& [name, role] : root->roles) (void)verifyThreshold(*root, root->keys, role, name);
    }
    (void)parseTimestamp(bytes, limits.timestampMaxLength);
    (void)parseSnapshot(bytes, limits.snapshotMaxLength);
    if (auto targets = parseTargets(bytes, limits.targetsMaxLength)) {
        if (targets->delegations)
            for (const auto& role : targets->delegations->roles) {
                (void)verifyThreshold(*targets, targets->delegations->keys, role.keys, role.name);
                (void)role.trustedFor("6.1.0-18-amd64/x86_64/lp-1.tar.xz");
            }
    }
    return 0;
}
