// Network behaviour is exercised end to end against the reference server in
// tests/integration; here: configuration and local refusals.
#include <gtest/gtest.h>

#include <livepatch/testing/fakes.h>

#include "https_transport.h"

using namespace livepatch;
using livepatch::plugins::HttpsTransport;

namespace {
struct Fixture {
    livepatch::testing::MapConfigView cfg;
    livepatch::testing::ManualClock clock;
    livepatch::testing::CapturingLogger log;
    PluginContext ctx;
    HttpsTransport t;
    Fixture() {
        cfg.declare(t.configKeys());  // the defaults the agent would give
        ctx.config = &cfg;
        ctx.clock = &clock;
        ctx.logger = &log;
        t.setEnvironment({});
    }
};
}  // namespace

TEST(HttpsTransport, RefusesPlainHttpUnlessAllowed) {
    Fixture f;
    ASSERT_TRUE(f.t.configure(f.ctx));
    HttpRequest req;
    req.url = "http://127.0.0.1:1/v1/x";
    auto r = f.t.send(req, nullptr);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code(), ErrorCode::InsecureRefused);
    EXPECT_TRUE(f.clock.sleeps().empty());  // policy refusals are not retried
}

TEST(HttpsTransport, ConnectionRefusedIsRetriedWithBackoffOnInjectedClock) {
    Fixture f;
    f.cfg.set("allow-insecure-http", "true");
    ASSERT_TRUE(f.t.configure(f.ctx));
    f.t.setRandom([] { return 999999u; });
    f.t.setMaxAttempts(4);
    HttpRequest req;
    req.url = "http://127.0.0.1:1/v1/x";  // nothing listens on port 1
    req.headers = {{"Authorization", "Bearer secret-token-value"}};
    auto r = f.t.send(req, nullptr);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code(), ErrorCode::Network);
    auto sleeps = f.clock.sleeps();
    ASSERT_EQ(sleeps.size(), 3u);
    EXPECT_LE(sleeps[0].count(), 1000);
    EXPECT_LE(sleeps[1].count(), 2000);
    EXPECT_LE(sleeps[2].count(), 4000);
    EXPECT_EQ(r.error().message().find("secret-token-value"), std::string::npos);
    EXPECT_FALSE(f.log.contains("secret-token-value"));
}

TEST(HttpsTransport, InvalidCaCertsRefusedAtConfigure) {
    Fixture f;
    f.cfg.set("ca-certs", "not a certificate");
    EXPECT_FALSE(f.t.configure(f.ctx));
}

TEST(HttpsTransport, CancelledBeforeStart) {
    Fixture f;
    ASSERT_TRUE(f.t.configure(f.ctx));
    CancelToken c;
    c.cancel();
    HttpRequest req;
    req.url = "https://127.0.0.1:1/";
    EXPECT_EQ(f.t.send(req, &c).error().code(), ErrorCode::Cancelled);
}
