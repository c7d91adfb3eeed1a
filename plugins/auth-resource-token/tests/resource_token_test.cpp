#include <gtest/gtest.h>
#include <macaroons.h>
#include <cstdio>
#include <random>

#include <livepatch/testing/fakes.h>

#include "resource_token.h"

using namespace livepatch;
using namespace livepatch::plugins;

namespace {

std::string makeMacaroon(const std::vector<std::string>& caveats) {
    const std::string loc = "https://livepatch.test", key = "root-key-for-tests", id = "id-1";
    macaroon_returncode err;
    macaroon* m = macaroon_create(reinterpret_cast<const unsigned char*>(loc.data()), loc.size(),
                                  reinterpret_cast<const unsigned char*>(key.data()), key.size(),
                                  reinterpret_cast<const unsigned char*>(id.data()), id.size(), &err);
    for (const auto& c : caveats) {
        macaroon* n =
            macaroon_add_first_party_caveat(m, reinterpret_cast<const unsigned char*>(c.data()), c.size(), &err);
        macaroon_destroy(m);
        m = n;
    }
    std::string out(macaroon_serialize_size_hint(m), '\0');
    macaroon_serialize(m, out.data(), out.size(), &err);
    macaroon_destroy(m);
    out.resize(out.find('\0'));
    return out;
}

}  // namespace

TEST(ResourceToken, ParsesCaveatsAndExpiry) {
    auto token = makeMacaroon({"tier = stable", "time < 2030-01-01T00:00:00Z"});
    auto parsed = parseMacaroon(token);
    ASSERT_TRUE(parsed && *parsed) << (parsed ? "not a macaroon" : parsed.error().message());
    const MacaroonFacts& facts = **parsed;
    EXPECT_EQ(facts.location, "https://livepatch.test");
    ASSERT_EQ(facts.caveats.size(), 2u);
    EXPECT_EQ(*facts.expires, "2030-01-01T00:00:00Z");
}

TEST(ResourceToken, RejectsMalformedBeforeAnyNetwork) {
    ResourceTokenPlugin p;
    for (const std::string& bad :
         std::vector<std::string>{"", "abc", "!!!!", "0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9", std::string(20000, 'A')}) {
        auto r = p.inspect(bad);
        ASSERT_TRUE(r) << bad;
        EXPECT_EQ(r->verdict, TokenInspection::Verdict::NotMine) << "not a macaroon: another plugin's token, maybe";
        EXPECT_FALSE(p.registrationAuthorization(bad));
    }
    auto token = makeMacaroon({});
    auto truncated = token.substr(0, token.size() / 2);
    ASSERT_TRUE(p.inspect(truncated));
    EXPECT_EQ(p.inspect(truncated)->verdict, TokenInspection::Verdict::NotMine);
    EXPECT_EQ(p.inspect(token)->verdict, TokenInspection::Verdict::Mine);
}

// Auth tokens are UUIDs: never a macaroon, and never handed to libmacaroons,
// whose 0.3.0 deserializer leaks on some of them (the sanitizer build's
// LeakSanitizer fails this test binary if one is).
TEST(ResourceToken, AuthTokenUuidsAreNotMineAndNeverDeserialized) {
    ResourceTokenPlugin p;
    std::mt19937_64 rng(20261126);
    for (int i = 0; i < 3000; ++i) {
        char uuid[37];
        const auto a = rng(), b = rng();
        std::snprintf(uuid, sizeof uuid, "%08x-%04x-4%03x-%04x-%012llx", static_cast<unsigned>(a >> 32),
                      static_cast<unsigned>(a & 0xffff), static_cast<unsigned>((a >> 16) & 0xfff),
                      static_cast<unsigned>(0x8000 | (b >> 48 & 0x3fff)),
                      static_cast<unsigned long long>(b & 0xffffffffffffULL));
        auto r = p.inspect(uuid);
        ASSERT_TRUE(r) << uuid;
        ASSERT_EQ(r->verdict, TokenInspection::Verdict::NotMine) << uuid;
    }
}

TEST(ResourceToken, ExpiredTokenRefusedWithInjectedClock) {
    livepatch::testing::ManualClock clock;
    livepatch::testing::MapConfigView cfg;
    livepatch::testing::CapturingLogger log;
    PluginContext ctx;
    ctx.clock = &clock;
    ctx.config = &cfg;
    ctx.logger = &log;
    ResourceTokenPlugin p;
    ASSERT_TRUE(p.configure(ctx));
    auto token = makeMacaroon({"time < 2025-01-01T00:00:00Z"});
    clock.setWall(std::chrono::system_clock::from_time_t(1700000000));  // 2023
    auto ok = p.inspect(token);
    ASSERT_TRUE(ok);
    EXPECT_EQ(*ok->info.expires, "2025-01-01T00:00:00Z");
    clock.setWall(std::chrono::system_clock::from_time_t(1800000000));  // 2027
    auto expired = p.inspect(token);
    ASSERT_FALSE(expired);
    EXPECT_NE(expired.error().message().find("expired"), std::string::npos);
    EXPECT_EQ(expired.error().message().find(token), std::string::npos);
}

