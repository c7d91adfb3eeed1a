// The TUF client: the specification's detailed client workflow (section 5)
// over a small "fetch at most N bytes" interface, so the engine can drive it
// with a Transport plugin, a file:// mirror with DirectoryFetcher, and tests
// with files they tamper with.
//
//   refresh()      5.1 fixed time, 5.2 trusted root, 5.3 root rotation chain
//                  (N+1, signed by old and new root), 5.4 timestamp, 5.5
//                  snapshot, 5.6 top-level targets; every role checked for
//                  threshold, rollback, expiry, length and hashes.
//   findTarget()   5.7 delegations: preorder depth-first, terminating roles,
//                  path patterns / hash prefixes, bounded number of roles.
//   downloadTarget() length-bounded fetch, hash-prefixed name with
//                  consistent snapshots, length + hashes checked.
//
// Errors: SignatureInvalid (threshold not met), Rollback (version lower than
// trusted, or not the one the signed parent lists: mix-and-match),
// ChecksumMismatch (hashes), TooLarge (endless data), Stale (expired: a
// freeze attack or an unmaintained mirror), NotFound, Protocol (malformed).
// Trusted metadata is persisted in `metadataDir` (0700, files 0600, atomic)
// and only ever replaced by metadata that passed every check.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "livepatch/error.h"
#include "tuf/metadata.h"

namespace livepatch::tuf {

// Bytes of one repository file by relative path ("timestamp.json",
// "3.snapshot.json", "x86_64/<hash>.patch.tar.xz"). Must refuse (TooLarge)
// rather than read more than maxLength bytes, and answer NotFound when the
// file does not exist (that ends the root rotation chain).
class Fetcher {
public:
    virtual ~Fetcher() = default;
    virtual Result<std::string> fetch(const std::string& relativePath, std::uint64_t maxLength) = 0;

    // A conditional fetch for the file fetched at every check
    // (timestamp.json): `validator` is what the mirror called the copy we
    // trust (its ETag, "" for none). notModified = the mirror says that copy
    // is still current; otherwise the bytes and their new validator (a safe
    // header value, or ""). A fetcher without conditional requests fetches.
    struct Fetched {
        bool notModified = false;
        std::string bytes;
        std::string validator;
    };
    virtual Result<Fetched> fetchIfChanged(const std::string& relativePath, std::uint64_t maxLength,
                                           const std::string& validator);
};

// A mirror that is a local directory (file:// sources, tests).
class DirectoryFetcher : public Fetcher {
public:
    explicit DirectoryFetcher(std::string baseDir) : base_(std::move(baseDir)) {}
    Result<std::string> fetch(const std::string& relativePath, std::uint64_t maxLength) override;

private:
    std::string base_;
};

struct UpdaterOptions {
    MetadataLimits limits;
    int maxRootRotations = 32;          // per refresh
    int maxDelegations = 32;            // roles visited per target lookup
    std::function<std::int64_t()> now;  // Unix seconds; default: the system clock
};

class Updater {
public:
    // metadataDir holds the pinned trusted root.json (put there out of band)
    // and the last trusted metadata.
    Updater(std::string metadataDir, Fetcher& metadata, UpdaterOptions options = {});

    Status refresh();

    // The target as the delegation graph resolves it; nullopt if no trusted
    // role lists it. Needs a successful refresh().
    Result<std::optional<TargetFile>> findTarget(const std::string& path);
    // Every target any role reachable from targets.json is trusted for
    // (each resolved with findTarget, so delegation limits apply).
    Result<std::vector<TargetFile>> allTargets();

    // Fetch a target (hash-prefixed name under consistent snapshots) with
    // the signed length as limit; returns the bytes once length and hashes match.
    Result<std::string> downloadTarget(const TargetFile& target, Fetcher& targets);
    // Where the mirror keeps a target, relative to its targets/ directory
    // (hash-prefixed under consistent snapshots): for a caller that streams
    // the download itself (Transport.download) and then calls verifyTarget.
    // The path must be isSafeTargetPath().
    std::string targetFileName(const TargetFile& target) const;

    const Root& root() const { return *root_; }
    const std::optional<Timestamp>& timestamp() const { return timestamp_; }
    const std::optional<Snapshot>& snapshot() const { return snapshot_; }

private:
    Status loadTrustedRoot();
    void loadLocalTopLevel();
    Status updateRoot();
    Status updateTimestamp();
    Status updateSnapshot();
    Status updateTargets();
    Status checkFresh(const Common& md, const std::string& what) const;
    Result<const Targets*> loadTargetsRole(const std::string& name, const std::map<std::string, PublicKey>& keys,
                                           const RoleKeys& roleKeys);
    Result<std::string> fetchMetadata(const std::string& name, std::int64_t version, const MetaFile* meta,
                                      std::uint64_t defaultMax);
    std::string statePath(const std::string& role) const;
    Status persist(const std::string& role, const std::string& bytes);
    void forget(const std::string& role);
    void rememberValidator(const std::string& path, const std::string& validator);

    std::string dir_;
    Fetcher& fetcher_;
    UpdaterOptions options_;
    std::int64_t now_ = 0;
    std::optional<Root> root_;
    std::optional<Timestamp> timestamp_;
    std::optional<Snapshot> snapshot_;
    std::map<std::string, Targets> targets_;  // "targets" and delegated roles, by name
    bool refreshed_ = false;
};

// Start trusting `rootJson` in metadataDir: it must be a TUF root signed by
// a threshold of its own root keys (ConfigInvalid, prefixed with `what`,
// otherwise); every file trusted under an earlier pin is forgotten (a new pin
// is a new start, chosen by the operator); then root.json is written (dir
// 0700, file 0600, atomic). The agent's `trust-root` and livepatch-server's
// `--upstream-trust-root` both pin through this.
Status pinRoot(const std::string& metadataDir, const std::string& rootJson, const std::string& what);
// pinRoot's check alone: a TUF root signed by a threshold of its own root
// keys (for a server to refuse a bad --upstream-trust-root at start).
Status checkSelfSignedRoot(const std::string& rootJson, const std::string& what);

// Whether a target path is safe to use as a relative file name on a mirror:
// no absolute path, "." / ".." segments, empty segments, backslashes or
// control characters.
bool isSafeTargetPath(const std::string& path);

// `text` from the network made safe for an error line: non-printable bytes
// become "\xNN", and it is cut at 200 bytes.
std::string printable(const std::string& text);

// Verify downloaded bytes against the signed entry: exact length, then hashes.
Status verifyTarget(const TargetFile& target, std::string_view data);

}  // namespace livepatch::tuf
