// The engine with a pinned TUF trust root (issue 15): the signed targets
// metadata decides what is offered; the server's answer is only a hint. A
// real repository (tuf::Repository, as livepatch-repo writes it) is served
// by the fake transport from its directory, so each test tampers with the
// files a mirror would serve.
#include "engine/signed_catalogue.h"
#include "engine_fixture.h"
#include "tuf/repository.h"
#include "util/fs.h"

namespace {

class SignedCatalogueTest : public EngineTest {
protected:
    void SetUp() override {
        EngineTest::SetUp();
        rootKey = newKey(), targetsKey = newKey(), snapshotKey = newKey(), timestampKey = newKey();
        auto r = tuf::Repository::create((root / "repo").string(), {&rootKey}, targetsKey, snapshotKey, timestampKey,
                                         nowSeconds());
        ASSERT_TRUE(r) << r.error().describe();
        repo = std::make_unique<tuf::Repository>(std::move(*r));
        auto pinned = pinTrustRoot(paths, read(root / "repo/metadata/1.root.json"));
        ASSERT_TRUE(pinned) << pinned.error().describe();
        ASSERT_TRUE(config.apply({"trust-root=pinned"}));
        // The mirror in front of the fake server: GETs under the TUF base
        // read the repository directory, as nginx would serve it.
        auto serverSend = transport.onSend;
        transport.onSend = [this, serverSend](const HttpRequest& r, const CancelToken* c) -> Result<HttpResponse> {
            if (r.url.rfind(tufBase, 0) != 0) return serverSend(r, c);
            HttpResponse resp;
            auto body = mirrorFile(r.url.substr(tufBase.size()));
            resp.status = body ? 200 : 404;
            if (body && body->size() > r.maxResponseBytes)
                return Error(ErrorCode::TooLarge, "response from " + r.url + " is larger than " +
                                                      std::to_string(r.maxResponseBytes) + " bytes");
            if (body) resp.body = *body;
            return resp;
        };
        auto serverDownload = transport.onDownload;
        transport.onDownload = [this, serverDownload](const DownloadRequest& r, const ProgressCallback& p,
                                                      const CancelToken* c) -> Result<DownloadResult> {
            if (r.url.rfind(tufBase, 0) != 0) return serverDownload(r, p, c);
            auto body = mirrorFile(r.url.substr(tufBase.size()));
            if (!body) return Error(ErrorCode::HttpStatus, "HTTP 404 from " + r.url + ": Not Found");
            if (body->size() > r.maxBytes)
                return Error(ErrorCode::TooLarge, r.url + " is larger than " + std::to_string(r.maxBytes) + " bytes");
            std::ofstream(r.destinationPath, std::ios::binary) << *body;
            return DownloadResult{body->size(), r.url};
        };
    }

    static tuf::SigningKey newKey() {
        auto k = tuf::SigningKey::generate(tuf::KeyScheme::Ed25519);
        EXPECT_TRUE(k);
        return *k;
    }
    static std::string read(const fsys::path& p) {
        auto r = fs::readFile(p.string());
        EXPECT_TRUE(r) << p;
        return r ? *r : std::string();
    }
    std::optional<std::string> mirrorFile(const std::string& rel) {
        ++mirrorRequests[rel];
        auto r = fs::readFile((root / "repo" / rel).string());
        if (!r) return std::nullopt;
        return *r;
    }
    std::int64_t nowSeconds() {
        return std::chrono::duration_cast<std::chrono::seconds>(clock.now().time_since_epoch()).count();
    }

