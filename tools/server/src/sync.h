// Upstream sync (schemas/api/README.md, "Upstream sync"):
//  - every server is an upstream: GET /v1/sync/patches lists, and
//    GET /v1/sync/files/{file} serves (with Range), the patches published to
//    the tier of the sync token in "Authorization: Bearer <token>";
//  - a server started with --upstream mirrors them: on an interval and on
//    demand (POST /admin/sync), filtered by kernel, architecture and
//    flavour, each download resumed from its .part file, checked (length,
//    sha256, then the upload path's verifier) and published to its own first
//    tier. With --upstream-trust-root only a patch the upstream's TUF-signed
//    catalogue lists (same name, version, kernel, architecture, length and
//    sha256) is mirrored, after a full TUF refresh (freeze and rollback fail
//    the run). Every run is recorded (GET /admin/sync/reports, the newest
//    1000 kept). Servers chain: a mirror is also an upstream.
//  - sync tokens are made, listed and revoked through /admin/sync-tokens.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <Poco/JSON/Object.h>

#include "catalogue.h"
#include "livepatch/error.h"
#include "package/signed_patch.h"
#include "patch_store.h"
#include "store.h"

namespace lpserver {

struct SyncOptions {
    std::string upstream;                                    // base URL; "" = this server does not sync
    std::string tokenFile;                                   // the sync token, made on the upstream
    std::string caFile;                                      // CA for an https upstream ("" = system CAs)
    std::chrono::seconds interval{3600};                     // 0 = only on demand
    std::set<std::string> kernels, architectures, flavours;  // empty = all
    // The upstream's TUF root.json, pinned out of band: "" = the listing,
    // its sha256 and the module signature are the checks; set = only what
    // the upstream's signed catalogue lists is mirrored.
    std::string trustRoot;
};

// "kernels=A,B,architectures=x86_64,flavours=generic": a key= starts a
// list, the words after it belong to it. ConfigInvalid names what is wrong.
livepatch::Status parseSyncFilter(const std::string& spec, SyncOptions& into);

// The --upstream-trust-root file: readable, at most the TUF root size
// limit, a root signed by its own root keys. The bytes, or ConfigInvalid.
livepatch::Result<std::string> readSyncTrustRoot(const std::string& path);

// A kernel release's flavour: what follows its last '-' ("generic" for
// 5.15.0-100.110-generic, "64k" for 6.8.0-40-generic-64k); "" without a '-'.
std::string kernelFlavour(const std::string& kernel);

// Whether --sync-filter lets a patch for this kernel and architecture through.
bool syncFilterAccepts(const SyncOptions& filter, const std::string& kernel, const std::string& architecture);

// A UUIDv4 from OpenSSL's CSPRNG: new auth tokens and sync tokens.
std::string randomUuid();

// An answer of the sync API: status and JSON body.
struct SyncAnswer {
    int status = 200;
    std::string body;
};

// Upstream side: the tier the sync token in `authorization` grants, or a 401
// answer saying why not (unknown or revoked, expired). Network errors of the
// store come back as errors (the caller answers 503).
livepatch::Result<std::optional<std::string>> syncTokenTier(Store& store, const std::string& authorization,
                                                            SyncAnswer& refused);

// Upstream side: GET /v1/sync/patches for this tier.
// catalogue: the catalogue file; digests from the patch store.
SyncAnswer syncListing(CatalogueStore& catalogue, PatchStore& patches,
                       const std::function<bool(const CataloguePatch&)>& visible, const std::string& tier);

class Syncer {
public:
    // dataDir keeps the upstream's trusted TUF metadata; downloads are
    // staged in patches.stagingDir() and published through `catalogue`.
    Syncer(SyncOptions options, std::string dataDir, CatalogueStore& catalogue, std::uint64_t maxPatchBytes,
           Store& store, PatchStore& patches);
    ~Syncer();
    void start();  // the interval thread (when an upstream and an interval are set)
    void stop();
    // One run now (after any run in progress); recorded and returned.
    SyncReportRow runNow();
    // A run soon, on the interval thread.
    void trigger();
    // /admin/sync, /admin/sync/reports and /admin/sync-tokens[/revoke].
    // body: the request body (POST). Store failures: Network errors.
    livepatch::Result<SyncAnswer> admin(const std::string& method, const std::string& path, const std::string& query,
                                        const std::string& body);

    // A patch the upstream's signed catalogue lists, and its signed entry
    // (the download is verified against all of its hashes).
    struct SignedTarget {
        livepatch::SignedPatch patch;
        livepatch::tuf::TargetFile target;
    };

private:
    SyncReportRow run();
    // With --upstream-trust-root: the pin, a TUF refresh over the upstream's
    // /v1/tuf/ and the signed patches this server's filter lets through.
    livepatch::Result<std::vector<SignedTarget>> signedCatalogue(const std::string& token);
    // signedTargets: null without --upstream-trust-root. verifiedBy: what
    // vouches for what this run mirrors, recorded in its catalogue entry.
    livepatch::Status syncOne(const std::string& token, const Poco::JSON::Object::Ptr& entry,
                              const std::string& firstTier, const std::vector<SignedTarget>* signedTargets,
                              const std::string& verifiedBy, int& added);
    // Withdraws what was mirrored before this pin unless the signed
    // catalogue vouches for it; returns the withdrawn files.
    livepatch::Result<std::vector<std::string>> recheckMirrored(const std::vector<SignedTarget>& signedTargets,
                                                                const std::string& verifiedBy);
    void loop();

    SyncOptions opt_;
    std::string dataDir_;
    CatalogueStore& catalogue_;
    std::uint64_t maxPatchBytes_;
    Store& store_;
    PatchStore& patches_;
    std::mutex runMu_;
    std::mutex loopMu_;
    std::condition_variable wake_;
    bool stopping_ = false, pending_ = false;
    std::thread thread_;
};

}  // namespace lpserver
