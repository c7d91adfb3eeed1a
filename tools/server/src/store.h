// Server state in a database through Poco::Data: SQLite in
// <data-dir>/server.db by default (0600), PostgreSQL for fleets and
// replicas (--database postgresql://...). The schema is versioned
// (schema_migrations); missing migrations are applied at start.
//
// Secrets are kept only as SHA-256 digests: auth tokens, machine tokens,
// and for resource-token machines the digest of the macaroon identifier
// they registered with (their binding).
//
// A check-in does not write: its report and last-seen time are kept in
// memory and written for all machines at once every flush interval (and at
// stop), so its cost does not grow with the fleet or the disk.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "livepatch/error.h"

namespace lpserver {

enum class MachineKind { AuthToken, ResourceToken };

struct Machine {
    MachineKind kind = MachineKind::AuthToken;
    std::string credentialSha256;  // machine token digest, or macaroon identifier digest
    std::string tier;
};

// One machine as the admin API lists it (report: its last check-in body).
struct MachineRow {
    std::string id, kind, tier, report;
    std::int64_t registered = 0, lastSeen = 0;  // unix seconds; lastSeen 0 = never checked in
};

// A sync token as listed (the token itself is never stored).
struct SyncTokenRow {
    std::string name, tier;
    std::int64_t validUntil = 0;  // unix seconds; 0 = no expiry
    std::int64_t created = 0;
};

// One upstream sync run of this server.
struct SyncReportRow {
    std::int64_t startedMs = 0, finishedMs = 0;  // unix milliseconds
    std::string result;                          // "ok" or "failed"
    int added = 0;
    std::string error;  // "" when ok
};

// A patch file kept in the database (--patch-store database).
struct PatchFileInfo {
    std::string sha256;  // lowercase hex
    std::uint64_t length = 0;
};

// One revision of the catalogue kept in the database (--catalogue-store
// database); generation 0 and an empty document when there is none yet.
struct CatalogueRevision {
    std::int64_t generation = 0;
    std::string document;
};

struct StoreOptions {
    std::string dataDir;
    std::string database;  // "" = sqlite in dataDir; "sqlite:PATH"; "postgresql://user:pw@host:port/db"
    std::size_t connections = 8;
    std::chrono::milliseconds flushInterval{1000};
};

class Database;

// Failures of the database itself (down, restarting) come back as
// ErrorCode::Network so the server can answer 503 + Retry-After.
class Store {
public:
    static livepatch::Result<std::unique_ptr<Store>> open(const StoreOptions& options);
    ~Store();

