// <data-dir>/catalogue.yaml: per kernel + architecture, its support status
// and its cumulative patches (tarballs in <data-dir>/patches/). Re-read on
// every request so tests and operators can edit it live.
//
// tiers: [{name: canary, soak: 3d}, stable]   # rollout order; uploads land in the first;
//                                      # "stable" (seen by every tier) is always last; a
//                                      # tier with a soak time hands its patches on to the
//                                      # next tier once they have been in it that long with
//                                      # no failed health report from its machines on their kernel
// kernels:
//   - kernel: 5.15.0-100.110-generic
//     architecture: x86_64
//     supported: supported            # | kernel-upgrade-required | kernel-end-of-life | unsupported
//     upgrade-required-date: ""       # optional RFC 3339
//     patches:
//       - file: lp_sample-1.tar.xz
//         name: lp_sample
//         version: "1"
//         published: 2026-11-01T00:00:00Z
//         tier: stable                 # optional; stable patches reach every tier
//         tier-since: 2026-11-02T00:00:00Z  # when it entered its tier (upload, promotion)
//         replace: true
//         fixes: [{name: cve-2023-6270, description: "...", bug: "lp#1", patched: true}]
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <regex>
#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "livepatch/error.h"

namespace lpserver {

struct CatalogueFix {
    std::string name, description, bug;
    bool patched = true;
};

struct CataloguePatch {
    std::string file, name, version, published, tier, tierSince;
    bool replace = true;
    std::vector<CatalogueFix> fixes;
};

struct CatalogueKernel {
    std::string kernel, architecture, supported = "supported", upgradeRequiredDate;
    std::vector<CataloguePatch> patches;
};

livepatch::Result<std::vector<CatalogueKernel>> loadCatalogue(const std::string& path);

// The parsed catalogue, re-read only when the file's mtime or size changed
// (a check-in must not parse YAML; edits still show up at once).
using CatalogueSnapshot = std::shared_ptr<const std::vector<CatalogueKernel>>;
livepatch::Result<CatalogueSnapshot> cachedCatalogue(const std::string& path);

// A tier name: 1-32 of [a-z0-9._-], starting with a letter or digit.
const std::regex& tierNameRe();

struct TierSpec {
    std::string name;
    std::optional<std::chrono::seconds> soak;  // automatic promotion to the next tier
};

// The rollout order from `tiers:` (default: just "stable"), "stable" last
// (and never soaking: there is no tier after it). ConfigInvalid naming the
// entry for a bad name or soak time.
livepatch::Result<std::vector<TierSpec>> tierSpecs(const std::string& path);
livepatch::Result<std::vector<std::string>> catalogueTiers(const std::string& path);

// Read-modify-write of the catalogue under an exclusive lock on <path>.lock
// (replicas sharing the data dir serialize on it), written atomically: a
// reader sees the old file or the new one. An error from edit aborts it.
livepatch::Status editCatalogue(const std::string& path, const std::function<livepatch::Status(YAML::Node&)>& edit);

// SHA-256 and size of a patch file (cached by path + mtime + size).
livepatch::Result<std::pair<std::string, std::uint64_t>> fileDigest(const std::string& path);

}  // namespace lpserver
