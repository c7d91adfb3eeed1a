#include "tuf_service.h"

#include <sys/stat.h>

#include <regex>

#include "tuf/repository.h"
#include "util/fs.h"

namespace lpserver {

using livepatch::Error;
using livepatch::ErrorCode;

std::optional<std::string> tufRepositoryPath(const std::string& requestPath) {
    static const std::regex re(
        "^/v1/tuf/(metadata/[A-Za-z0-9_%+-][A-Za-z0-9._%+-]{0,199}|"
        "targets(/[A-Za-z0-9_+~-][A-Za-z0-9._+~-]{0,199}){1,4})$");
    std::smatch m;
    if (!std::regex_match(requestPath, m, re)) return std::nullopt;
    return m[1].str();
}

namespace {

// An online key: a private file of ours, never read through a link.
livepatch::Result<livepatch::tuf::SigningKey> onlineKey(const std::string& dir, const std::string& name) {
    const std::string path = livepatch::fs::join(dir, name);
    struct stat st;
    if (::lstat(path.c_str(), &st) != 0) return Error(ErrorCode::NotFound, "online key " + path + " is missing");
    if (!S_ISREG(st.st_mode) || (st.st_mode & 077) != 0)
        return Error(ErrorCode::Permission,
                     "online key " + path + " must be a regular file readable by its owner only (0600)");
    auto pem = livepatch::fs::readFile(path, 64u << 10);
    if (!pem) return pem.error();
    return livepatch::tuf::SigningKey::fromPem(*pem);
}

}  // namespace

livepatch::Result<bool> keepTufFresh(const std::string& repoDir, const std::string& onlineKeysDir, std::int64_t now) {
    auto repo = livepatch::tuf::Repository::open(repoDir);
    if (!repo) return repo.error();
    const auto& s = repo->state();
    const auto& life = repo->expiries();
    const bool snapshotDue = s.snapshot.expires - now < life.snapshot / 2;
    const bool timestampDue = s.timestamp.expires - now < life.timestamp / 2;
    if (!snapshotDue && !timestampDue) return false;
    auto snapshotKey = onlineKey(onlineKeysDir, "snapshot.pem");
    if (!snapshotKey) return snapshotKey.error();
    auto timestampKey = onlineKey(onlineKeysDir, "timestamp.pem");
    if (!timestampKey) return timestampKey.error();
    auto signedNow =
        snapshotDue ? repo->publishOnline(*snapshotKey, *timestampKey, now) : repo->resignTimestamp(*timestampKey, now);
    if (!signedNow) return signedNow.error();
    return true;
}

}  // namespace lpserver