    livepatch::Status addAuthToken(const std::string& token, const std::string& tier);
    livepatch::Result<std::optional<std::string>> tierForAuthToken(const std::string& token);
    // False when no such token (machines it registered keep their own tokens).
    livepatch::Result<bool> removeAuthToken(const std::string& token);
    livepatch::Result<std::map<std::string, std::size_t>> authTokensPerTier();
    livepatch::Result<std::map<std::string, std::size_t>> machinesPerTier();
    // Machines ordered by id, the first `limit` after id `after` ("" = from
    // the start): keyset pages cost the same at any depth of a large fleet.
    livepatch::Result<std::vector<MachineRow>> machines(const std::string& after, std::size_t limit);
    // Returns the new machine token; AlreadyEnabled when the id is taken
    // (a registration never replaces another one: DELETE it first).
    livepatch::Result<std::string> registerWithAuthToken(const std::string& machineId, const std::string& tier);
    // Idempotent for the macaroon that registered the id, AlreadyEnabled for any other.
    livepatch::Status registerResource(const std::string& machineId, const std::string& tier,
                                       const std::string& macaroonIdSha256);
    livepatch::Result<std::optional<Machine>> machine(const std::string& machineId);
    // The machine whose machine token this is (downloads carry no machine id).
    livepatch::Result<std::optional<Machine>> machineByToken(const std::string& machineToken);
    livepatch::Result<bool> removeMachine(const std::string& machineId);
    // Coalesced: remembered now, written at the next flush.
    void checkIn(const std::string& machineId, const std::string& report);
    // A check-in whose report says the patch failed or the kernel oopsed,
    // kept per tier and kernel (coalesced like check-ins): it holds back the
    // automatic promotion of that tier's patches for that kernel.
    void recordHealthFailure(const std::string& machineId, const std::string& tier, const std::string& kernel,
                             const std::string& reason);
    // Whether a failure was recorded for this tier and kernel at or after
    // `since` (unix seconds). Flushes pending writes first.
    livepatch::Result<bool> healthFailureSince(const std::string& tier, const std::string& kernel, std::int64_t since);
    livepatch::Status flush();
    // AlreadyEnabled when the name is taken.
    livepatch::Status addSyncToken(const std::string& name, const std::string& token, const std::string& tier,
                                   std::int64_t validUntil);
    // The token's row (expired or not: the caller says why it refuses).
    livepatch::Result<std::optional<SyncTokenRow>> syncToken(const std::string& token);
    livepatch::Result<std::vector<SyncTokenRow>> syncTokens();
    livepatch::Result<bool> removeSyncToken(const std::string& name);
    // Adds the report and, in the same transaction, deletes all but the
    // newest `keep`: a server syncing every minute for years would otherwise
    // fill its database with reports nobody can list (the admin API shows at
    // most 1000).
    livepatch::Status addSyncReport(const SyncReportRow& report, std::size_t keep = kSyncReportsKept);
    static constexpr std::size_t kSyncReportsKept = 1000;
    // Newest first.
    livepatch::Result<std::vector<SyncReportRow>> syncReports(std::size_t limit);
    // The last report written for a machine (after a flush), "" if none.
    livepatch::Result<std::string> lastReport(const std::string& machineId);

    // Patch files in the database (patch_store.h): one row per file name,
    // its bytes with their SHA-256 and length, written in one statement so
    // every replica sees the whole file or none. Never replaced: false when
    // the name is taken.
    livepatch::Result<bool> addPatchFile(const std::string& name, const std::string& sha256,
                                         const std::string& content);
    livepatch::Result<std::optional<PatchFileInfo>> patchFileInfo(const std::string& name);
    // The stored bytes; TooLarge (nothing read) when the row is longer than maxBytes.
    livepatch::Result<std::optional<std::string>> patchFileContent(const std::string& name, std::uint64_t maxBytes);
    livepatch::Result<bool> removePatchFile(const std::string& name);

    // The catalogue in the database (catalogue.h): the newest revision, its
    // generation alone (what a replica polls), and the next revision, added
    // only if no writer added that generation first (false: read again and
    // redo the edit). The newest kCatalogueRevisionsKept stay, as a record
    // of recent edits.
    livepatch::Result<CatalogueRevision> catalogueHead();
    livepatch::Result<std::int64_t> catalogueGeneration();
    livepatch::Result<bool> addCatalogueRevision(std::int64_t generation, const std::string& document);
    static constexpr std::int64_t kCatalogueRevisionsKept = 100;

private:
    explicit Store(std::unique_ptr<Database> db, std::chrono::milliseconds flushInterval);
    livepatch::Status importStateJson(const std::string& path);
    void flusher();

    struct Seen {
        std::string report;
        std::int64_t at = 0;  // unix seconds
    };
    std::unique_ptr<Database> db_;
    std::chrono::milliseconds flushInterval_;
    std::mutex pendingMu_;
    std::condition_variable wake_;
    bool stopping_ = false;
    std::map<std::string, Seen> pending_;
    struct HealthFailure {
        std::string machineId, tier, kernel, reason;
        std::int64_t at = 0;
    };
    std::vector<HealthFailure> pendingFailures_;
    std::thread flushThread_;
};

}  // namespace lpserver
