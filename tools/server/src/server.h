// The reference patch server (protocol: schemas/api/README.md).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "admin_auth.h"
#include "catalogue.h"
#include "livepatch/error.h"
#include "patch_store.h"
#include "sync.h"

namespace lpserver {

// Fault injection switches (see tools/server/README.md).
struct Faults {
    int slowMs = 0;                 // delay every response
    bool truncate = false;          // announce Content-Length, send half the download
    bool wrongChecksum = false;     // announce a wrong sha256 in updates
    int htmlError = 0;              // answer every API call with this 5xx and an HTML page
    bool redirectHttp = false;      // downloads 302 to a plain http:// URL
    bool oversized = false;         // updates response padded beyond 8 MiB
    bool wrongContentType = false;  // updates answered as text/html
    int retryAfter = -1;            // first N... : 503 with Retry-After: <value> once per setting
    bool redirect = false;          // downloads 302 to /v1/files/<name> on the same server
    int dripMs = 0;                 // every /v1/ call: 200 and a 100-byte body, one byte per dripMs
};

struct ServerOptions {
    std::string dataDir;
    std::string host = "127.0.0.1";
    unsigned short port = 0;  // 0: any free port
    bool plain = false;       // HTTP instead of HTTPS
    std::string tlsCert, tlsKey;
    std::string tlsMaxVersion;  // "1.1" for a legacy-only server (fault)
    std::string recordDir;
    std::size_t maxRequestBytes = 1u << 20;
    std::uint64_t maxUploadBytes = 256u << 20;  // PUT /admin/patches/{file}
    std::string database;                       // "" = SQLite <dataDir>/server.db; "sqlite:PATH"; "postgresql://..."
    PatchStoreKind patchStore = PatchStoreKind::Filesystem;  // Database: where every replica sees them (patch_store.h)
    // Where the catalogue is kept (catalogue.h): a file others may edit, or
    // the database, which replicas share. `catalogue` is the file, and on
    // the database store the file imported at the first start.
    CatalogueStoreKind catalogueStore = CatalogueStoreKind::File;
    std::string catalogue;    // "" = <dataDir>/catalogue.yaml
    std::size_t threads = 8;  // request threads
    // Database connections, 0 = two per core. Fewer than request threads on
    // purpose: a check-in spends most of its time in the database, and more
    // busy backends than cores only queue in the scheduler (on 2 cores, 8
    // connections gave a p99 of 200 ms where 4 gave 10 ms: RESULTS.md).
    std::size_t databaseConnections = 0;
    std::chrono::milliseconds flushInterval{1000};         // check-ins are written in batches this often
    std::chrono::milliseconds autoPromoteInterval{60000};  // soaked patches are promoted this often; 0 = never
    // A TUF repository written by livepatch-repo, served under /v1/tuf/
    // (public, like a static mirror: everything in it is signed); with the
    // online keys (snapshot.pem, timestamp.pem) the server re-signs
    // timestamp/snapshot before they expire, checked at start and then
    // every tufResignInterval. Root and targets keys are never given to it.
    std::string tufRepo;
    std::string tufOnlineKeys;
    std::chrono::milliseconds tufResignInterval{3600000};
    // Admin login with "Authorization: Bearer <assertion>" is decided by
    // this program of the site's (sso_hook.h); "" = SSO login off.
    std::string adminSsoHook;
    std::chrono::milliseconds adminSsoTimeout{10000};
    Faults faults;
    SyncOptions sync;  // --upstream, --sync-*: mirror an upstream server (sync.h)
};

// Parse "name" or "name=value" into faults; error names the switch.
livepatch::Status applyFault(Faults& faults, const std::string& spec);

class Server {
public:
    explicit Server(ServerOptions options);
    ~Server();
    livepatch::Status start();  // binds, starts threads
    void stop();
    unsigned short port() const;
    std::string baseUrl() const;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

// For tests of other components that download from this server: a
// registered machine with this machine token (tier stable) and `file`
// published in the catalogue, written as a state.json the server imports
// at start, plus a catalogue.yaml. Call before start().
void seedDownloadForTests(const std::string& dataDir, const std::string& machineToken, const std::string& file);

}  // namespace lpserver