    static tuf::Json custom(const std::string& version, const std::string& kernel = kKernel) {
        using tuf::Json;
        return Json(Json::Object{{"name", Json("lp_test")},
                                 {"version", Json(version)},
                                 {"kernel", Json(kernel)},
                                 {"architecture", Json("x86_64")},
                                 {"published", Json("2026-01-01T00:00:00Z")},
                                 {"fixes", Json(Json::Array{Json(Json::Object{{"name", Json("cve-2026-" + version)},
                                                                              {"description", Json("signed fix")},
                                                                              {"bug", Json("")},
                                                                              {"patched", Json(true)}})})}});
    }
    // Signs patch `version` into the catalogue and publishes it; the bytes
    // are what the mirror serves.
    std::string publish(const std::string& version, const std::string& kernel = kKernel) {
        const std::string bytes = tarball("lp_test", version, signedModule("lp_test", version), kernel);
        auto s = repo->addTarget(kernel + "/x86_64/lp_test-" + version + ".tar.gz", bytes, custom(version, kernel),
                                 targetsKey, nowSeconds());
        EXPECT_TRUE(s) << s.error().describe();
        s = repo->publishOnline(snapshotKey, timestampKey, nowSeconds());
        EXPECT_TRUE(s) << s.error().describe();
        return bytes;
    }
    fsys::path targetFile(const std::string& bytes, const std::string& version) {
        return root / "repo/targets" / kKernel / "x86_64" / (sha256Hex(bytes) + ".lp_test-" + version + ".tar.gz");
    }

    const std::string tufBase = "https://srv.test/v1/tuf/";
    tuf::SigningKey rootKey, targetsKey, snapshotKey, timestampKey;
    std::unique_ptr<tuf::Repository> repo;
    std::map<std::string, int> mirrorRequests;
};

TEST_F(SignedCatalogueTest, TheSignedCatalogueDecidesAndTheServersOfferIsOnlyAHint) {
    publish("2");
    server.offers = {offer("3")};  // unsigned: never loaded
    ASSERT_TRUE(engine->enable(kToken));
    auto r = engine->runCycle(nullptr, nullptr);
    ASSERT_TRUE(r) << r.error().describe();
    EXPECT_TRUE(r->applied);
    EXPECT_EQ(loader.loaded["lp_test"], "2");
    auto st = state();
    EXPECT_EQ(st.catalogue, CatalogueKind::Signed);
    EXPECT_EQ(st.catalogueVersion, 2);
    EXPECT_FALSE(st.catalogueExpires.empty());
    ASSERT_EQ(st.fixes.size(), 1u);
    EXPECT_EQ(st.fixes[0].description, "signed fix") << "fixes come from the signed custom field";
    ASSERT_EQ(transport.downloads.size(), 1u);
    EXPECT_EQ(transport.downloads[0].url.rfind(tufBase + "targets/" + kKernel + "/x86_64/", 0), 0u)
        << transport.downloads[0].url;
    EXPECT_EQ(transport.downloads[0].maxBytes, transport.downloads[0].expectedSize) << "the signed length is the limit";
    EXPECT_EQ(server.count("POST"), 3u) << "register, updates, report: a server source still registers and reports";
}

TEST_F(SignedCatalogueTest, APatchForAnotherKernelIsNotOffered) {
    publish("2", "6.1.0-18-amd64");
    ASSERT_TRUE(engine->enable(kToken));
    auto r = engine->runCycle(nullptr, nullptr);
    ASSERT_TRUE(r) << r.error().describe();
    EXPECT_FALSE(r->applied);
    EXPECT_EQ(state().patchState, PatchState::NothingToApply);
}

// Freeze: nobody re-signs timestamp.json. Exit 9 territory, and a state of
// its own, never "nothing to apply".
TEST_F(SignedCatalogueTest, AnExpiredTimestampIsStaleNotNothingToApply) {
    publish("2");
    ASSERT_TRUE(engine->enable(kToken));
    ASSERT_TRUE(engine->runCycle(nullptr, nullptr));
    clock.advance(std::chrono::hours(48));
    auto r = engine->runCycle(nullptr, nullptr);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code(), ErrorCode::Stale) << r.error().describe();
    auto st = state();
    EXPECT_EQ(st.checkState, CheckState::Stale);
    EXPECT_NE(st.checkError.find("expired at 2026-06-02T12:00:00Z"), std::string::npos) << st.checkError;
    EXPECT_EQ(st.patchState, PatchState::Applied) << "the applied patch stays";
    EXPECT_EQ(loader.loaded["lp_test"], "2");
}

