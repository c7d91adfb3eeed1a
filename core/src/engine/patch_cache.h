// The cache directory (0700) as the cycle uses it:
//   downloads/<filename>.part      a download in progress (resumable)
//   <kernel signature>/<filename>  verified-intact tarballs: the applied one,
//                                  kept to re-apply without the network
//   work-<id>/                     where one tarball is unpacked and verified
#pragma once

#include <optional>
#include <string>

#include "livepatch/error.h"
#include "state/agent_state.h"

namespace livepatch {

class PatchCache {
public:
    explicit PatchCache(std::string dir) : dir_(std::move(dir)) {}

    // Where the download of `filename` goes (the downloads folder created).
    Result<std::string> partialDownload(const std::string& filename) const;
    static std::string partialName(const std::string& filename) { return filename + ".part"; }

    // An intact download moved under its final name for `kernel`, before it
    // is verified and loaded: a load the process does not live to record
    // can then be adopted with its tarball.
    Result<std::string> keep(const std::string& part, const std::string& kernel, const std::string& filename) const;

    // A fresh folder name to unpack into (removed by the caller).
    std::string workDir(const std::string& seed) const;

    // Everything kept for `kernel` (disable).
    void forgetKernel(const std::string& kernel) const;

    // What interrupted cycles leave behind: work folders, tarballs moved in
    // for a load never recorded, and partial downloads of offers that are no
    // longer current (`keepPart`, the one still offered, stays to resume; not
    // known yet: all stay). Under the cycle lock.
    void cleanInterrupted(const AgentState& st, const std::string& kernel,
                          const std::optional<std::string>& keepPart) const;

private:
    std::string downloads() const;
    std::string dir_;
};

}  // namespace livepatch
