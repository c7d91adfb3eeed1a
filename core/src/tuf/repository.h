// The repository side of TUF, shared by the livepatch-repo tool and tests:
// a directory any static web server can publish.
//
//   <repo>/metadata/root.json, N.root.json     every root version (clients walk N+1)
//   <repo>/metadata/timestamp.json              the only unversioned file
//   <repo>/metadata/N.snapshot.json, N.targets.json   consistent snapshots
//   <repo>/targets/<dir>/<sha256>.<name>        hash-prefixed target files
//
// Keys: root and targets keys sign what clients install and who may sign,
// so they stay offline; snapshot and timestamp keys are online (the server
// re-signs those two every day). Each role has one key and threshold 1
// unless more root keys are given.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "livepatch/error.h"
#include "tuf/keys.h"
#include "tuf/metadata.h"

namespace livepatch::tuf {

struct Expiries {
    std::int64_t root = 365 * 86400;
    std::int64_t targets = 90 * 86400;
    std::int64_t snapshot = 7 * 86400;
    std::int64_t timestamp = 86400;
};

// The current metadata of a repository directory.
struct RepositoryState {
    std::string dir;
    Root root;
    Targets targets;
    Snapshot snapshot;
    Timestamp timestamp;
    std::map<std::string, Targets> delegated;  // delegated targets roles by name
};

class Repository {
public:
    // Create metadata version 1 of every role (targets empty).
    static Result<Repository> create(const std::string& dir, const std::vector<const SigningKey*>& rootKeys,
                                     const SigningKey& targets, const SigningKey& snapshot, const SigningKey& timestamp,
                                     std::int64_t now, const Expiries& expiries = {});
    // Read root.json, timestamp.json and the snapshot/targets they name.
    static Result<Repository> open(const std::string& dir);

    const RepositoryState& state() const { return s_; }
    Expiries& expiries() { return expiries_; }

    // Copy `data` to targets/ under its hash-prefixed name and list it in
    // targets.json (new version, signed with the targets key); `custom` goes
    // into the signed entry. Call publishOnline() afterwards.
    Status addTarget(const std::string& path, const std::string& data, const Json& custom, const SigningKey& targetsKey,
                     std::int64_t now);
    Status removeTarget(const std::string& path, const SigningKey& targetsKey, std::int64_t now);
    // Delegate `paths` (patterns such as "stable/*/*") to a new targets role
    // signed by `roleKeys` (threshold of them), e.g. one role per tier. The
    // role starts empty; name: [a-z0-9._-], not a top-level role name.
    Status delegate(const std::string& name, const std::vector<std::string>& paths, bool terminating,
                    const std::vector<const SigningKey*>& roleKeys, std::int64_t threshold,
                    const SigningKey& targetsKey, std::int64_t now);
    // addTarget for a delegated role, signed by that role's keys.
    Status addDelegatedTarget(const std::string& role, const std::string& path, const std::string& data,
                              const Json& custom, const std::vector<const SigningKey*>& roleKeys, std::int64_t now);

    // New snapshot (listing the current targets roles) and timestamp versions.
    Status publishOnline(const SigningKey& snapshotKey, const SigningKey& timestampKey, std::int64_t now);
    // Only a new timestamp (the daily keep-alive when nothing changed).
    Status resignTimestamp(const SigningKey& timestampKey, std::int64_t now);

    // Replace the keys of `role` ("root", "targets", "snapshot",
    // "timestamp") with `newKeys` in a new root version, signed by the
    // current root keys and (for a root rotation) by the new ones too.
    Status rotateKeys(const std::string& role, const std::vector<const SigningKey*>& newKeys,
                      const std::vector<const SigningKey*>& currentRootKeys, std::int64_t now);
    // New root version with the same keys (to extend its expiry).
    Status resignRoot(const std::vector<const SigningKey*>& rootKeys, std::int64_t now);
    // Sign targets.json again (new version) with the given key, e.g. after a targets key rotation.
    Status resignTargets(const SigningKey& targetsKey, std::int64_t now);

    std::string metadataDir() const;
    std::string targetsDir() const;

private:
    Status writeRoot(const std::vector<const SigningKey*>& keys);
    Status writeTargets(const SigningKey& key);
    Status writeDelegated(const std::string& role, const std::vector<const SigningKey*>& keys);
    Result<TargetFile> storeTargetFile(const std::string& path, const std::string& data, const Json& custom);
    Result<std::string> writeVersioned(const std::string& role, std::int64_t version, const std::string& bytes);

    RepositoryState s_;
    Expiries expiries_;
    std::string targetsBytes_;   // last written N.targets.json (for snapshot length/hashes)
    std::string snapshotBytes_;  // last written N.snapshot.json
    std::map<std::string, std::string> delegatedBytes_;
};

// "dir/name" -> "dir/<sha256>.name": where a consistent-snapshot repository
// keeps a target file.
std::string hashPrefixedPath(const std::string& path, const std::string& sha256);

}  // namespace livepatch::tuf
