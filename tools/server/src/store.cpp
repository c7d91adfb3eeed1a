#include "store.h"

#include <fcntl.h>
#include <unistd.h>

#include <Poco/Data/LOB.h>
#include <Poco/Data/PostgreSQL/Connector.h>
#include <Poco/Data/PostgreSQL/SessionImpl.h>
#include <Poco/Data/SQLite/Connector.h>
#include <Poco/Data/Session.h>
#include <Poco/Data/Statement.h>
#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>
#include <Poco/URI.h>
#include <libpq-fe.h>
#include <openssl/rand.h>

#include <condition_variable>
#include <cstring>
#include <optional>

#include "crypto/sha256.h"
#include "util/fs.h"

namespace lpserver {

using livepatch::Error;
using livepatch::ErrorCode;
using namespace Poco::Data::Keywords;

namespace {

enum class Dialect { SQLite, PostgreSQL };

// Machines per UPDATE statement when check-ins are flushed (3 parameters
// each; SQLite allows 32766 per statement, PostgreSQL 65535).
constexpr std::size_t kRowsPerUpdate = 500;

// Versioned schema: append a migration, never edit an applied one.
struct Migration {
    int version;
    std::vector<std::string> statements;
    std::vector<std::string> postgresqlOnly = {};  // after statements, on PostgreSQL only
};
const std::vector<Migration>& migrations() {
    static const std::vector<Migration> all = {
        {1,
         {"CREATE TABLE auth_tokens (token_sha256 VARCHAR(64) PRIMARY KEY, tier TEXT NOT NULL)",
          "CREATE TABLE machines (id VARCHAR(32) PRIMARY KEY, kind TEXT NOT NULL, credential_sha256 VARCHAR(64) NOT "
          "NULL,"
          " tier TEXT NOT NULL, registered BIGINT NOT NULL, last_seen BIGINT NOT NULL DEFAULT 0, last_report TEXT NOT "
          "NULL DEFAULT '')",
          // Downloads find the machine by its token alone.
          "CREATE INDEX machines_credential ON machines (credential_sha256)"}},
        // Failed health reports: what holds back automatic promotion.
        {2,
         {"CREATE TABLE health_failures (machine_id VARCHAR(32) NOT NULL, tier TEXT NOT NULL, kernel TEXT NOT NULL,"
          " reason TEXT NOT NULL, at BIGINT NOT NULL)",
          "CREATE INDEX health_failures_tier_kernel ON health_failures (tier, kernel, at)"}},
        // Upstream sync: tokens a downstream server syncs with (hashed, as
        // auth tokens), and this server's own sync runs.
        {3,
         {"CREATE TABLE sync_tokens (name VARCHAR(64) PRIMARY KEY, token_sha256 VARCHAR(64) NOT NULL UNIQUE, tier TEXT "
          "NOT NULL,"
          " valid_until BIGINT NOT NULL DEFAULT 0, created BIGINT NOT NULL)",
          "CREATE TABLE sync_reports (id VARCHAR(32) PRIMARY KEY, started_ms BIGINT NOT NULL, finished_ms BIGINT NOT "
          "NULL,"
          " result TEXT NOT NULL, added INTEGER NOT NULL, error TEXT NOT NULL)",
          "CREATE INDEX sync_reports_started ON sync_reports (started_ms)"}},
        // Every check-in rewrites its machine's row (last_seen, last_report:
        // neither indexed). With room left in each page PostgreSQL updates
        // the row in place (a HOT update) instead of adding an entry to both
        // indexes for every flushed check-in; with full pages, as a bulk
        // load leaves them, each flushed check-in also wrote two B-tree
        // pages of a million-row fleet. Applies to pages written from now
        // on (VACUUM FULL machines rewrites an existing table).
        {4, {}, {"ALTER TABLE machines SET (fillfactor = 70)"}},
        // Patch files for --patch-store database: replicas with their own
        // data dirs serve the same files. ${BLOB}: BLOB on SQLite, BYTEA on
        // PostgreSQL.
        {5,
         {"CREATE TABLE patch_files (name VARCHAR(200) PRIMARY KEY, sha256 VARCHAR(64) NOT NULL, length BIGINT NOT "
          "NULL,"
          " content ${BLOB} NOT NULL, created BIGINT NOT NULL)"}},
        // The catalogue for --catalogue-store database, one row per edit:
        // replicas share it, and an edit is one INSERT of the next
        // generation, which fails if another replica wrote that generation
        // first (optimistic locking: no lock is held while an edit runs).
        {6,
         {"CREATE TABLE catalogue (generation BIGINT PRIMARY KEY, document TEXT NOT NULL, created BIGINT NOT NULL)"}},
    };
    return all;
}

const char* kindName(MachineKind k) { return k == MachineKind::AuthToken ? "auth-token" : "resource-token"; }

Poco::Int64 unixNow() {
    return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

std::string randomHex(std::size_t bytes) {
    std::vector<unsigned char> raw(bytes);
    RAND_bytes(raw.data(), static_cast<int>(raw.size()));
    static const char* hex = "0123456789abcdef";
    std::string out;
    for (unsigned char c : raw) {
        out += hex[c >> 4];
        out += hex[c & 15];
    }
    return out;
}

Error alreadyRegistered(const std::string& machineId) {
    return Error(ErrorCode::AlreadyEnabled, "machine " + machineId + " is already registered; deregister it first");
}

// "postgresql://user:pw@host:port/db" -> libpq keyword form, which is what
// Poco's PostgreSQL connector parses.
livepatch::Result<std::string> postgresKeywords(const std::string& url) {
    try {
        Poco::URI u(url);
        std::string out = "host=" + (u.getHost().empty() ? std::string("127.0.0.1") : u.getHost());
        out += " port=" + std::to_string(u.getPort() ? u.getPort() : 5432);
        std::string db = u.getPath().size() > 1 ? u.getPath().substr(1) : "livepatch";
        out += " dbname=" + db;
        const std::string info = u.getUserInfo();
        auto colon = info.find(':');
        if (!info.empty()) out += " user=" + info.substr(0, colon);
        if (colon != std::string::npos) out += " password=" + info.substr(colon + 1);
        for (const auto& kv : u.getQueryParameters()) out += " " + kv.first + "=" + kv.second;
        return out;
    } catch (const Poco::Exception&) {
        return Error(ErrorCode::ConfigInvalid, "--database: expected postgresql://user:password@host:port/dbname");
    }
}

}  // namespace

// A small pool of sessions to one database. SQLite gets one session (its
// writes serialize anyway); PostgreSQL one per server thread. A session that
// failed is dropped and reopened on next use, so the server recovers from a
// database restart by itself.
class Database {
public:
    Database(Dialect d, std::string connector, std::string connection, std::size_t size)
        : dialect_(d), connector_(std::move(connector)), connection_(std::move(connection)), size_(size) {}

