#include "server_fixture.h"

#include <atomic>
#include <vector>

TEST_F(ServerTest, AdminNeedsCorrectPassword) {
    EXPECT_EQ(call(server->port(), "POST", "/admin/tokens", "{}", {}, "wrong").status, 401);
    EXPECT_EQ(call(server->port(), "POST", "/admin/tokens", "{}").status, 401);
    EXPECT_EQ(call(server->port(), "POST", "/admin/tokens", "{}", {}, "s3cret").status, 201);
}

TEST_F(ServerTest, RegisterUpdatesEtagAndDownload) {
    EXPECT_EQ(call(server->port(), "POST", "/v1/client/" + id, "{}",
                   {{"Authorization", "Bearer 0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9"}})
                  .status,
              401);
    auto mt = enroll(id);
    auto u = call(server->port(), "POST", "/v1/client/" + id + "/updates", report, {{"Authorization", "Bearer " + mt}});
    ASSERT_EQ(u.status, 200) << u.body;
    EXPECT_NE(u.body.find("\"sha256\""), std::string::npos);
    EXPECT_FALSE(u.etag.empty());
    auto again = call(server->port(), "POST", "/v1/client/" + id + "/updates", report,
                      {{"Authorization", "Bearer " + mt}, {"If-None-Match", u.etag}});
    EXPECT_EQ(again.status, 304);
    EXPECT_EQ(again.reason, "Not Modified");  // not Poco's default "OK" for every status
    EXPECT_TRUE(again.body.empty());
    EXPECT_EQ(call(server->port(), "POST", "/v1/client/" + id + "/updates", report, {{"Authorization", "Bearer nope"}})
                  .status,
              401);
    auto d = call(server->port(), "GET", "/v1/patches/lp_a-1.tar.xz", "", {{"Authorization", "Bearer " + mt}});
    EXPECT_EQ(d.status, 200);
    EXPECT_EQ(d.body, "pretend tarball");
    auto r = call(server->port(), "GET", "/v1/patches/lp_a-1.tar.xz", "",
                  {{"Range", "bytes=8-"}, {"Authorization", "Bearer " + mt}});
    EXPECT_EQ(r.status, 206);
    EXPECT_EQ(r.reason, "Partial Content");
    EXPECT_EQ(r.body, "tarball");
    auto missing = call(server->port(), "GET", "/v1/patches/lp_nope-1.tar.xz", "", {{"Authorization", "Bearer " + mt}});
    EXPECT_EQ(missing.status, 404);
    EXPECT_EQ(missing.reason, "Not Found");
}

TEST_F(ServerTest, RegistrationsSurviveRestart) {
    auto mt = enroll(id);
    server.reset();
    start();
    EXPECT_EQ(call(server->port(), "POST", "/v1/client/" + id + "/updates", report, {{"Authorization", "Bearer " + mt}})
                  .status,
              200);
    server.reset();
    if (onPostgres()) return;  // below: the SQLite files
    for (const auto& e : fsys::directory_iterator(dir)) {
        if (e.path().filename().string().rfind("server.db", 0) != 0) continue;
        std::ifstream in(e.path(), std::ios::binary);
        std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        EXPECT_EQ(text.find(mt), std::string::npos) << "machine tokens are stored hashed";
        EXPECT_EQ(fsys::status(e.path()).permissions() & (fsys::perms::group_all | fsys::perms::others_all),
                  fsys::perms::none)
            << e.path();
    }
    EXPECT_TRUE(fsys::exists(dir / "server.db"));
}

TEST_F(ServerTest, RequestSizeIsBounded) {
    auto mt = enroll(id);
    auto big = call(server->port(), "POST", "/v1/client/" + id + "/updates", std::string(5000, ' '),
                    {{"Authorization", "Bearer " + mt}});
    EXPECT_EQ(big.status, 413);
}