TEST_F(SignedCatalogueTest, AStaleCatalogueOnAFreshMachineIsNotNothingToApply) {
    publish("2");
    ASSERT_TRUE(engine->enable(kToken));
    clock.advance(std::chrono::hours(48));
    auto r = engine->runCycle(nullptr, nullptr);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code(), ErrorCode::Stale);
    EXPECT_NE(state().patchState, PatchState::NothingToApply);
    EXPECT_EQ(state().checkState, CheckState::Stale);
}

// Arbitrary install: the mirror serves other bytes of the signed length.
TEST_F(SignedCatalogueTest, BytesThatDoNotMatchTheSignedHashesAreDeletedUnloaded) {
    const std::string bytes = publish("2");
    std::string other = bytes;
    other[other.size() / 2] ^= 0x55;
    std::ofstream(targetFile(bytes, "2"), std::ios::binary | std::ios::trunc) << other;
    ASSERT_TRUE(engine->enable(kToken));
    auto r = engine->runCycle(nullptr, nullptr);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code(), ErrorCode::ChecksumMismatch) << r.error().describe();
    EXPECT_TRUE(loader.loaded.empty());
    EXPECT_EQ(verifier.calls, 0) << "nothing unpacked or verified before the signed hashes matched";
    for (const auto& f : fsys::recursive_directory_iterator(root / "cache"))
        EXPECT_FALSE(f.is_regular_file()) << f.path() << ": the download is deleted";
}

TEST_F(SignedCatalogueTest, AnOversizedTargetIsCutAtItsSignedLength) {
    const std::string bytes = publish("2");
    std::ofstream(targetFile(bytes, "2"), std::ios::binary | std::ios::app) << std::string(4096, 'x');
    ASSERT_TRUE(engine->enable(kToken));
    auto r = engine->runCycle(nullptr, nullptr);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code(), ErrorCode::TooLarge) << r.error().describe();
    EXPECT_TRUE(loader.loaded.empty());
}

// Endless data: the limit reaches the transport before any byte.
TEST_F(SignedCatalogueTest, AnEndlessTimestampIsRefusedAtTheRoleLimit) {
    publish("2");
    std::ofstream(root / "repo/metadata/timestamp.json", std::ios::app) << std::string(20000, ' ');
    ASSERT_TRUE(engine->enable(kToken));
    auto r = engine->runCycle(nullptr, nullptr);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code(), ErrorCode::TooLarge) << r.error().describe();
    bool limited = false;
    for (const auto& q : transport.requests)
        if (q.url == tufBase + "metadata/timestamp.json") limited = q.maxResponseBytes == 16u << 10;
    EXPECT_TRUE(limited);
    EXPECT_EQ(state().checkState, CheckState::CheckFailed);
}

// Rollback of the patch version through a validly signed newer catalogue
// that lists only an older patch.
TEST_F(SignedCatalogueTest, ASignedOlderPatchIsARollback) {
    publish("2");
    ASSERT_TRUE(engine->enable(kToken));
    ASSERT_TRUE(engine->runCycle(nullptr, nullptr));
    ASSERT_TRUE(repo->removeTarget(kKernel + "/x86_64/lp_test-2.tar.gz", targetsKey, nowSeconds()));
    publish("1");
    auto r = engine->runCycle(nullptr, nullptr);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code(), ErrorCode::Rollback) << r.error().describe();
    EXPECT_EQ(loader.loaded["lp_test"], "2");
}

// Malicious mirror: timestamp.json signed by a key the root does not trust.
TEST_F(SignedCatalogueTest, MetadataSignedByAnUntrustedKeyIsRefused) {
    publish("2");
    auto mallory = newKey();
    ASSERT_TRUE(repo->resignTimestamp(mallory, nowSeconds()));
    ASSERT_TRUE(engine->enable(kToken));
    auto r = engine->runCycle(nullptr, nullptr);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code(), ErrorCode::SignatureInvalid) << r.error().describe();
    EXPECT_TRUE(loader.loaded.empty());
}

