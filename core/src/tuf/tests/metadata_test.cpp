#include "crypto/sha256.h"
#include "tuf_fixture.h"

using namespace tuftest;

namespace {

Timestamp sampleTimestamp() {
    Timestamp ts;
    ts.type = RoleType::Timestamp;
    ts.version = 7;
    ts.expires = 1'800'000'000;
    ts.snapshot.version = 3;
    ts.snapshot.length = 1234;
    ts.snapshot.hashes["sha256"] = std::string(64, 'a');
    return ts;
}

}  // namespace

class TufKeys : public ::testing::TestWithParam<KeyScheme> {};

TEST_P(TufKeys, SignVerifyAndRefuseTamperedData) {
    SigningKey key = newKey(GetParam());
    auto pub = PublicKey::fromJson(key.publicJson());
    ASSERT_TRUE(pub) << pub.error().describe();
    EXPECT_EQ(pub->computeKeyId(), key.keyId());
    auto sig = key.sign("signed bytes");
    ASSERT_TRUE(sig);
    EXPECT_TRUE(pub->verify("signed bytes", *sig));
    EXPECT_FALSE(pub->verify("signed bytez", *sig));
    std::string flipped = *sig;
    flipped[4] = flipped[4] == '0' ? '1' : '0';
    EXPECT_FALSE(pub->verify("signed bytes", flipped));
    EXPECT_FALSE(pub->verify("signed bytes", "zz"));
    EXPECT_FALSE(pub->verify("signed bytes", ""));
    // The private key survives a PEM round trip (the tool stores keys so).
    auto again = SigningKey::fromPem(key.toPem());
    ASSERT_TRUE(again);
    EXPECT_EQ(again->keyId(), key.keyId());
    auto sig2 = again->sign("other");
    ASSERT_TRUE(sig2);
    EXPECT_TRUE(pub->verify("other", *sig2));
}

INSTANTIATE_TEST_SUITE_P(Schemes, TufKeys,
                         ::testing::Values(KeyScheme::Ed25519, KeyScheme::RsaPssSha256, KeyScheme::EcdsaP256Sha256));

TEST(TufMetadata, KeyOfTheWrongKindForItsSchemeIsRefused) {
    SigningKey ec = newKey(KeyScheme::EcdsaP256Sha256);
    Json k = ec.publicJson();
    k["keytype"] = Json("rsa");
    k["scheme"] = Json("rsassa-pss-sha256");
    auto pub = PublicKey::fromJson(k);
    ASSERT_FALSE(pub);
    EXPECT_NE(pub.error().message().find("does not fit scheme"), std::string::npos);
    Json unknown = ec.publicJson();
    unknown["scheme"] = Json("ecdsa-sha2-nistp384");
    EXPECT_FALSE(PublicKey::fromJson(unknown));
}

TEST(TufMetadata, RoundTripsAndKeepsUnknownFieldsForTheSignature) {
    SigningKey key = newKey();
    Json body = toSignedJson(sampleTimestamp());
    body["x-extension"] = Json("kept");  // a field this client does not know
    auto bytes = signEnvelope(body, {&key});
    ASSERT_TRUE(bytes);
    auto ts = parseTimestamp(*bytes, 16384);
    ASSERT_TRUE(ts) << ts.error().describe();
    EXPECT_EQ(ts->version, 7);
    EXPECT_EQ(ts->snapshot.version, 3);
    EXPECT_EQ(*ts->snapshot.length, 1234u);
    auto pub = PublicKey::fromJson(key.publicJson());
    std::map<std::string, PublicKey> keys{{key.keyId(), *pub}};
    RoleKeys role{{key.keyId()}, 1};
    EXPECT_TRUE(verifyThreshold(*ts, keys, role, "timestamp"));
    // Dropping the unknown field changes the signed bytes: not verified.
    ts->signedJson.asObject().erase("x-extension");
    EXPECT_FALSE(verifyThreshold(*ts, keys, role, "timestamp"));
}

