#include <gtest/gtest.h>

#include "policy.h"

using namespace livepatch;
using namespace livepatch::plugins::https;

TEST(Policy, DisplayUrlStripsSecrets) {
    EXPECT_EQ(displayUrl("https://user:pw@example.com:8443/p/a?token=abc"), "https://example.com:8443/p/a");
}

TEST(Policy, SchemeAndRedirects) {
    EXPECT_TRUE(checkScheme("https://a/", false));
    EXPECT_EQ(checkScheme("http://a/", false).error().code(), ErrorCode::InsecureRefused);
    EXPECT_TRUE(checkScheme("http://a/", true));
    EXPECT_FALSE(checkScheme("ftp://a/", true));
    EXPECT_EQ(checkRedirect("https://a/x", "http://a/y", true).error().code(), ErrorCode::InsecureRefused);
    EXPECT_TRUE(checkRedirect("https://a/x", "https://b/y", false));
}

TEST(Policy, ProxyFromConfigThenEnvironmentAndNoProxy) {
    ProxySettings cfg{"", "http://cfgproxy:3128", ""};
    auto eff = effectiveProxies(cfg, {{"HTTPS_PROXY", "http://envproxy:1"},
                                      {"http_proxy", "http://envhttp:2"},
                                      {"NO_PROXY", ".internal,localhost:8443"}});
    EXPECT_EQ(eff.httpsProxy, "http://cfgproxy:3128");
    EXPECT_EQ(eff.httpProxy, "http://envhttp:2");
    auto t = parseUrl("https://patches.example.com/x");
    EXPECT_EQ(*proxyFor(*t, eff), "http://cfgproxy:3128");
    EXPECT_FALSE(proxyFor(*parseUrl("https://srv.internal/x"), eff));
    EXPECT_FALSE(proxyFor(*parseUrl("https://internal/x"), eff));
    EXPECT_FALSE(proxyFor(*parseUrl("https://localhost:8443/x"), eff));
    EXPECT_TRUE(proxyFor(*parseUrl("https://localhost:9443/x"), eff));
    EXPECT_TRUE(proxyFor(*parseUrl("https://notinternal/x"), eff));
    eff.noProxy = "*";
    EXPECT_FALSE(proxyFor(*t, eff));
}

TEST(Policy, BackoffIsBoundedFullJitter) {
    for (unsigned a = 0; a < 10; ++a) {
        EXPECT_EQ(backoffDelay(a, 0).count(), 0);
        auto top = backoffDelay(a, ~0ull);
        EXPECT_LE(top.count(), std::min<long long>(1000LL << a, 30000));
    }
    EXPECT_EQ(backoffDelay(1, 1500).count(), 1500);
    EXPECT_EQ(backoffDelay(1, 2001).count(), 0);  // 2001 % 2001
}

TEST(Policy, RetryAfterSecondsAndDates) {
    auto now = std::chrono::system_clock::from_time_t(1700000000);  // Tue, 14 Nov 2023 22:13:20 GMT
    EXPECT_EQ(parseRetryAfter("7", now)->count(), 7000);
    EXPECT_EQ(parseRetryAfter("99999999", now)->count(), 600000);
    EXPECT_EQ(parseRetryAfter("Tue, 14 Nov 2023 22:13:50 GMT", now)->count(), 30000);
    EXPECT_EQ(parseRetryAfter("Tue, 14 Nov 2023 22:00:00 GMT", now)->count(), 0);
    EXPECT_FALSE(parseRetryAfter("soon", now));
}

TEST(Policy, VerifyErrorsAreSpecific) {
    EXPECT_NE(describeVerifyError(10).find("expired"), std::string::npos);  // X509_V_ERR_CERT_HAS_EXPIRED
    EXPECT_NE(describeVerifyError(20).find("unknown certificate authority"), std::string::npos);
    EXPECT_NE(describeVerifyError(62).find("host name"), std::string::npos);  // X509_V_ERR_HOSTNAME_MISMATCH
}