TEST_F(ServerTest, FaultSwitchesAreObservable) {
    auto mt = enroll(id);
    auto set = [&](const std::string& f) {
        EXPECT_EQ(call(server->port(), "POST", "/admin/faults", "{\"fault\":\"" + f + "\"}", {}, "s3cret").status, 200);
    };
    set("html-5xx");
    auto h = call(server->port(), "POST", "/v1/client/" + id + "/updates", report, {{"Authorization", "Bearer " + mt}});
    EXPECT_EQ(h.status, 502);
    EXPECT_NE(h.body.find("<html>"), std::string::npos);
    set("none");
    set("wrong-content-type");
    EXPECT_EQ(call(server->port(), "POST", "/v1/client/" + id + "/updates", report, {{"Authorization", "Bearer " + mt}})
                  .contentType,
              "text/html");
    set("none");
    set("wrong-checksum");
    auto w = call(server->port(), "POST", "/v1/client/" + id + "/updates", report, {{"Authorization", "Bearer " + mt}});
    auto good = lpserver::fileDigest((dir / "patches/lp_a-1.tar.xz").string())->first;
    EXPECT_EQ(w.body.find(good), std::string::npos);
    set("none");
    set("retry-after=7");
    auto ra =
        call(server->port(), "POST", "/v1/client/" + id + "/updates", report, {{"Authorization", "Bearer " + mt}});
    EXPECT_EQ(ra.status, 503);
    EXPECT_EQ(call(server->port(), "POST", "/v1/client/" + id + "/updates", report, {{"Authorization", "Bearer " + mt}})
                  .status,
              200);
    set("redirect-http");
    EXPECT_EQ(call(server->port(), "GET", "/v1/patches/lp_a-1.tar.xz", "", {{"Authorization", "Bearer " + mt}}).status,
              302);
    EXPECT_EQ(call(server->port(), "POST", "/admin/faults", "{\"fault\":\"bogus\"}", {}, "s3cret").status, 400);
}