TEST_F(SignedCatalogueTest, AMissingPinnedRootIsAnErrorNeverAFallbackToUnsigned) {
    publish("2");
    server.offers = {offer("3")};
    ASSERT_TRUE(fs::removeTree(trustDir(paths)));
    ASSERT_TRUE(engine->enable(kToken));
    auto r = engine->runCycle(nullptr, nullptr);
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message().find("trust-root=@stdin"), std::string::npos) << r.error().message();
    EXPECT_TRUE(loader.loaded.empty());
}

// A static mirror: no registration, no report, only the signed metadata.
TEST_F(SignedCatalogueTest, AStaticMirrorNeedsNoServer) {
    ASSERT_TRUE(config.apply({"source-type=static", "remote-server=https://srv.test/v1/tuf"}));
    publish("2");
    ASSERT_TRUE(engine->enable("anything"));
    auto r = engine->runCycle(nullptr, nullptr);
    ASSERT_TRUE(r) << r.error().describe();
    EXPECT_TRUE(r->applied);
    EXPECT_EQ(server.count("POST"), 0u) << "nothing registered or reported";
    EXPECT_FALSE(fs::exists(paths.credentialFile()));
    // An idle check: the next root (404) and timestamp.json only.
    mirrorRequests.clear();
    r = engine->runCycle(nullptr, nullptr);
    ASSERT_TRUE(r) << r.error().describe();
    EXPECT_EQ(mirrorRequests.size(), 2u);
    EXPECT_EQ(mirrorRequests.count("metadata/timestamp.json"), 1u);
    EXPECT_EQ(mirrorRequests.count("metadata/2.root.json"), 1u);
}

TEST_F(SignedCatalogueTest, AStaticMirrorWithoutATrustRootIsRefused) {
    ASSERT_TRUE(config.apply({"source-type=static", "trust-root="}));
    auto r = engine->enable("anything");
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code(), ErrorCode::ConfigInvalid);
}

TEST_F(SignedCatalogueTest, WithoutATrustRootTheCatalogueIsUnsigned) {
    ASSERT_TRUE(config.apply({"trust-root="}));
    server.offers = {offer("3")};
    ASSERT_TRUE(engine->enable(kToken));
    auto r = engine->runCycle(nullptr, nullptr);
    ASSERT_TRUE(r) << r.error().describe();
    EXPECT_EQ(loader.loaded["lp_test"], "3");
    EXPECT_EQ(state().catalogue, CatalogueKind::Unsigned);
    EXPECT_EQ(mirrorRequests.size(), 0u);
}

TEST_F(SignedCatalogueTest, PinningChecksTheRootAndKeepsItRootOnly) {
    auto bad = pinTrustRoot(paths, "{\"signed\": {}}");
    ASSERT_FALSE(bad);
    EXPECT_EQ(bad.error().code(), ErrorCode::ConfigInvalid);
    // A root whose signature does not verify.
    std::string root1 = read(root / "repo/metadata/1.root.json");
    auto sig = root1.find('"', root1.find(':', root1.find("\"sig\""))) + 1;
    ASSERT_LT(sig, root1.size());
    root1[sig] = root1[sig] == 'a' ? 'b' : 'a';
    EXPECT_FALSE(pinTrustRoot(paths, root1));
    ASSERT_TRUE(pinTrustRoot(paths, read(root / "repo/metadata/1.root.json")));
    const auto p = fsys::path(trustDir(paths)) / "root.json";
    EXPECT_EQ(fsys::status(p).permissions() & fsys::perms::all, fsys::perms::owner_read | fsys::perms::owner_write);
    EXPECT_EQ(fsys::status(trustDir(paths)).permissions() & fsys::perms::all, fsys::perms::owner_all);
}

}  // namespace
