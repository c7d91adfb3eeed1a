// The TUF-signed patch catalogue as the engine uses it (issue 15).
//
// With a pinned trust root (`config trust-root=@stdin`), the signed targets
// metadata, not the server's unsigned updates answer, says which patch is
// current for this kernel: its name, version, published time and fixes come
// from the target's signed `custom` field, the download's length and hashes
// from the target entry. The metadata is fetched through the same Transport
// plugin as everything else (so TLS policy, proxies, the request deadline and
// the file:// mirror's confinement apply), from
//   source-type=server: <remote-server>/v1/tuf/metadata/<name>, .../targets/<file>
//   source-type=static: <remote-server>/metadata/<name>,        .../targets/<file>
// The pinned root and the last trusted metadata live in <state>/tuf/ (0700,
// files 0600, atomic); only Updater::refresh() replaces them afterwards,
// through signed root rotation.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "config/config.h"
#include "livepatch/transport.h"
#include "protocol/api_client.h"
#include "state/paths.h"
#include "tuf/updater.h"

namespace livepatch {

// Where the pinned root.json and the trusted metadata are kept.
std::string trustDir(const Paths& paths);

// Whether the operator pinned a trust root (config `trust-root`).
bool trustRootConfigured(const Config& config);

// Whether the source is a plain directory (no registration, no reports).
bool staticSource(const Config& config);

// Check `rootJson` is a TUF root signed by a threshold of its own root keys
// and write it as <state>/tuf/root.json. The metadata trusted under an
// earlier pin is forgotten: a new pin is a new start, chosen by the operator.
Status pinTrustRoot(const Paths& paths, const std::string& rootJson);
// Forget the pin and every trusted metadata file (`config trust-root=`).
Status unpinTrustRoot(const Paths& paths);

// tuf::Fetcher over a Transport: GET <base>/<relativePath> with the limit as
// the transport's size limit (the transport refuses more: endless data), 404
// as NotFound (the end of the root rotation chain), the transport's deadline
// bounding a slow mirror.
class TransportFetcher : public tuf::Fetcher {
public:
    // conditional: send If-None-Match for timestamp.json. Only for a
    // patch server, whose ETag is the content's hash (schemas/api/README.md);
    // a static web server's may not change on every change (nginx: mtime in
    // seconds + size), which would keep an agent on an older copy.
    TransportFetcher(Transport& transport, std::string baseUrl, const CancelToken* cancel, bool conditional = false)
        : transport_(transport), base_(std::move(baseUrl)), cancel_(cancel), conditional_(conditional) {}
    Result<std::string> fetch(const std::string& relativePath, std::uint64_t maxLength) override;
    // If-None-Match with the validator; 304 = not modified.
    Result<Fetched> fetchIfChanged(const std::string& relativePath, std::uint64_t maxLength,
                                   const std::string& validator) override;

private:
    Result<HttpResponse> get(const std::string& relativePath, std::uint64_t maxLength, const std::string& validator);
    Transport& transport_;
    std::string base_;
    const CancelToken* cancel_;
    bool conditional_;
};

// One signed patch for this host: the offer the decide phase works on (all
// fields from signed metadata; url = where the mirror keeps the file) and
// its signed entry, which the download is verified against.
struct SignedOffer {
    PatchOffer offer;
    tuf::TargetFile target;
};

struct SignedCatalogue {
    std::vector<SignedOffer> offers;  // for this kernel and architecture
    std::int64_t timestampVersion = 0;
    std::string expires;  // timestamp.json's expiry, RFC 3339
};

// The TUF base URL of a source: <remote-server>/v1/tuf for a server,
// <remote-server> itself for a static mirror (no trailing slash).
std::string catalogueBaseUrl(const Config& config);

// refresh() (the specification's whole client workflow) and the targets for
// `kernel` / `architecture`, as offers. Errors keep the updater's codes:
// Stale for expired metadata (freeze), SignatureInvalid, Rollback,
// ChecksumMismatch, TooLarge, Protocol (a malformed signed `custom`).
Result<SignedCatalogue> readSignedCatalogue(const Paths& paths, const Config& config, Transport& transport,
                                            const std::string& kernel, const std::string& architecture,
                                            const CancelToken* cancel, std::int64_t nowSeconds);

// The downloaded bytes at `path` against the signed entry (read with the
// signed length + 1 as the limit, so a longer file is refused, not cut).
Status verifyDownloadedTarget(const tuf::TargetFile& target, const std::string& path);

}  // namespace livepatch
