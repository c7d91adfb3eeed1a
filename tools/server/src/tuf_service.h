// The reference server's side of the TUF-signed catalogue (issue 15): it
// serves a repository directory written by livepatch-repo under /v1/tuf/
// (metadata/ and targets/, unchanged, as any static mirror would) and keeps
// it fresh with the online keys only: timestamp.json (and snapshot.json) are
// re-signed before they expire. Root and targets keys stay offline: the
// server never needs them, so a compromised server can delay updates at
// most until the timestamp it signed last expires, never choose them.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "livepatch/error.h"

namespace lpserver {

// The repository path for a request path under /v1/tuf/, or nullopt when it
// is not one: metadata/<file> or targets/<segments>, no segment starting with
// "." (so never ".." or a hidden file).
std::optional<std::string> tufRepositoryPath(const std::string& requestPath);

// Re-sign what expires within half of its lifetime: snapshot (with a new
// timestamp) or only the timestamp. True when something was signed. The
// online key files must be 0600 (or stricter) and not symlinks.
livepatch::Result<bool> keepTufFresh(const std::string& repoDir, const std::string& onlineKeysDir, std::int64_t now);

}  // namespace lpserver