TEST(TufMetadata, MalformedMetadataNamesTheField) {
    SigningKey key = newKey();
    auto sign = [&](Json body) { return *signEnvelope(body, {&key}); };
    Json good = toSignedJson(sampleTimestamp());
    struct Case {
        const char* field;
        Json value;
        const char* message;
    } cases[] = {
        {"_type", Json("snapshot"), "\"_type\" is \"snapshot\""},
        {"version", Json(0), "\"version\" must be >= 1"},
        {"version", Json("7"), "\"version\" has the wrong type"},
        {"expires", Json("2027-01-15 00:00:00"), "\"expires\" is not"},
        {"expires", Json("+027-01-15T00:00:00Z"), "\"expires\" is not"},
        {"spec_version", Json("2.0.0"), "unsupported spec_version"},
        {"meta", Json(Json::Object{}), "exactly \"snapshot.json\""},
    };
    for (const auto& c : cases) {
        Json body = good;
        body[c.field] = c.value;
        auto r = parseTimestamp(sign(body), 16384);
        ASSERT_FALSE(r) << c.field;
        EXPECT_EQ(r.error().code(), ErrorCode::Protocol);
        EXPECT_NE(r.error().message().find(c.message), std::string::npos) << r.error().message();
    }
    auto tooBig = parseTimestamp(sign(good), 10);
    ASSERT_FALSE(tooBig);
    EXPECT_EQ(tooBig.error().code(), ErrorCode::TooLarge);
}

TEST(TufMetadata, ThresholdCountsDistinctKeysNotSignatures) {
    SigningKey a = newKey(), b = newKey();
    std::map<std::string, PublicKey> keys{{a.keyId(), *PublicKey::fromJson(a.publicJson())},
                                          {b.keyId(), *PublicKey::fromJson(b.publicJson())}};
    RoleKeys role{{a.keyId(), b.keyId()}, 2};
    Json body = toSignedJson(sampleTimestamp());
    // Key a signing twice is still one key.
    auto twice = parseTimestamp(*signEnvelope(body, {&a, &a}), 16384);
    ASSERT_TRUE(twice);
    auto s = verifyThreshold(*twice, keys, role, "timestamp.json");
    ASSERT_FALSE(s);
    EXPECT_EQ(s.error().code(), ErrorCode::SignatureInvalid);
    EXPECT_NE(s.error().message().find("1 of 2 required signatures"), std::string::npos);
    auto both = parseTimestamp(*signEnvelope(body, {&a, &b}), 16384);
    ASSERT_TRUE(both);
    EXPECT_TRUE(verifyThreshold(*both, keys, role, "timestamp.json"));
}

TEST(TufMetadata, KeyIdMustBeTheHashOfTheKey) {
    SigningKey key = newKey();
    Root root;
    root.expires = 1'800'000'000;
    RoleKeys rk{{"0000000000000000000000000000000000000000000000000000000000000000"}, 1};
    root.keys.emplace(rk.keyids[0], *PublicKey::fromJson(key.publicJson()));
    for (const char* r : {"root", "timestamp", "snapshot", "targets"}) root.roles[r] = rk;
    auto parsed = parseRoot(*signEnvelope(toSignedJson(root), {&key}), 1 << 20);
    ASSERT_FALSE(parsed);
    EXPECT_NE(parsed.error().message().find("is not the SHA-256 of its key"), std::string::npos);
}

TEST(TufMetadata, DelegationPathsMatchSegmentBySegment) {
    DelegatedRole role;
    role.paths = {"6.1.0-*/x86_64/*", "exact/file"};
    EXPECT_TRUE(role.trustedFor("6.1.0-18-amd64/x86_64/lp-1.tar.xz"));
    EXPECT_FALSE(role.trustedFor("6.1.0-18-amd64/arm64/lp-1.tar.xz"));
    EXPECT_FALSE(role.trustedFor("6.1.0-18-amd64/x86_64/sub/lp-1.tar.xz"));  // '*' does not cross '/'
    EXPECT_TRUE(role.trustedFor("exact/file"));
    EXPECT_FALSE(role.trustedFor("exact/file2"));
    DelegatedRole hashed;
    hashed.pathHashPrefixes = {sha256Hex("a/b").substr(0, 4)};
    EXPECT_TRUE(hashed.trustedFor("a/b"));
    EXPECT_FALSE(hashed.trustedFor("a/c"));
}

TEST(TufMetadata, ExpiresRoundTrip) {
    auto t = parseExpires("2030-01-01T00:00:00Z");
    ASSERT_TRUE(t);
    EXPECT_EQ(*t, 1893456000);
    EXPECT_EQ(formatExpires(*t), "2030-01-01T00:00:00Z");
}