    Dialect dialect() const { return dialect_; }

    // "?" placeholders, written once, numbered ($1, $2...) for PostgreSQL.
    std::string sql(const std::string& text) const {
        if (dialect_ == Dialect::SQLite) return text;
        std::string out;
        int n = 0;
        for (char c : text) {
            if (c == '?') out += "$" + std::to_string(++n);
            else out += c;
        }
        return out;
    }

    // One pooled connection, with the check-in's lookup prepared once (so a
    // check-in is one round trip, not prepare + execute + deallocate).
    struct Conn {
        explicit Conn(Poco::Data::Session s) : session(std::move(s)) {}
        Poco::Data::Session session;
        std::string byIdArg, kind, cred, tier;
        std::optional<Poco::Data::Statement> byId;
    };

    // Runs fn(session); Poco::Data failures become ErrorCode::Network.
    template <typename F>
    auto with(const char* what, F&& fn) -> livepatch::Result<decltype(fn(std::declval<Poco::Data::Session&>()))> {
        return withConn(what, [&](Conn& c) { return fn(c.session); });
    }
    template <typename F>
    auto withConn(const char* what, F&& fn) -> livepatch::Result<decltype(fn(std::declval<Conn&>()))> {
        std::unique_ptr<Conn> s;
        try {
            s = lease();
            auto r = fn(*s);
            release(std::move(s));
            return r;
        } catch (const Poco::Exception& e) {
            discard(std::move(s));
            return Error(ErrorCode::Network, std::string("database unavailable (") + what + "): " + e.displayText());
        } catch (const std::exception& e) {
            discard(std::move(s));
            return Error(ErrorCode::Network, std::string("database unavailable (") + what + "): " + e.what());
        }
    }

private:
    std::unique_ptr<Conn> lease() {
        std::unique_lock<std::mutex> l(mu_);
        cv_.wait(l, [&] { return !idle_.empty() || open_ < size_; });
        if (!idle_.empty()) {
            auto s = std::move(idle_.back());
            idle_.pop_back();
            return s;
        }
        ++open_;
        l.unlock();
        try {
            if (dialect_ == Dialect::PostgreSQL && PQping(connection_.c_str()) != PQPING_OK)
                throw Poco::Data::ConnectionFailedException("the database does not answer");
            auto s = std::make_unique<Conn>(Poco::Data::Session(connector_, connection_));
            closeBroken();
            if (dialect_ == Dialect::SQLite) {
                // Another process on the same file (a second server) waits
                // for the lock instead of failing at once.
                s->session << "PRAGMA busy_timeout = 5000", now;
                s->session << "PRAGMA journal_mode = WAL", now;
                s->session << "PRAGMA synchronous = NORMAL", now;
            }
            return s;
        } catch (...) {
            dropped();
            throw;
        }
    }
    void release(std::unique_ptr<Conn> s) {
        std::lock_guard<std::mutex> l(mu_);
        idle_.push_back(std::move(s));
        cv_.notify_one();
    }
    // A session that failed may be broken: closed, not pooled. (A failed
    // lease() has already given its slot back.)
    void discard(std::unique_ptr<Conn> s) {
        if (!s) return;
        if (dialect_ == Dialect::PostgreSQL && !pgHandle(*s).isConnected()) {
            s->byId.reset();  // its prepared statement died with the connection
            std::lock_guard<std::mutex> l(brokenMu_);
            broken_.push_back(std::move(s));
        }
        try {
            s.reset();
        } catch (...) {
        }
        dropped();
    }

