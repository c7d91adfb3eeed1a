#include <gtest/gtest.h>

#include "auth_token.h"

using namespace livepatch;
using namespace livepatch::plugins;

TEST(AuthToken, AcceptsOnlyUuidV4) {
    EXPECT_TRUE(isUuidV4("0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9"));
    EXPECT_TRUE(isUuidV4("0F1E2D3C-4B5A-4978-B695-A4B3C2D1E0F9"));
    EXPECT_FALSE(isUuidV4("0f1e2d3c-4b5a-1978-8695-a4b3c2d1e0f9"));  // version 1
    EXPECT_FALSE(isUuidV4("0f1e2d3c-4b5a-4978-c695-a4b3c2d1e0f9"));  // variant c
    EXPECT_FALSE(isUuidV4("0f1e2d3c4b5a49788695a4b3c2d1e0f9"));
    EXPECT_FALSE(isUuidV4("0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0fz"));
    EXPECT_FALSE(isUuidV4(""));
}

TEST(AuthToken, AnythingButAUuidIsNotItsKindOfToken) {
    AuthTokenPlugin p;
    for (const std::string other : {"not-a-uuid-but-a-secret-value", "", "MDAxY2xvY2F0aW9u"}) {
        auto r = p.inspect(other);
        ASSERT_TRUE(r) << "not its kind is a verdict, not an error";
        EXPECT_EQ(r->verdict, TokenInspection::Verdict::NotMine) << other;
    }
    EXPECT_FALSE(p.registrationAuthorization("not-a-uuid-but-a-secret-value"));
}

TEST(AuthToken, RegistrationFlow) {
    AuthTokenPlugin p;
    const std::string token = "0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9";
    auto inspected = p.inspect(token);
    ASSERT_TRUE(inspected);
    EXPECT_EQ(inspected->verdict, TokenInspection::Verdict::Mine);
    EXPECT_EQ(inspected->info.kind, "auth-token");
    EXPECT_EQ(*p.registrationAuthorization(token), "Bearer " + token);
    RegistrationResponse none;
    EXPECT_EQ(p.credentialFromRegistration(token, none).error().code(), ErrorCode::Protocol);
    RegistrationResponse ok;
    ok.machineToken = "mt-123";
    auto cred = p.credentialFromRegistration(token, ok);
    ASSERT_TRUE(cred);
    EXPECT_EQ(cred->secret, "mt-123");
    EXPECT_EQ(*p.requestAuthorization(*cred), "Bearer mt-123");
    RegistrationResponse bad;
    bad.machineToken = "mt 1\n";
    EXPECT_FALSE(p.credentialFromRegistration(token, bad));
}