TEST(ResourceToken, CredentialIsTheMacaroon) {
    ResourceTokenPlugin p;
    auto token = makeMacaroon({"tier = stable"});
    EXPECT_EQ(*p.registrationAuthorization(token), "Macaroon " + token);
    auto cred = p.credentialFromRegistration(token, RegistrationResponse{});
    ASSERT_TRUE(cred);
    EXPECT_EQ(cred->secret, token);
    EXPECT_EQ(*p.requestAuthorization(*cred), "Macaroon " + token);
}

TEST(ResourceToken, ExpiresCaveatFormAndEarliestWins) {
    auto token = makeMacaroon({"expires = 2026-12-31T00:00:00Z", "time < 2026-06-30T00:00:00Z"});
    auto facts = parseMacaroon(token);
    ASSERT_TRUE(facts && *facts) << (facts ? "not a macaroon" : facts.error().message());
    EXPECT_EQ(*(*facts)->expires, "2026-06-30T00:00:00Z");
    auto only = parseMacaroon(makeMacaroon({"expires = 2026-12-31T00:00:00Z"}));
    ASSERT_TRUE(only && *only);
    EXPECT_EQ(*(*only)->expires, "2026-12-31T00:00:00Z");
}

// The expiry is read by the SDK's one RFC 3339 parser, as every other time:
// an offset is a time (and the earliest instant wins, not the smallest
// string), a date that does not exist is not.
TEST(ResourceToken, ExpiryIsReadAsTheAgentReadsEveryTime) {
    auto facts = parseMacaroon(makeMacaroon({"time < 2026-06-30T01:00:00+02:00", "time < 2026-06-29T23:30:00Z"}));
    ASSERT_TRUE(facts && *facts) << (facts ? "not a macaroon" : facts.error().message());
    EXPECT_EQ(*(*facts)->expires, "2026-06-30T01:00:00+02:00") << "23:00Z is earlier than 23:30Z";
    auto feb30 = parseMacaroon(makeMacaroon({"time < 2026-02-30T00:00:00Z"}));
    ASSERT_FALSE(feb30);
    EXPECT_NE(feb30.error().message().find("unreadable expiry"), std::string::npos) << feb30.error().message();
}

TEST(ResourceToken, UnreadableExpiryIsRefusedWithoutEchoingTheToken) {
    ResourceTokenPlugin p;
    auto token = makeMacaroon({"time < next tuesday"});
    auto r = p.inspect(token);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code(), ErrorCode::TokenInvalid);
    EXPECT_NE(r.error().message().find("expiry"), std::string::npos);
    EXPECT_EQ(r.error().message().find(token), std::string::npos);
}

TEST(ResourceToken, ThirdPartyCaveatsAreNotPredicates) {
    const std::string loc = "https://livepatch.test", key = "root-key-for-tests", id = "id-1";
    macaroon_returncode err;
    macaroon* m = macaroon_create(reinterpret_cast<const unsigned char*>(loc.data()), loc.size(),
                                  reinterpret_cast<const unsigned char*>(key.data()), key.size(),
                                  reinterpret_cast<const unsigned char*>(id.data()), id.size(), &err);
    const std::string first = "tier = stable", tpLoc = "https://auth.test", tpKey = "third-party-key",
                      tpId = "time < 2000-01-01T00:00:00Z";
    macaroon* n =
        macaroon_add_first_party_caveat(m, reinterpret_cast<const unsigned char*>(first.data()), first.size(), &err);
    macaroon_destroy(m);
    macaroon* t =
        macaroon_add_third_party_caveat(n, reinterpret_cast<const unsigned char*>(tpLoc.data()), tpLoc.size(),
                                        reinterpret_cast<const unsigned char*>(tpKey.data()), tpKey.size(),
                                        reinterpret_cast<const unsigned char*>(tpId.data()), tpId.size(), &err);
    macaroon_destroy(n);
    ASSERT_NE(t, nullptr);
    std::string out(macaroon_serialize_size_hint(t), '\0');
    macaroon_serialize(t, out.data(), out.size(), &err);
    macaroon_destroy(t);
    out.resize(out.find('\0'));
    auto parsed = parseMacaroon(out);
    ASSERT_TRUE(parsed && *parsed) << (parsed ? "not a macaroon" : parsed.error().message());
    const MacaroonFacts& facts = **parsed;
    ASSERT_EQ(facts.caveats.size(), 1u);
    EXPECT_EQ(facts.caveats[0], "tier = stable");
    EXPECT_FALSE(facts.expires) << "a third-party caveat id is not an expiry";
}
