#include "engine/patch_cache.h"

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "crypto/sha256.h"
#include "util/fs.h"

namespace livepatch {

std::string PatchCache::downloads() const { return fs::join(dir_, "downloads"); }

Result<std::string> PatchCache::partialDownload(const std::string& filename) const {
    LP_TRY(fs::ensurePrivateDir(downloads()));
    return fs::join(downloads(), partialName(filename));
}

Result<std::string> PatchCache::keep(const std::string& part, const std::string& kernel,
                                     const std::string& filename) const {
    const std::string keepDir = fs::join(dir_, kernel);
    LP_TRY(fs::ensurePrivateDir(keepDir));
    const std::string kept = fs::join(keepDir, filename);
    if (std::rename(part.c_str(), kept.c_str()) != 0)
        return Error(ErrorCode::Io, "cannot move the downloaded patch into " + keepDir + ": " + std::strerror(errno));
    return kept;
}

std::string PatchCache::workDir(const std::string& seed) const {
    return fs::join(dir_, "work-" + sha256Hex(seed).substr(0, 12));
}

void PatchCache::forgetKernel(const std::string& kernel) const { (void)fs::removeTree(fs::join(dir_, kernel)); }

void PatchCache::cleanInterrupted(const AgentState& st, const std::string& kernel,
                                  const std::optional<std::string>& keepPart) const {
    if (auto entries = fs::listDir(dir_))
        for (const auto& e : *entries)
            if (e.rfind("work-", 0) == 0) (void)fs::removeTree(fs::join(dir_, e));
    const std::string keepDir = fs::join(dir_, kernel);
    if (auto entries = fs::listDir(keepDir))
        for (const auto& e : *entries) {
            const std::string path = fs::join(keepDir, e);
            if ((st.applied && st.applied->cachePath == path) ||
                (st.loadingRecord && st.loadingRecord->cachePath == path))
                continue;
            (void)fs::removeFile(path);
        }
    if (!keepPart) return;
    if (auto entries = fs::listDir(downloads()))
        for (const auto& e : *entries)
            if (e != *keepPart) (void)fs::removeFile(fs::join(downloads(), e));
}

}  // namespace livepatch
