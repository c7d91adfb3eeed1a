// TUF 1.0.x metadata: the four top-level roles and delegated targets, parsed
// strictly from a signed envelope, and written back for the repository tool.
//
// Every parsed role keeps the canonical bytes of its "signed" object exactly
// as received (unknown fields included): signatures cover those bytes, never
// a re-serialisation of the typed fields.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "livepatch/error.h"
#include "tuf/json.h"
#include "tuf/keys.h"

namespace livepatch::tuf {

enum class RoleType { Root, Timestamp, Snapshot, Targets };
const char* roleTypeName(RoleType type) noexcept;  // the "_type" value

struct Signature {
    std::string keyid;
    std::string sig;  // hex
};

// Fields every role has, plus its envelope.
struct Common {
    RoleType type = RoleType::Root;
    std::string specVersion = "1.0.31";
    std::int64_t version = 1;
    std::int64_t expires = 0;  // Unix seconds (UTC)
    Json signedJson;           // the "signed" object as received / to be signed
    std::vector<Signature> signatures;
};

struct RoleKeys {
    std::vector<std::string> keyids;
    std::int64_t threshold = 1;
};

// A metadata file as listed in timestamp (snapshot.json) and snapshot (targets roles).
struct MetaFile {
    std::int64_t version = 1;
    std::optional<std::uint64_t> length;
    std::map<std::string, std::string> hashes;  // algorithm -> lowercase hex
};

struct Root : Common {
    bool consistentSnapshot = true;
    std::map<std::string, PublicKey> keys;  // keyid -> key
    std::map<std::string, RoleKeys> roles;  // "root", "timestamp", "snapshot", "targets"
};

struct Timestamp : Common {
    MetaFile snapshot;  // meta["snapshot.json"]
};

struct Snapshot : Common {
    std::map<std::string, MetaFile> meta;  // "targets.json", "<delegated>.json"
};

struct TargetFile {
    std::string path;
    std::uint64_t length = 0;
    std::map<std::string, std::string> hashes;
    Json custom;  // null if absent
};

struct DelegatedRole {
    std::string name;
    RoleKeys keys;
    bool terminating = false;
    std::vector<std::string> paths;             // shell-style patterns ('*' within a path segment, '?')
    std::vector<std::string> pathHashPrefixes;  // hex prefixes of SHA-256(target path)
    // Whether this role is trusted for `targetPath`.
    bool trustedFor(const std::string& targetPath) const;
};

struct Delegations {
    std::map<std::string, PublicKey> keys;
    std::vector<DelegatedRole> roles;  // in priority order
};

struct Targets : Common {
    std::map<std::string, TargetFile> targets;
    std::optional<Delegations> delegations;
};

// Size limits for metadata from a mirror, checked before parsing (and by
// the fetcher before download).
struct MetadataLimits {
    std::uint64_t rootMaxLength = 512u << 10;
    std::uint64_t timestampMaxLength = 16u << 10;
    std::uint64_t snapshotMaxLength = 2u << 20;
    std::uint64_t targetsMaxLength = 8u << 20;
};

// Parse a signed metadata file. Protocol error (naming the role and field)
// for malformed input or a different "_type"; no signature is checked here.
Result<Root> parseRoot(std::string_view bytes, std::uint64_t maxLength);
Result<Timestamp> parseTimestamp(std::string_view bytes, std::uint64_t maxLength);
Result<Snapshot> parseSnapshot(std::string_view bytes, std::uint64_t maxLength);
Result<Targets> parseTargets(std::string_view bytes, std::uint64_t maxLength);

// At least `role.threshold` distinct keys of role.keyids (looked up in
// `keys`) have a valid signature over md's canonical "signed" bytes.
// SignatureInvalid "<what>: N of M required signatures are valid".
Status verifyThreshold(const Common& md, const std::map<std::string, PublicKey>& keys, const RoleKeys& role,
                       const std::string& what);

// SHA-256 (and SHA-512 if listed) of data equal to every supported hash in
// `hashes`; at least one supported algorithm must be listed.
Status checkHashes(std::string_view data, const std::map<std::string, std::string>& hashes, const std::string& what);

// Expiry as the specification writes it: "YYYY-MM-DDTHH:MM:SSZ".
Result<std::int64_t> parseExpires(const std::string& text);
std::string formatExpires(std::int64_t unixSeconds);

// ---- writing (repository side) ----------------------------------------
// Build the "signed" JSON from the typed fields (the parsed signedJson is
// ignored), sign it with `keys` and return the envelope as pretty JSON.
Json toSignedJson(const Root& root);
Json toSignedJson(const Timestamp& timestamp);
Json toSignedJson(const Snapshot& snapshot);
Json toSignedJson(const Targets& targets);
Result<std::string> signEnvelope(const Json& signedJson, const std::vector<const SigningKey*>& keys);

}  // namespace livepatch::tuf
