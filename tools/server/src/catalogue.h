// The catalogue: per kernel + architecture, its support status and its
// cumulative patches, and the tiers patches roll out through. One document,
// kept where --catalogue-store says:
//
//   file (default): <data-dir>/catalogue.yaml (or --catalogue FILE), which
//     operators and tests may edit by hand; re-read when it changes.
//   database: revisions in the database's catalogue table, so replicas that
//     share nothing but PostgreSQL share it too. Edited through the admin API
//     (uploads, promotions, GET/PUT /admin/catalogue); at the first start a
//     catalogue.yaml is imported.
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
//       - file: lp_sample-1.tar.xz    # a file in the patch store ([A-Za-z0-9._+-], no path)
//         name: lp_sample
//         version: "1"
//         published: 2026-11-01T00:00:00Z
//         tier: stable                 # optional; stable patches reach every tier
//         tier-since: 2026-11-02T00:00:00Z  # when it entered its tier (upload, promotion)
//         replace: true
//         fixes: [{name: cve-2023-6270, description: "...", bug: "lp#1", patched: true}]
//         source: upstream             # mirrored by upstream sync (absent: uploaded here)
//         verified-by: listing         # what vouched for a mirrored patch's bytes: the
//                                      # upstream's listing alone, or "signed-catalogue:<pin>",
//                                      # its TUF-signed catalogue under the pinned root <pin>
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

class Store;

struct CatalogueFix {
    std::string name, description, bug;
    bool patched = true;
};

enum class PatchSource { Upload, Upstream };

struct CataloguePatch {
    std::string file, name, version, published, tier, tierSince;
    bool replace = true;
    std::vector<CatalogueFix> fixes;
    PatchSource source = PatchSource::Upload;
    std::string verifiedBy;  // mirrored patches: "listing" or "signed-catalogue:<pin>"
};

struct CatalogueKernel {
    std::string kernel, architecture, supported = "supported", upgradeRequiredDate;
    std::vector<CataloguePatch> patches;
};

// A tier name: 1-32 of [a-z0-9._-], starting with a letter or digit.
const std::regex& tierNameRe();

struct TierSpec {
    std::string name;
    std::optional<std::chrono::seconds> soak;  // automatic promotion to the next tier
};

struct Catalogue {
    // The rollout order from `tiers:` (default: just "stable"), "stable"
    // last (and never soaking: there is no tier after it).
    std::vector<TierSpec> tiers;
    std::vector<CatalogueKernel> kernels;
    std::vector<std::string> tierNames() const;
};

// The one parser of a catalogue document: ConfigInvalid naming `where` and
// the entry for anything malformed (a bad tier name or soak time, a patch
// file that is not a plain file name, a non-boolean flag). "" is the empty
// catalogue.
livepatch::Result<Catalogue> parseCatalogue(const std::string& text, const std::string& where);

using CatalogueSnapshot = std::shared_ptr<const Catalogue>;

enum class CatalogueStoreKind { File, Database };

// "file" or "database" (--catalogue-store); ConfigInvalid otherwise.
livepatch::Result<CatalogueStoreKind> parseCatalogueStoreKind(const std::string& text);

// The entity tag of a catalogue document for a conditional replace: the
// SHA-256 of its text (hex).
std::string catalogueEtag(const std::string& text);

// The whole document as stored, with its entity tag.
struct CatalogueDocument {
    std::string text, etag;
};

class CatalogueStore {
public:
    virtual ~CatalogueStore() = default;
    // The parsed catalogue, cheap enough for every check-in: re-read only
    // when it changed (file: its mtime or size; database: its generation,
    // polled at most every kDatabasePoll, so replicas see another replica's
    // edit within that time and this replica's own at once; while the
    // database is unreachable, the last one read).
    virtual livepatch::Result<CatalogueSnapshot> snapshot() = 0;
    // Read-modify-write of the document, atomic against every other writer
    // (file: under an exclusive lock on <file>.lock; database: the next
    // generation, redone on a conflict). `edit` may run more than once and
    // must change nothing but the node; an error from it aborts. The result
    // must parse, or nothing is written.
    virtual livepatch::Status edit(const std::function<livepatch::Status(YAML::Node&)>& edit) = 0;
    virtual livepatch::Result<CatalogueDocument> document() = 0;
    // Replaces the document if its etag is still `ifMatch` ("*": any):
    // Stale when it changed meanwhile (the caller's copy is out of date),
    // ConfigInvalid when `text` does not parse.
    virtual livepatch::Status replace(const std::string& text, const std::string& ifMatch) = 0;
    // What error messages and logs call it ("catalogue /x/catalogue.yaml").
    virtual const std::string& name() const = 0;

    static constexpr std::chrono::milliseconds kDatabasePoll{1000};
};

// A catalogue document is at most this long (a file, an upload through PUT
// /admin/catalogue): thousands of kernels with their patches fit.
constexpr std::uint64_t kMaxCatalogueBytes = 16u << 20;

// file: the file at `path`. database: the store's catalogue table; when it
// has none yet and `path` exists, that file is imported as generation 1.
livepatch::Result<std::unique_ptr<CatalogueStore>> openCatalogueStore(CatalogueStoreKind kind, const std::string& path,
                                                                      Store& store);

// SHA-256 and size of a patch file (cached by path + mtime + size).
livepatch::Result<std::pair<std::string, std::uint64_t>> fileDigest(const std::string& path);

}  // namespace lpserver