TEST_F(ServerTest, AdminUploadsPatchesWithValidatedNames) {
    // "new patch" base64 -> bmV3IHBhdGNo
    EXPECT_EQ(call(server->port(), "POST", "/admin/patches",
                   R"({"file":"lp_b-1.tar.xz","content-base64":"bmV3IHBhdGNo"})", {}, "s3cret")
                  .status,
              201);
    std::ifstream in(dir / "patches/lp_b-1.tar.xz");
    std::string got((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    EXPECT_EQ(got, "new patch");
    EXPECT_EQ(
        call(server->port(), "POST", "/admin/patches", R"({"file":"../evil","content-base64":"eA=="})", {}, "s3cret")
            .status,
        400);
    EXPECT_EQ(
        call(server->port(), "POST", "/admin/patches", R"({"file":"x.tar.xz","content-base64":"eA=="})", {}, "nope")
            .status,
        401);
    EXPECT_FALSE(fsys::exists(dir / "x.tar.xz"));
}

TEST_F(ServerTest, KernelsSupportedNeedsNoAuth) {
    auto r = call(
        server->port(), "GET",
        "/v1/api/kernels/supported?kernel-version=5.15.0-100.110&flavour=generic&architecture=x86_64&codename=jammy");
    EXPECT_EQ(r.status, 200);
    EXPECT_NE(r.body.find("\"supported\":\"supported\""), std::string::npos);
}

TEST_F(ServerTest, ResourceTokenExpiryIsAnInstantNotAString) {
    // Offsets must be honoured: a past instant written with +08:00 reads
    // "later" than now as text, a future one with -08:00 reads "earlier".
    auto mint = [&](const std::string& expires) {
        auto t = call(server->port(), "POST", "/admin/resource-tokens",
                      "{\"tier\":\"stable\",\"expires\":\"" + expires + "\"}", {}, "s3cret");
        EXPECT_EQ(t.status, 201) << t.body;
        return Poco::JSON::Parser().parse(t.body).extract<Poco::JSON::Object::Ptr>()->getValue<std::string>("token");
    };
    auto inZone = [](std::chrono::system_clock::time_point t, int hours) {
        std::time_t tt = std::chrono::system_clock::to_time_t(t + std::chrono::hours(hours));
        std::tm tm{};
        ::gmtime_r(&tt, &tm);
        char buf[40];
        std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
        char off[8];
        std::snprintf(off, sizeof off, "%c%02d:00", hours < 0 ? '-' : '+', std::abs(hours));
        return std::string(buf) + off;
    };
    const auto now = std::chrono::system_clock::now();
    auto reg = [&](const std::string& token) {
        return call(server->port(), "POST", "/v1/client/" + id, "{\"kernel\":\"k\",\"architecture\":\"x86_64\"}",
                    {{"Authorization", "Macaroon " + token}})
            .status;
    };
    EXPECT_EQ(reg(mint(inZone(now - std::chrono::hours(1), 8))), 401) << "expired an hour ago";
    EXPECT_EQ(reg(mint(inZone(now + std::chrono::hours(1), -8))), 200) << "valid for another hour";
    auto bad = call(server->port(), "POST", "/admin/resource-tokens", "{\"tier\":\"stable\",\"expires\":\"tomorrow\"}",
                    {}, "s3cret");
    EXPECT_EQ(bad.status, 400);
}

namespace {
// What anyone holding a macaroon can do without the key: append a caveat.
std::string appendCaveat(const std::string& token, const std::string& caveat) {
    macaroon_returncode err;
    macaroon* m = macaroon_deserialize(token.c_str(), &err);
    EXPECT_NE(m, nullptr);
    macaroon* n =
        macaroon_add_first_party_caveat(m, reinterpret_cast<const unsigned char*>(caveat.data()), caveat.size(), &err);
    macaroon_destroy(m);
    std::string out(macaroon_serialize_size_hint(n), '\0');
    macaroon_serialize(n, &out[0], out.size(), &err);
    macaroon_destroy(n);
    out.resize(out.find('\0'));
    return out;
}
}  // namespace

TEST_F(ServerTest, AppendedTierCaveatCannotRaiseTheTier) {
    const std::string stable = mintResourceToken("stable");
    EXPECT_EQ(registerWith(id, "Macaroon " + appendCaveat(stable, "tier = premium")), 401)
        << "tier raised by an appended caveat";
    auto same = call(server->port(), "POST", "/v1/client/" + id, "{}",
                     {{"Authorization", "Macaroon " + appendCaveat(stable, "tier = stable")}});
    EXPECT_EQ(same.status, 200) << "a caveat repeating the tier only narrows";
    EXPECT_NE(same.body.find("\"tier\":\"stable\""), std::string::npos);
}

TEST_F(ServerTest, DownloadNeedsCredentialsAndTheTier) {
    std::ofstream(dir / "patches/lp_p-1.tar.xz") << "premium tarball";
    std::ofstream(dir / "patches/lp_loose-1.tar.xz") << "not in the catalogue";
    std::ofstream(dir / "catalogue.yaml", std::ios::app)
        << "      - {file: lp_p-1.tar.xz, name: lp_p, version: \"1\", tier: premium}\n";
    EXPECT_EQ(call(server->port(), "GET", "/v1/patches/lp_a-1.tar.xz").status, 401) << "no credentials";
    EXPECT_EQ(call(server->port(), "GET", "/v1/files/lp_a-1.tar.xz").status, 401) << "no credentials";
    EXPECT_EQ(call(server->port(), "GET", "/v1/patches/lp_a-1.tar.xz", "", {{"Authorization", "Bearer nope"}}).status,
              401);
    const std::string mt = enroll(id);
    const std::vector<std::pair<std::string, std::string>> stable = {{"Authorization", "Bearer " + mt}};
    EXPECT_EQ(call(server->port(), "GET", "/v1/patches/lp_a-1.tar.xz", "", stable).status, 200);
    EXPECT_EQ(call(server->port(), "GET", "/v1/patches/lp_p-1.tar.xz", "", stable).status, 404)
        << "premium patch for a stable machine";
    EXPECT_EQ(call(server->port(), "GET", "/v1/patches/lp_loose-1.tar.xz", "", stable).status, 404)
        << "unpublished file";
    const std::vector<std::pair<std::string, std::string>> premium = {
        {"Authorization", "Macaroon " + mintResourceToken("premium")}};
    auto p = call(server->port(), "GET", "/v1/patches/lp_p-1.tar.xz", "", premium);
    EXPECT_EQ(p.status, 200);
    EXPECT_EQ(p.body, "premium tarball");
}

TEST_F(ServerTest, ResourceTokenActsOnlyOnTheMachinesItRegistered) {
    const std::string mine = "Macaroon " + mintResourceToken("stable"),
                      other = "Macaroon " + mintResourceToken("stable");
    ASSERT_EQ(registerWith(id, mine), 200);
    EXPECT_EQ(checkIn(id, mine), 200);
    EXPECT_EQ(checkIn(id, other), 401) << "reports posted for another token's machine";
    EXPECT_EQ(call(server->port(), "DELETE", "/v1/client/" + id, "", {{"Authorization", other}}).status, 401);
    const std::string mt = enroll("fedcba9876543210fedcba9876543210");
    EXPECT_EQ(checkIn("fedcba9876543210fedcba9876543210", mine), 401) << "macaroon used on an auth-token machine";
    EXPECT_EQ(checkIn("fedcba9876543210fedcba9876543210", "Bearer " + mt), 200);
    EXPECT_EQ(call(server->port(), "DELETE", "/v1/client/" + id, "", {{"Authorization", mine}}).status, 204);
}

TEST_F(ServerTest, ReRegistrationDoesNotTakeOverAMachine) {
    const std::string mt = enroll(id);
    auto t = call(server->port(), "POST", "/admin/tokens", "{\"tier\":\"stable\"}", {}, "s3cret");
    const std::string token =
        Poco::JSON::Parser().parse(t.body).extract<Poco::JSON::Object::Ptr>()->getValue<std::string>("token");
    auto again = call(server->port(), "POST", "/v1/client/" + id, "{}", {{"Authorization", "Bearer " + token}});
    EXPECT_EQ(again.status, 409);
    EXPECT_EQ(again.body.find("machine-token"), std::string::npos);
    EXPECT_EQ(registerWith(id, "Macaroon " + mintResourceToken("stable")), 409);
    EXPECT_EQ(checkIn(id, "Bearer " + mt), 200) << "the owner keeps its registration";
    // The same resource token registering the same id again is not a takeover.
    const std::string other = "0123456789abcdef0123456789abcde0", mac = "Macaroon " + mintResourceToken("stable");
    EXPECT_EQ(registerWith(other, mac), 200);
    EXPECT_EQ(registerWith(other, mac), 200);
    // After a deregistration the id is free again.
    EXPECT_EQ(call(server->port(), "DELETE", "/v1/client/" + id, "", {{"Authorization", "Bearer " + mt}}).status, 204);
    EXPECT_EQ(registerWith(id, "Bearer " + token), 200);
}

TEST_F(ServerTest, AuthTokensAreStoredHashed) {
    auto t = call(server->port(), "POST", "/admin/tokens", "{\"tier\":\"stable\"}", {}, "s3cret");
    const std::string token =
        Poco::JSON::Parser().parse(t.body).extract<Poco::JSON::Object::Ptr>()->getValue<std::string>("token");
    server.reset();
    for (const auto& e : fsys::recursive_directory_iterator(dir)) {
        if (!e.is_regular_file()) continue;
        std::ifstream in(e.path(), std::ios::binary);
        std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        EXPECT_EQ(text.find(token), std::string::npos) << e.path() << " holds the auth token";
    }
    start();
    EXPECT_EQ(registerWith(id, "Bearer " + token), 200) << "the hashed token still authenticates";
}

namespace {
// TLS 1.2 handshake offering only `ciphers`; true when the server agrees.
bool handshakes(unsigned short port, const std::string& ciphers, int maxVersion = TLS1_2_VERSION) {
    SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_security_level(ctx, 0);
    SSL_CTX_set_max_proto_version(ctx, maxVersion);
    SSL_CTX_set_min_proto_version(ctx, TLS1_VERSION);
    bool ok = SSL_CTX_set_cipher_list(ctx, ciphers.c_str()) == 1;
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ok = ok && ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    SSL* ssl = SSL_new(ctx);
    SSL_set_fd(ssl, fd);
    ok = ok && SSL_connect(ssl) == 1;
    SSL_free(ssl);
    ::close(fd);
    SSL_CTX_free(ctx);
    return ok;
}
}  // namespace

TEST_F(ServerTest, DefaultTlsOffersOnlyModernSuites) {
    const std::string key = (dir / "tls.key").string(), cert = (dir / "tls.pem").string();
    ASSERT_EQ(std::system(("openssl req -x509 -newkey rsa:2048 -nodes -keyout " + key + " -out " + cert +
                           " -days 1 -subj /CN=127.0.0.1 2>/dev/null")
                              .c_str()),
              0);
    auto tlsServer = [&](const std::string& maxVersion) {
        ServerOptions o = options();
        o.plain = false;
        o.tlsCert = cert;
        o.tlsKey = key;
        o.tlsMaxVersion = maxVersion;
        auto s = std::make_unique<Server>(o);
        EXPECT_TRUE(s->start());
        return s;
    };
    auto modern = tlsServer("");
    EXPECT_TRUE(handshakes(modern->port(), "ECDHE-RSA-AES128-GCM-SHA256"));
    EXPECT_FALSE(handshakes(modern->port(), "AES128-SHA")) << "no forward secrecy, CBC";
    EXPECT_FALSE(handshakes(modern->port(), "ECDHE-RSA-AES128-SHA")) << "CBC";
    EXPECT_FALSE(handshakes(modern->port(), "ECDHE-RSA-DES-CBC3-SHA:DES-CBC3-SHA")) << "3DES";
    EXPECT_FALSE(handshakes(modern->port(), "aNULL")) << "anonymous";
    auto legacy = tlsServer("1.1");
    EXPECT_TRUE(handshakes(legacy->port(), "AES128-SHA", TLS1_1_VERSION))
        << "the legacy fault mode keeps its old suites";
}

TEST_F(ServerTest, StateJsonOfEarlierVersionsIsImportedOnce) {
    server.reset();
    if (onPostgres()) freshPostgresDatabase();
    const std::string mt = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
    const std::string token = "0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9";
    fsys::remove(dir / "server.db");
    std::ofstream(dir / "state.json") << "{\"auth-tokens\": {\"" << token << "\": \"stable\"}, \"machines\": {\"" << id
                                      << "\": {\"kind\": \"auth-token\", \"token-sha256\": \""
                                      << livepatch::sha256Hex(mt)
                                      << "\", \"tier\": \"stable\", \"last-report\": \"\"}}}";
    start();
    EXPECT_EQ(checkIn(id, "Bearer " + mt), 200) << "machine registered before the database kept its registration";
    EXPECT_EQ(registerWith("fedcba9876543210fedcba9876543210", "Bearer " + token), 200) << "auth token kept";
    EXPECT_FALSE(fsys::exists(dir / "state.json"));
    EXPECT_TRUE(fsys::exists(dir / "state.json.imported"));
}

TEST_F(ServerTest, CorruptStateJsonStopsTheStartWithItsName) {
    server.reset();
    std::ofstream(dir / "state.json") << "{not json";
    Server s(options());
    auto st = s.start();
    ASSERT_FALSE(st);
    EXPECT_NE(st.error().message().find("state.json is not a valid server state file"), std::string::npos)
        << st.error().message();
    EXPECT_TRUE(fsys::exists(dir / "state.json")) << "left in place";
}

TEST_F(ServerTest, CheckInsAreCoalescedNotWrittenEach) {
    server.reset();
    ServerOptions o = options();
    o.flushInterval = std::chrono::hours(1);
    server = std::make_unique<Server>(o);
    ASSERT_TRUE(server->start());
    const std::string mt = enroll(id);
    StoreOptions so;
    so.dataDir = dir.string();
    so.database = options().database;
    const auto wal = dir / "server.db-wal";
    const auto before = fsys::exists(wal) ? fsys::file_size(wal) : 0;
    const auto mtimeBefore =
        fsys::exists(dir / "server.db") ? fsys::last_write_time(dir / "server.db") : fsys::file_time_type{};
    for (int i = 0; i < 20; ++i) ASSERT_EQ(checkIn(id, "Bearer " + mt), 200);
    if (!onPostgres()) {
        EXPECT_EQ(fsys::exists(wal) ? fsys::file_size(wal) : 0, before) << "a check-in wrote to the database";
        EXPECT_EQ(fsys::last_write_time(dir / "server.db"), mtimeBefore);
    } else {
        auto peek = Store::open(so);
        ASSERT_TRUE(peek);
        EXPECT_EQ(*(*peek)->lastReport(id), "") << "a check-in wrote to the database";
    }
    server.reset();  // the last batch is written at stop
    auto store = Store::open(so);
    ASSERT_TRUE(store) << store.error().message();
    EXPECT_EQ(*(*store)->lastReport(id), report);
}

// The flush writes many machines per UPDATE statement: every machine of a
// batch larger than one statement (and of the short last statement) gets
// its own report and time, and no other machine's.
TEST_F(ServerTest, AFlushOfMoreMachinesThanOneStatementWritesEachItsOwnReport) {
    server.reset();
    StoreOptions so;
    so.dataDir = dir.string();
    so.database = options().database;
    so.flushInterval = std::chrono::hours(1);
    auto store = Store::open(so);
    ASSERT_TRUE(store) << store.error().message();
    const int n = 1203;  // two full statements of 500 and a short one
    auto idOf = [](int i) {
        char b[33];
        std::snprintf(b, sizeof b, "%032x", i + 0x100);
        return std::string(b);
    };
    for (int i = 0; i < n; ++i) ASSERT_TRUE((*store)->registerWithAuthToken(idOf(i), "stable"));
    ASSERT_TRUE((*store)->registerWithAuthToken(idOf(n), "stable"));  // never checks in
    for (int i = 0; i < n; ++i) (*store)->checkIn(idOf(i), "{\"n\":" + std::to_string(i) + "}");
    ASSERT_TRUE((*store)->flush());
    for (int i : {0, 1, 499, 500, 501, 999, 1000, 1001, n - 1})
        EXPECT_EQ(*(*store)->lastReport(idOf(i)), "{\"n\":" + std::to_string(i) + "}") << i;
    EXPECT_EQ(*(*store)->lastReport(idOf(n)), "");
    auto rows = (*store)->machines("", 2000);
    ASSERT_TRUE(rows);
    int seen = 0;
    for (const auto& r : *rows) seen += r.lastSeen > 0;
    EXPECT_EQ(seen, n);
}

TEST_F(ServerTest, DatabaseOutageIs503ThenRecoversWithoutRestart) {
    if (!onPostgres()) GTEST_SKIP() << "needs tools/server/tests/with-postgres.sh";
    const std::string mt = enroll(id);
    const std::string ctl = std::getenv("LP_TEST_POSTGRES_CTL");
    ASSERT_EQ(std::system((ctl + " stop -m fast > /dev/null").c_str()), 0);
    auto down =
        call(server->port(), "POST", "/v1/client/" + id + "/updates", report, {{"Authorization", "Bearer " + mt}});
    EXPECT_EQ(down.status, 503);
    EXPECT_EQ(down.retryAfter, "5");
    EXPECT_NE(down.body.find("database is unavailable"), std::string::npos) << down.body;
    auto reg = call(server->port(), "POST", "/v1/client/fedcba9876543210fedcba9876543210", "{}",
                    {{"Authorization", "Bearer x"}});
    EXPECT_EQ(reg.status, 503);
    ASSERT_EQ(std::system((ctl + " -w start > /dev/null").c_str()), 0);
    EXPECT_EQ(checkIn(id, "Bearer " + mt), 200) << "the same server process reconnected";
    EXPECT_EQ(enroll("fedcba9876543210fedcba9876543210").size(), 64u);
}

// Migration 4 leaves room in each machines page on PostgreSQL (a check-in's
// row rewrite stays a HOT update; store.cpp says why).
TEST_F(ServerTest, MachinesHaveFillfactor70OnPostgres) {
    if (!onPostgres()) GTEST_SKIP() << "needs tools/server/tests/with-postgres.sh";
    const std::string psql = std::getenv("LP_TEST_POSTGRES_PSQL");
    const std::string options =
        run(psql + " -d " + databaseName() + " -tAc \"SELECT reloptions FROM pg_class WHERE relname = 'machines'\"");
    EXPECT_NE(options.find("fillfactor=70"), std::string::npos) << options;
}

// --database-connections N bounds the server's PostgreSQL sessions however
// many requests run at once: sampled from pg_stat_activity during a burst of
// concurrent registrations and check-ins.
TEST_F(ServerTest, DatabaseConnectionsBoundThePostgresSessions) {
    if (!onPostgres()) GTEST_SKIP() << "needs tools/server/tests/with-postgres.sh";
    server.reset();
    ServerOptions o = options();
    o.databaseConnections = 2;
    server = std::make_unique<Server>(o);
    ASSERT_TRUE(server->start());
    const std::string psql = std::getenv("LP_TEST_POSTGRES_PSQL");
    // The database's sessions but this psql's own; the first server's,
    // closed above, may take a moment to go.
    const std::string sessions =
        "SELECT count(*) FROM pg_stat_activity WHERE datname = '" + databaseName() + "' AND pid <> pg_backend_pid()";
    for (int i = 0; i < 100 && std::stoi(run(psql + " -d " + databaseName() + " -tAc \"" + sessions + "\"")) > 2; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    auto t = call(server->port(), "POST", "/admin/tokens", "{\"tier\":\"stable\"}", {}, "s3cret");
    ASSERT_EQ(t.status, 201);
    const std::string token =
        Poco::JSON::Parser().parse(t.body).extract<Poco::JSON::Object::Ptr>()->getValue<std::string>("token");
    // One psql that samples every 10 ms, each SELECT its own transaction
    // (a transaction keeps one snapshot of pg_stat_activity), while the
    // burst runs until it is done.
    {
        std::ofstream script(dir / "sample.sql");
        for (int i = 0; i < 200; ++i) script << sessions << ";\nSELECT pg_sleep(0.01);\n";
    }
    std::atomic<bool> done{false};
    std::atomic<int> failures{0}, registered{0};
    std::string sampled;
    std::thread sampler([&] {
        sampled = run(psql + " -d " + databaseName() + " -tA -f " + (dir / "sample.sql").string());
        done = true;
    });
    std::vector<std::thread> burst;
    for (int w = 0; w < 10; ++w)
        burst.emplace_back([&, w] {
            for (int i = 0; !done; ++i) {
                char machine[33];
                std::snprintf(machine, sizeof machine, "%08x%024x", 0xc0ffee00 + w, i);
                auto r = call(server->port(), "POST", std::string("/v1/client/") + machine,
                              "{\"kernel\":\"k\",\"architecture\":\"x86_64\"}", {{"Authorization", "Bearer " + token}});
                if (r.status != 200) {
                    ++failures;
                    continue;
                }
                ++registered;
                const std::string mt =
                    Poco::JSON::Parser().parse(r.body).extract<Poco::JSON::Object::Ptr>()->getValue<std::string>(
                        "machine-token");
                if (checkIn(machine, "Bearer " + mt) != 200) ++failures;
            }
        });
    for (auto& b : burst) b.join();
    sampler.join();
    int most = 0, samples = 0;
    std::istringstream lines(sampled);
    for (std::string line; std::getline(lines, line);)
        if (!line.empty() && std::isdigit(static_cast<unsigned char>(line[0]))) {
            most = std::max(most, std::stoi(line));
            ++samples;
        }
    EXPECT_EQ(failures, 0);
    EXPECT_EQ(samples, 200) << sampled;
    EXPECT_GT(registered, 20) << "no burst while pg_stat_activity was sampled";
    EXPECT_GE(most, 1) << "no session of the server was seen";
    EXPECT_LE(most, 2) << "more PostgreSQL sessions than --database-connections 2";
}