    // Poco 1.12's PostgreSQL SessionHandle frees its PGconn only while the
    // connection is up (SessionHandle::disconnect), so every failed connect
    // and every connection the database dropped would leak libpq's ~70 KB,
    // on each request of an outage. Hence PQping before a connect (it frees
    // what it allocates), and sessions whose connection broke are kept until
    // the database answers again, then reset (reconnected) so that closing
    // them frees them. At most one per pooled session per outage.
    static Poco::Data::PostgreSQL::SessionHandle& pgHandle(Conn& c) {
        return static_cast<Poco::Data::PostgreSQL::SessionImpl*>(c.session.impl())->handle();
    }
    void closeBroken() {
        std::vector<std::unique_ptr<Conn>> broken;
        {
            std::lock_guard<std::mutex> l(brokenMu_);
            broken.swap(broken_);
        }
        for (auto& c : broken) {
            bool up = false;
            try {
                up = pgHandle(*c).reset();
                if (up) c.reset();
            } catch (...) {
            }
            if (!up) {
                std::lock_guard<std::mutex> l(brokenMu_);
                broken_.push_back(std::move(c));
            }
        }
    }
    void dropped() {
        std::lock_guard<std::mutex> l(mu_);
        --open_;
        cv_.notify_one();
    }

    Dialect dialect_;
    std::string connector_, connection_;
    std::size_t size_;
    std::mutex mu_;
    std::condition_variable cv_;
    std::vector<std::unique_ptr<Conn>> idle_;
    std::size_t open_ = 0;
    std::mutex brokenMu_;
    std::vector<std::unique_ptr<Conn>> broken_;  // PostgreSQL only, see closeBroken()
};

namespace {

// fn between `begin` and COMMIT; ROLLBACK (best effort) when it throws, so a
// pooled session is not handed on inside a half-done transaction.
template <typename F>
void inTransaction(Poco::Data::Session& s, const char* begin, F&& fn) {
    s << begin, now;
    try {
        fn();
        s << "COMMIT", now;
    } catch (...) {
        try {
            s << "ROLLBACK", now;
        } catch (...) {
        }
        throw;
    }
}

// Applies the migrations this database lacks, in one transaction; replicas
// starting together serialize on a lock (PostgreSQL advisory lock, SQLite
// BEGIN IMMEDIATE).
livepatch::Status migrate(Database& db) {
    auto r = db.with("migrate", [&](Poco::Data::Session& s) {
        s << "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied BIGINT NOT NULL)", now;
        inTransaction(s, db.dialect() == Dialect::SQLite ? "BEGIN IMMEDIATE" : "BEGIN", [&] {
            if (db.dialect() == Dialect::PostgreSQL) s << "SELECT pg_advisory_xact_lock(7104543011)", now;
            int current = 0;
            s << "SELECT COALESCE(MAX(version), 0) FROM schema_migrations", into(current), now;
            for (const auto& m : migrations()) {
                if (m.version <= current) continue;
                for (std::string stmt : m.statements) {
                    const auto at = stmt.find("${BLOB}");
                    if (at != std::string::npos)
                        stmt.replace(at, 7, db.dialect() == Dialect::SQLite ? "BLOB" : "BYTEA");
                    s << stmt, now;
                }
                if (db.dialect() == Dialect::PostgreSQL)
                    for (const auto& stmt : m.postgresqlOnly) s << stmt, now;
                Poco::Int64 at = unixNow();
                int v = m.version;
                s << db.sql("INSERT INTO schema_migrations (version, applied) VALUES (?, ?)"), use(v), use(at), now;
            }
        });
        return 0;
    });
    if (!r) return r.error();
    return {};
}

}  // namespace

livepatch::Result<std::unique_ptr<Store>> Store::open(const StoreOptions& o) {
    static std::once_flag registered;
    std::call_once(registered, [] {
        Poco::Data::SQLite::Connector::registerConnector();
        Poco::Data::PostgreSQL::Connector::registerConnector();
    });
    std::unique_ptr<Database> db;
    if (o.database.rfind("postgresql://", 0) == 0 || o.database.rfind("postgres://", 0) == 0) {
        auto kw = postgresKeywords(o.database);
        if (!kw) return kw.error();
        db = std::make_unique<Database>(Dialect::PostgreSQL, "PostgreSQL", *kw, o.connections);
    } else if (o.database.empty() || o.database.rfind("sqlite:", 0) == 0) {
        const std::string path = o.database.empty() ? o.dataDir + "/server.db" : o.database.substr(7);
        // Created 0600 before SQLite opens it; its -wal/-shm files copy the mode.
        int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0) return Error(ErrorCode::Io, "cannot open database " + path + ": " + std::strerror(errno));
        ::close(fd);
        db = std::make_unique<Database>(Dialect::SQLite, "SQLite", path, 1);
    } else {
        return Error(ErrorCode::ConfigInvalid,
                     "--database: expected sqlite:PATH or postgresql://user:password@host:port/dbname");
    }
    LP_TRY(migrate(*db));
    std::unique_ptr<Store> store(new Store(std::move(db), o.flushInterval));
    const std::string legacy = o.dataDir + "/state.json";
    if (::access(legacy.c_str(), F_OK) == 0) LP_TRY(store->importStateJson(legacy));
    return store;
}

Store::Store(std::unique_ptr<Database> db, std::chrono::milliseconds flushInterval)
    : db_(std::move(db)), flushInterval_(flushInterval), flushThread_([this] { flusher(); }) {}

Store::~Store() {
    {
        std::lock_guard<std::mutex> l(pendingMu_);
        stopping_ = true;
    }
    wake_.notify_all();
    flushThread_.join();
    (void)flush();
}

// state.json of earlier versions: imported once, then renamed so it is not
// imported again (and kept for the operator).
livepatch::Status Store::importStateJson(const std::string& path) {
    auto text = livepatch::fs::readFile(path);
    if (!text) return text.error();
    Poco::JSON::Object::Ptr o;
    try {
        o = Poco::JSON::Parser().parse(*text).extract<Poco::JSON::Object::Ptr>();
    } catch (...) {
        return Error(ErrorCode::StateCorrupt, path + " is not a valid server state file");
    }
    auto r = db_->with("import state.json", [&](Poco::Data::Session& s) {
        s << "BEGIN", now;
        auto addToken = [&](std::string digest, std::string tier) {
            s << db_->sql("INSERT INTO auth_tokens (token_sha256, tier) VALUES (?, ?) ON CONFLICT DO NOTHING"),
                use(digest), use(tier), now;
        };
        if (auto plain = o->getObject("auth-tokens"))
            for (const auto& k : plain->getNames()) addToken(livepatch::sha256Hex(k), plain->getValue<std::string>(k));
        if (auto hashed = o->getObject("auth-token-sha256"))
            for (const auto& k : hashed->getNames()) addToken(k, hashed->getValue<std::string>(k));
        if (auto machines = o->getObject("machines"))
            for (const auto& id : machines->getNames()) {
                auto m = machines->getObject(id);
                std::string mid = id, kind = m->getValue<std::string>("kind"),
                            cred = m->getValue<std::string>("token-sha256"), tier = m->getValue<std::string>("tier"),
                            report = m->optValue<std::string>("last-report", "");
                Poco::Int64 at = unixNow();
                s << db_->sql(
                    "INSERT INTO machines (id, kind, credential_sha256, tier, registered, last_report) VALUES (?, ?, "
                    "?, ?, ?, ?)"
                    " ON CONFLICT DO NOTHING"),
                    use(mid), use(kind), use(cred), use(tier), use(at), use(report), now;
            }
        s << "COMMIT", now;
        return 0;
    });
    if (!r) return r.error();
    if (::rename(path.c_str(), (path + ".imported").c_str()) != 0)
        return Error(ErrorCode::Io, "cannot rename " + path + " after importing it: " + std::strerror(errno));
    return {};
}

livepatch::Status Store::addAuthToken(const std::string& token, const std::string& tier) {
    auto r = db_->with("add auth token", [&](Poco::Data::Session& s) {
        std::string digest = livepatch::sha256Hex(token), t = tier;
        s << db_->sql(
            "INSERT INTO auth_tokens (token_sha256, tier) VALUES (?, ?) ON CONFLICT (token_sha256) DO UPDATE SET tier "
            "= excluded.tier"),
            use(digest), use(t), now;
        return 0;
    });
    if (!r) return r.error();
    return {};
}

livepatch::Result<std::optional<std::string>> Store::tierForAuthToken(const std::string& token) {
    // Looked up by digest: the lookup's timing says nothing about the token.
    return db_->with("auth token", [&](Poco::Data::Session& s) -> std::optional<std::string> {
        std::string digest = livepatch::sha256Hex(token), stored, tier;
        s << db_->sql("SELECT token_sha256, tier FROM auth_tokens WHERE token_sha256 = ?"), into(stored), into(tier),
            use(digest), now;
        if (stored.empty() || !livepatch::digestEquals(stored, digest)) return std::nullopt;
        return tier;
    });
}

livepatch::Result<bool> Store::removeAuthToken(const std::string& token) {
    return db_->with("remove auth token", [&](Poco::Data::Session& s) {
        std::string digest = livepatch::sha256Hex(token);
        Poco::Data::Statement st = (s << db_->sql("DELETE FROM auth_tokens WHERE token_sha256 = ?"), use(digest));
        return st.execute() > 0;
    });
}

namespace {
// Rows of `table` counted per tier.
livepatch::Result<std::map<std::string, std::size_t>> countPerTier(Database& db, const std::string& table) {
    return db.with("count per tier", [&](Poco::Data::Session& s) {
        std::vector<std::string> tiers;
        std::vector<Poco::Int64> counts;
        s << "SELECT tier, COUNT(*) FROM " + table + " GROUP BY tier", into(tiers), into(counts), now;
        std::map<std::string, std::size_t> out;
        for (std::size_t i = 0; i < tiers.size(); ++i) out[tiers[i]] = static_cast<std::size_t>(counts[i]);
        return out;
    });
}
}  // namespace

livepatch::Result<std::map<std::string, std::size_t>> Store::authTokensPerTier() {
    return countPerTier(*db_, "auth_tokens");
}

livepatch::Result<std::map<std::string, std::size_t>> Store::machinesPerTier() {
    return countPerTier(*db_, "machines");
}

livepatch::Result<std::vector<MachineRow>> Store::machines(const std::string& after, std::size_t limit) {
    return db_->with("list machines", [&](Poco::Data::Session& s) {
        std::vector<std::string> ids, kinds, tiers, reports;
        std::vector<Poco::Int64> registered, seen;
        std::string from = after;
        Poco::Int64 n = static_cast<Poco::Int64>(limit);
        s << db_->sql(
            "SELECT id, kind, tier, last_report, registered, last_seen FROM machines WHERE id > ? ORDER BY id LIMIT ?"),
            into(ids), into(kinds), into(tiers), into(reports), into(registered), into(seen), use(from), use(n), now;
        std::vector<MachineRow> out(ids.size());
        for (std::size_t i = 0; i < ids.size(); ++i)
            out[i] = MachineRow{ids[i], kinds[i], tiers[i], reports[i], registered[i], seen[i]};
        return out;
    });
}

namespace {
// Inserts the machine unless its id exists; true when inserted.
bool insertMachine(Database& db, Poco::Data::Session& s, std::string id, MachineKind kind, std::string cred,
                   std::string tier) {
    std::string k = kindName(kind);
    Poco::Int64 at = unixNow();
    Poco::Data::Statement st =
        (s << db.sql("INSERT INTO machines (id, kind, credential_sha256, tier, registered) VALUES (?, ?, ?, ?, ?)"
                     " ON CONFLICT DO NOTHING"),
         use(id), use(k), use(cred), use(tier), use(at));
    return st.execute() > 0;
}

std::optional<Machine> selectMachine(Database& db, Poco::Data::Session& s, const std::string& column,
                                     std::string value) {
    std::string kind, cred, tier;
    s << db.sql("SELECT kind, credential_sha256, tier FROM machines WHERE " + column + " = ?"), into(kind), into(cred),
        into(tier), use(value), limit(1), now;
    if (kind.empty()) return std::nullopt;
    return Machine{kind == "auth-token" ? MachineKind::AuthToken : MachineKind::ResourceToken, cred, tier};
}
}  // namespace

livepatch::Result<std::string> Store::registerWithAuthToken(const std::string& machineId, const std::string& tier) {
    const std::string token = randomHex(32);
    auto inserted = db_->with("register", [&](Poco::Data::Session& s) {
        return insertMachine(*db_, s, machineId, MachineKind::AuthToken, livepatch::sha256Hex(token), tier);
    });
    if (!inserted) return inserted.error();
    if (!*inserted) return alreadyRegistered(machineId);
    return token;
}

livepatch::Status Store::registerResource(const std::string& machineId, const std::string& tier,
                                          const std::string& macaroonIdSha256) {
    auto r = db_->with("register", [&](Poco::Data::Session& s) -> int {
        if (insertMachine(*db_, s, machineId, MachineKind::ResourceToken, macaroonIdSha256, tier)) return 1;
        auto m = selectMachine(*db_, s, "id", machineId);
        return m && m->kind == MachineKind::ResourceToken &&
                       livepatch::digestEquals(m->credentialSha256, macaroonIdSha256)
                   ? 1
                   : 0;
    });
    if (!r) return r.error();
    if (!*r) return alreadyRegistered(machineId);
    return {};
}

livepatch::Result<std::optional<Machine>> Store::machine(const std::string& machineId) {
    return db_->withConn("machine", [&](Database::Conn& c) -> std::optional<Machine> {
        if (!c.byId)
            c.byId.emplace((c.session << db_->sql("SELECT kind, credential_sha256, tier FROM machines WHERE id = ?"),
                            into(c.kind), into(c.cred), into(c.tier), useRef(c.byIdArg)));
        c.byIdArg = machineId;
        c.kind.clear();
        if (c.byId->execute() == 0 || c.kind.empty()) return std::nullopt;
        return Machine{c.kind == "auth-token" ? MachineKind::AuthToken : MachineKind::ResourceToken, c.cred, c.tier};
    });
}

livepatch::Result<std::optional<Machine>> Store::machineByToken(const std::string& machineToken) {
    const std::string digest = livepatch::sha256Hex(machineToken);
    return db_->with("machine", [&](Poco::Data::Session& s) -> std::optional<Machine> {
        auto m = selectMachine(*db_, s, "credential_sha256", digest);
        if (!m || m->kind != MachineKind::AuthToken || !livepatch::digestEquals(m->credentialSha256, digest))
            return std::nullopt;
        return m;
    });
}

livepatch::Result<bool> Store::removeMachine(const std::string& machineId) {
    {
        std::lock_guard<std::mutex> l(pendingMu_);
        pending_.erase(machineId);
    }
    return db_->with("deregister", [&](Poco::Data::Session& s) {
        std::string id = machineId;
        Poco::Data::Statement st = (s << db_->sql("DELETE FROM machines WHERE id = ?"), use(id));
        return st.execute() > 0;
    });
}

void Store::checkIn(const std::string& machineId, const std::string& report) {
    std::lock_guard<std::mutex> l(pendingMu_);
    pending_[machineId] = Seen{report, unixNow()};
}

void Store::recordHealthFailure(const std::string& machineId, const std::string& tier, const std::string& kernel,
                                const std::string& reason) {
    std::lock_guard<std::mutex> l(pendingMu_);
    // Bounded: a fleet in trouble reports the same thing over and over.
    if (pendingFailures_.size() < 10000)
        pendingFailures_.push_back(HealthFailure{machineId, tier, kernel, reason, unixNow()});
}

livepatch::Result<bool> Store::healthFailureSince(const std::string& tier, const std::string& kernel,
                                                  std::int64_t since) {
    LP_TRY(flush());
    return db_->with("health failures", [&](Poco::Data::Session& s) {
        std::string t = tier, k = kernel;
        Poco::Int64 from = since, count = 0;
        s << db_->sql("SELECT COUNT(*) FROM health_failures WHERE tier = ? AND kernel = ? AND at >= ?"), into(count),
            use(t), use(k), use(from), now;
        return count > 0;
    });
}

livepatch::Status Store::flush() {
    std::map<std::string, Seen> batch;
    std::vector<HealthFailure> failures;
    {
        std::lock_guard<std::mutex> l(pendingMu_);
        batch.swap(pending_);
        failures.swap(pendingFailures_);
    }
    if (batch.empty() && failures.empty()) return {};
    auto r = db_->with("record check-ins", [&](Poco::Data::Session& s) {
        std::vector<std::string> ids, reports;
        std::vector<Poco::Int64> ats;
        for (auto& kv : batch) {
            ids.push_back(kv.first);
            reports.push_back(kv.second.report);
            ats.push_back(kv.second.at);
        }
        s << "BEGIN", now;
        // One commit (one fsync) for the batch, and one statement per
        // kRowsPerUpdate machines: row by row, the flush of a busy second
        // (thousands of check-ins) was thousands of round trips competing
        // with the check-ins themselves for the two cores.
        for (std::size_t first = 0; first < ids.size(); first += kRowsPerUpdate) {
            const std::size_t n = std::min(kRowsPerUpdate, ids.size() - first);
            std::string sql = "UPDATE machines SET last_report = v.column2, last_seen = v.column3 FROM (VALUES ";
            for (std::size_t i = 0; i < n; ++i) sql += i ? ", (?, ?, CAST(? AS BIGINT))" : "(?, ?, CAST(? AS BIGINT))";
            sql += ") AS v WHERE machines.id = v.column1";
            Poco::Data::Statement st(s);
            st << db_->sql(sql);
            for (std::size_t i = first; i < first + n; ++i) st, use(ids[i]), use(reports[i]), use(ats[i]);
            st.execute();
        }
        for (auto& f : failures)
            s << db_->sql("INSERT INTO health_failures (machine_id, tier, kernel, reason, at) VALUES (?, ?, ?, ?, ?)"),
                use(f.machineId), use(f.tier), use(f.kernel), use(f.reason), use(f.at), now;
        s << "COMMIT", now;
        return 0;
    });
    if (!r) {
        // Put the batch back (newer check-ins win) so a database restart loses nothing.
        std::lock_guard<std::mutex> l(pendingMu_);
        for (auto& kv : batch) pending_.emplace(kv.first, kv.second);
        pendingFailures_.insert(pendingFailures_.begin(), failures.begin(), failures.end());
        return r.error();
    }
    return {};
}

livepatch::Result<std::string> Store::lastReport(const std::string& machineId) {
    return db_->with("machine report", [&](Poco::Data::Session& s) {
        std::string id = machineId, report;
        s << db_->sql("SELECT last_report FROM machines WHERE id = ?"), into(report), use(id), now;
        return report;
    });
}

livepatch::Result<bool> Store::addPatchFile(const std::string& name, const std::string& sha256,
                                            const std::string& content) {
    return db_->with("add patch file", [&](Poco::Data::Session& s) {
        std::string n = name, digest = sha256;
        Poco::Int64 length = static_cast<Poco::Int64>(content.size()), at = unixNow();
        Poco::Data::BLOB bytes(reinterpret_cast<const unsigned char*>(content.data()), content.size());
        Poco::Data::Statement st =
            (s << db_->sql("INSERT INTO patch_files (name, sha256, length, content, created) VALUES (?, ?, ?, ?, ?)"
                           " ON CONFLICT DO NOTHING"),
             use(n), use(digest), use(length), use(bytes), use(at));
        return st.execute() > 0;
    });
}

livepatch::Result<std::optional<PatchFileInfo>> Store::patchFileInfo(const std::string& name) {
    return db_->with("patch file", [&](Poco::Data::Session& s) -> std::optional<PatchFileInfo> {
        std::string n = name, digest;
        Poco::Int64 length = -1;
        s << db_->sql("SELECT sha256, length FROM patch_files WHERE name = ?"), into(digest), into(length), use(n),
            limit(1), now;
        if (digest.empty() || length < 0) return std::nullopt;
        return PatchFileInfo{digest, static_cast<std::uint64_t>(length)};
    });
}

livepatch::Result<std::optional<std::string>> Store::patchFileContent(const std::string& name, std::uint64_t maxBytes) {
    auto info = patchFileInfo(name);
    if (!info) return info.error();
    if (!*info) return std::optional<std::string>();
    // Bounded before a byte of it is fetched.
    if ((*info)->length > maxBytes) return Error(ErrorCode::TooLarge, "patch file " + name + " over the size limit");
    return db_->with("patch file content", [&](Poco::Data::Session& s) -> std::optional<std::string> {
        std::string n = name;
        std::vector<Poco::Data::BLOB> bytes;
        s << db_->sql("SELECT content FROM patch_files WHERE name = ?"), into(bytes), use(n), limit(1), now;
        if (bytes.empty()) return std::nullopt;
        return std::string(reinterpret_cast<const char*>(bytes[0].rawContent()), bytes[0].size());
    });
}

livepatch::Result<bool> Store::removePatchFile(const std::string& name) {
    return db_->with("remove patch file", [&](Poco::Data::Session& s) {
        std::string n = name;
        Poco::Data::Statement st = (s << db_->sql("DELETE FROM patch_files WHERE name = ?"), use(n));
        return st.execute() > 0;
    });
}

livepatch::Result<CatalogueRevision> Store::catalogueHead() {
    return db_->with("read the catalogue", [&](Poco::Data::Session& s) {
        std::vector<Poco::Int64> generation;
        std::vector<std::string> document;
        s << "SELECT generation, document FROM catalogue ORDER BY generation DESC", into(generation), into(document),
            limit(1), now;
        CatalogueRevision r;
        if (!generation.empty()) r = CatalogueRevision{generation[0], document[0]};
        return r;
    });
}

livepatch::Result<std::int64_t> Store::catalogueGeneration() {
    return db_->with("read the catalogue generation", [&](Poco::Data::Session& s) {
        Poco::Int64 generation = 0;
        s << "SELECT COALESCE(MAX(generation), 0) FROM catalogue", into(generation), now;
        return static_cast<std::int64_t>(generation);
    });
}

livepatch::Result<bool> Store::addCatalogueRevision(std::int64_t generation, const std::string& document) {
    return db_->with("write the catalogue", [&](Poco::Data::Session& s) {
        Poco::Int64 g = generation, at = unixNow(), oldest = generation - kCatalogueRevisionsKept;
        std::string doc = document;
        bool added = false;
        inTransaction(s, "BEGIN", [&] {
            Poco::Data::Statement st =
                (s << db_->sql("INSERT INTO catalogue (generation, document, created) VALUES (?, ?, ?)"
                               " ON CONFLICT DO NOTHING"),
                 use(g), use(doc), use(at));
            added = st.execute() > 0;
            if (added) s << db_->sql("DELETE FROM catalogue WHERE generation <= ?"), use(oldest), now;
        });
        return added;
    });
}

void Store::flusher() {
    std::unique_lock<std::mutex> l(pendingMu_);
    while (!stopping_) {
        wake_.wait_for(l, flushInterval_, [&] { return stopping_; });
        if (stopping_) break;
        l.unlock();
        (void)flush();
        l.lock();
    }
}

// Sync tokens: kept as digests and looked up by digest, then compared in
// constant time, exactly as auth tokens are.
livepatch::Status Store::addSyncToken(const std::string& name, const std::string& token, const std::string& tier,
                                      std::int64_t validUntil) {
    auto inserted = db_->with("add sync token", [&](Poco::Data::Session& s) {
        std::string n = name, digest = livepatch::sha256Hex(token), t = tier;
        Poco::Int64 until = validUntil, at = unixNow();
        Poco::Data::Statement st =
            (s << db_->sql(
                 "INSERT INTO sync_tokens (name, token_sha256, tier, valid_until, created) VALUES (?, ?, ?, ?, ?)"
                 " ON CONFLICT DO NOTHING"),
             use(n), use(digest), use(t), use(until), use(at));
        return st.execute() > 0;
    });
    if (!inserted) return inserted.error();
    if (!*inserted) return Error(ErrorCode::AlreadyEnabled, "a sync token with this name exists; revoke it first");
    return {};
}

livepatch::Result<std::optional<SyncTokenRow>> Store::syncToken(const std::string& token) {
    return db_->with("sync token", [&](Poco::Data::Session& s) -> std::optional<SyncTokenRow> {
        std::string digest = livepatch::sha256Hex(token), stored;
        SyncTokenRow row;
        Poco::Int64 until = 0, created = 0;
        s << db_->sql("SELECT name, token_sha256, tier, valid_until, created FROM sync_tokens WHERE token_sha256 = ?"),
            into(row.name), into(stored), into(row.tier), into(until), into(created), use(digest), limit(1), now;
        if (stored.empty() || !livepatch::digestEquals(stored, digest)) return std::nullopt;
        row.validUntil = until;
        row.created = created;
        return row;
    });
}

livepatch::Result<std::vector<SyncTokenRow>> Store::syncTokens() {
    return db_->with("list sync tokens", [&](Poco::Data::Session& s) {
        std::vector<std::string> names, tiers;
        std::vector<Poco::Int64> until, created;
        s << "SELECT name, tier, valid_until, created FROM sync_tokens ORDER BY name", into(names), into(tiers),
            into(until), into(created), now;
        std::vector<SyncTokenRow> out(names.size());
        for (std::size_t i = 0; i < names.size(); ++i) out[i] = SyncTokenRow{names[i], tiers[i], until[i], created[i]};
        return out;
    });
}

livepatch::Result<bool> Store::removeSyncToken(const std::string& name) {
    return db_->with("remove sync token", [&](Poco::Data::Session& s) {
        std::string n = name;
        Poco::Data::Statement st = (s << db_->sql("DELETE FROM sync_tokens WHERE name = ?"), use(n));
        return st.execute() > 0;
    });
}

livepatch::Status Store::addSyncReport(const SyncReportRow& r, std::size_t keep) {
    auto done = db_->with("add sync report", [&](Poco::Data::Session& s) {
        std::string id = randomHex(16), result = r.result, error = r.error;
        Poco::Int64 started = r.startedMs, finished = r.finishedMs, kept = static_cast<Poco::Int64>(keep);
        int added = r.added;
        // One transaction: replicas sharing the database never see more than
        // `keep` reports, nor lose the one just added.
        inTransaction(s, "BEGIN", [&] {
            s << db_->sql(
                "INSERT INTO sync_reports (id, started_ms, finished_ms, result, added, error) VALUES (?, ?, "
                "?, ?, ?, ?)"),
                use(id), use(started), use(finished), use(result), use(added), use(error), now;
            s << db_->sql(
                "DELETE FROM sync_reports WHERE id NOT IN "
                "(SELECT id FROM sync_reports ORDER BY started_ms DESC, id DESC LIMIT ?)"),
                use(kept), now;
        });
        return 0;
    });
    if (!done) return done.error();
    return {};
}

livepatch::Result<std::vector<SyncReportRow>> Store::syncReports(std::size_t limitRows) {
    return db_->with("list sync reports", [&](Poco::Data::Session& s) {
        std::vector<Poco::Int64> started, finished;
        std::vector<std::string> results, errors;
        std::vector<int> added;
        Poco::Int64 n = static_cast<Poco::Int64>(limitRows);
        s << db_->sql(
            "SELECT started_ms, finished_ms, result, added, error FROM sync_reports ORDER BY started_ms DESC LIMIT ?"),
            into(started), into(finished), into(results), into(added), into(errors), use(n), now;
        std::vector<SyncReportRow> out(started.size());
        for (std::size_t i = 0; i < started.size(); ++i)
            out[i] = SyncReportRow{started[i], finished[i], results[i], added[i], errors[i]};
        return out;
    });
}

}  // namespace lpserver
