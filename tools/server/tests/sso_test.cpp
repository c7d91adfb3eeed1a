// Admin login through the site's SSO hook (sso_hook.h): real hook scripts
// written here, run by the real server over HTTP; and the hook output parser.
#include <signal.h>
#include <sys/stat.h>

#include "admin_auth.h"
#include "livepatch/trusted_files.h"
#include "server_fixture.h"
#include "sso_hook.h"
#include "util/timeutil.h"

namespace {

using std::chrono::seconds;

// Contains characters outside the user-name rule ('/', '~', '='), so a hook
// that echoes it back prints a bad user name, not an accepted one.
const std::string kAssertion = "eyJhbGciOiJSUzI1NiJ9.c2VjcmV0LWFzc2VydGlvbg~/sso-SECRET-assertion-4711==";

class AdminSsoTest : public ServerTest {
protected:
    // An executable hook script (0755, root's) at dir/hook; its body after "#!/bin/sh".
    std::string writeHook(const std::string& body, fsys::perms mode = fsys::perms(0755)) {
        const auto path = dir / "hook";
        std::ofstream(path) << "#!/bin/sh\n" << body;
        fsys::permissions(path, mode);
        return path.string();
    }
    livepatch::Status startWithHook(const std::string& path, std::chrono::milliseconds timeout = seconds(10)) {
        server.reset();
        ServerOptions o = options();
        o.adminSsoHook = path;
        o.adminSsoTimeout = timeout;
        server = std::make_unique<Server>(o);
        return server->start();
    }
    Reply ssoLogin(const std::string& assertion, const std::string& body = "") {
        return call(server->port(), "POST", "/admin/login", body, {{"Authorization", "Bearer " + assertion}});
    }
    static Poco::JSON::Object::Ptr json(const std::string& body) {
        return Poco::JSON::Parser().parse(body).extract<Poco::JSON::Object::Ptr>();
    }
    static std::string slurp(const fsys::path& p) { return livepatch::testing::readWholeFile(p); }
    // A process we started is gone only once reaped (a zombie still has /proc/PID).
    static bool reaped(pid_t pid) { return !fsys::exists("/proc/" + std::to_string(pid)); }
    // One the hook started is gone once dead: reaping it is init's job.
    static bool dead(pid_t pid) {
        const std::string stat = slurp("/proc/" + std::to_string(pid) + "/stat");
        const auto close = stat.rfind(')');
        return stat.empty() || (close != std::string::npos && stat.compare(close + 2, 1, "Z") == 0);
    }
};

}  // namespace

TEST(AdminSsoHookOutput, OneUserLineAndAnOptionalExpiryAreAccepted) {
    auto a = parseSsoHookOutput("alice\n");
    ASSERT_TRUE(a) << a.error().message();
    EXPECT_EQ(a->user, "alice");
    EXPECT_FALSE(a->lifetime);
    EXPECT_EQ(parseSsoHookOutput("ops.team@example.com")->user, "ops.team@example.com") << "no final newline";
    auto e = parseSsoHookOutput("bob\nexpires=120\n");
    ASSERT_TRUE(e) << e.error().message();
    EXPECT_EQ(e->user, "bob");
    EXPECT_EQ(e->lifetime, seconds(120));
}

TEST(AdminSsoHookOutput, AnythingElseIsRefusedWithoutQuotingIt) {
    for (const std::string& out : std::vector<std::string>{
             "", "\n", " alice\n", "alice \n", "alice\r\n", "-alice\n", "al/ice\n", "alice\x1b[2J\n",
             std::string(65, 'a') + "\n", "alice\nbob\n", "alice\nexpires=120\nmore\n", "alice\n\n",
             "alice\nexpires=0\n", "alice\nexpires=soon\n", "alice\nexpires=-5\n", "alice\nexpires=1234567890\n",
             "alice\nEXPIRES=60\n", kAssertion + "\n"}) {
        auto r = parseSsoHookOutput(out);
        EXPECT_FALSE(r) << "accepted: " << out;
        if (!r && out.size() > 3) {
            EXPECT_EQ(r.error().message().find(out.substr(0, 4)), std::string::npos);
        }
    }
    EXPECT_EQ(parseSsoHookOutput(kAssertion).error().message().find("SECRET"), std::string::npos);
}

TEST(AdminSsoHookOutput, TheUserNameRuleIsTheAdminPasswordFilesToo) {
    EXPECT_TRUE(AdminUsers::parse("ops.team@example.com:" + hashAdminPassword("x") + "\n"));
    auto bad = AdminUsers::parse("bad/user:" + hashAdminPassword("x") + "\n");
    ASSERT_FALSE(bad);
    EXPECT_NE(bad.error().message().find("admin-password line 1: the user name must be"), std::string::npos)
        << bad.error().message();
}

// The server may run as its own user: a hook that user owns is trusted too
// (the tests run as root, so this is the one place that path is taken).
TEST(AdminSsoHookOwner, RootOrTheServersOwnUserAndNobodyElse) {
    struct stat st {};
    st.st_mode = S_IFREG | 0755;
    st.st_uid = 1234;
    EXPECT_TRUE(livepatch::checkRootOnlyStat(st, "the hook", livepatch::ErrorCode::ConfigInvalid, 1234));
    auto other = livepatch::checkRootOnlyStat(st, "the hook", livepatch::ErrorCode::ConfigInvalid, 99);
    ASSERT_FALSE(other);
    EXPECT_EQ(other.error().message(), "the hook is owned by uid 1234, not root or uid 99");
    auto rootOnly = livepatch::checkRootOnlyStat(st, "the hook", livepatch::ErrorCode::ConfigInvalid);
    ASSERT_FALSE(rootOnly);
    EXPECT_EQ(rootOnly.error().message(), "the hook is owned by uid 1234, not root");
    st.st_mode = S_IFREG | 0775;
    EXPECT_FALSE(livepatch::checkRootOnlyStat(st, "the hook", livepatch::ErrorCode::ConfigInvalid, 1234));
}

TEST_F(AdminSsoTest, AnAcceptedUserGetsAnAdminMacaroonAndTheAssertionStaysOnStdin) {
    // The hook leaves its argv, environment and standard input for the test to read.
    const std::string hook =
        writeHook("printf '%s\\n' \"$0\" \"$@\" > '" + (dir / "argv").string() + "'\nenv > '" + (dir / "env").string() +
                  "'\ncat /proc/$$/cmdline /proc/$$/environ > '" + (dir / "proc").string() +
                  "'\nIFS= read -r assertion\nprintf '%s' \"$assertion\" > '" + (dir / "stdin").string() +
                  "'\n[ \"$assertion\" = '" + kAssertion + "' ] || exit 1\necho alice\n");
    ASSERT_TRUE(startWithHook(hook));
    ::testing::internal::CaptureStdout();
    ::testing::internal::CaptureStderr();
    auto r = ssoLogin(kAssertion);
    const std::string stdinSeen = slurp(dir / "stdin"), argv = slurp(dir / "argv"), env = slurp(dir / "env"),
                      proc = slurp(dir / "proc");
    auto wrong = ssoLogin("another-assertion");
    const std::string out = ::testing::internal::GetCapturedStdout();
    const std::string err = ::testing::internal::GetCapturedStderr();
    ASSERT_EQ(r.status, 200) << r.body;
    const std::string macaroon = json(r.body)->getValue<std::string>("macaroon");
    EXPECT_EQ(verifyAdminMacaroon("server-test-macaroon-root-key-0123456789", macaroon),
              std::optional<std::string>("alice"));
    auto expires = livepatch::timeutil::parseRfc3339(json(r.body)->getValue<std::string>("expires"));
    ASSERT_TRUE(expires);
    EXPECT_GT(*expires, std::chrono::system_clock::now() + std::chrono::minutes(59)) << "the default hour";
    EXPECT_EQ(call(server->port(), "GET", "/admin/tiers", "", {{"Authorization", "Macaroon " + macaroon}}).status, 200);
    EXPECT_EQ(wrong.status, 401);
    EXPECT_NE(out.find("admin SSO login from 127.0.0.1 accepted for alice"), std::string::npos) << out;
    EXPECT_NE(err.find("refused: the hook exited with status 1"), std::string::npos) << err;
    EXPECT_EQ(stdinSeen, kAssertion);
    EXPECT_EQ(argv, hook + "\n") << "argv is the hook's path alone";
    EXPECT_NE(env.find("LC_ALL=C"), std::string::npos) << env;
    EXPECT_EQ(env.find("HOME="), std::string::npos) << "not the server's environment: " << env;
    for (const std::string& where : {out, err, argv, env, proc})
        EXPECT_EQ(where.find("SECRET"), std::string::npos) << where;
    EXPECT_NE(proc.find(hook), std::string::npos) << "/proc/PID/cmdline and environ were read";
}

TEST_F(AdminSsoTest, TheHooksExpiryShortensTheMacaroonAndNeverLengthensIt) {
    ASSERT_TRUE(startWithHook(writeHook("cat > /dev/null\nprintf 'bob\\nexpires=120\\n'\n")));
    auto shortened = ssoLogin(kAssertion, R"({"valid-for":"8h"})");
    ASSERT_EQ(shortened.status, 200) << shortened.body;
    EXPECT_LT(*livepatch::timeutil::parseRfc3339(json(shortened.body)->getValue<std::string>("expires")),
              std::chrono::system_clock::now() + seconds(125));
    ASSERT_TRUE(startWithHook(writeHook("printf 'bob\\nexpires=86400\\n'\n")));
    auto notLonger = ssoLogin(kAssertion, R"({"valid-for":"10m"})");
    ASSERT_EQ(notLonger.status, 200) << notLonger.body;
    EXPECT_LT(*livepatch::timeutil::parseRfc3339(json(notLonger.body)->getValue<std::string>("expires")),
              std::chrono::system_clock::now() + std::chrono::minutes(11));
}

TEST_F(AdminSsoTest, BadHookAnswersAre401AndLoggedWithoutTheAssertion) {
    struct Case {
        const char* body;
        const char* logged;
    };
    for (const Case& c : {Case{"exit 1\n", "the hook exited with status 1"},
                          Case{"cat\n", "the hook's first line is not an admin user name"},  // echoes the assertion
                          Case{"echo 'bad user'\n", "the hook's first line is not an admin user name"},
                          Case{"echo alice; echo expires=soon\n", "the hook's second line is not expires=<seconds>"},
                          Case{"echo alice; kill -9 $$\n", "the hook was killed by signal 9"},
                          Case{"head -c 10000 /dev/zero | tr '\\0' a\n", "the hook printed more than 4096 bytes"}}) {
        ASSERT_TRUE(startWithHook(writeHook(c.body)));
        ::testing::internal::CaptureStderr();
        auto r = ssoLogin(kAssertion);
        const std::string err = ::testing::internal::GetCapturedStderr();
        EXPECT_EQ(r.status, 401) << c.body << r.body;
        EXPECT_NE(r.body.find("the SSO login was refused"), std::string::npos) << r.body;
        EXPECT_NE(err.find(c.logged), std::string::npos) << c.body << err;
        EXPECT_EQ(err.find("SECRET"), std::string::npos) << err;
        EXPECT_EQ(r.body.find("SECRET"), std::string::npos) << r.body;
    }
}

TEST_F(AdminSsoTest, AHookPastItsTimeoutIsKilledWithWhatItStarted) {
    const std::string pids = (dir / "pids").string();
    ASSERT_TRUE(startWithHook(writeHook("sleep 30 &\necho $$ $! > '" + pids + "'\nwait\necho alice\n"),
                              std::chrono::milliseconds(1000)));
    ::testing::internal::CaptureStderr();
    const auto began = std::chrono::steady_clock::now();
    auto r = ssoLogin(kAssertion);
    const auto took = std::chrono::steady_clock::now() - began;
    const std::string err = ::testing::internal::GetCapturedStderr();
    EXPECT_EQ(r.status, 401) << r.body;
    EXPECT_LT(took, seconds(5));
    EXPECT_NE(err.find("the hook did not finish within 1000 ms (killed)"), std::string::npos) << err;
    pid_t hook = 0, child = 0;
    std::ifstream(pids) >> hook >> child;
    ASSERT_GT(hook, 0);
    ASSERT_GT(child, 0);
    EXPECT_TRUE(reaped(hook)) << "the hook was waited for, not left a zombie";
    for (int i = 0; i < 100 && !dead(child); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    EXPECT_TRUE(dead(child)) << "what the hook started went with it";
    if (!dead(child)) ::kill(child, SIGKILL);
}

TEST_F(AdminSsoTest, AHookOthersCouldReplaceStopsTheStart) {
    auto loose = startWithHook(writeHook("echo alice\n", fsys::perms(0777)));
    ASSERT_FALSE(loose);
    EXPECT_NE(loose.error().message().find("refusing --admin-sso-hook " + (dir / "hook").string() +
                                           ": the hook is group/world-writable (mode 0777)"),
              std::string::npos)
        << loose.error().message();
    auto group = startWithHook(writeHook("echo alice\n", fsys::perms(0775)));
    ASSERT_FALSE(group);
    EXPECT_NE(group.error().message().find("group/world-writable (mode 0775)"), std::string::npos);
    auto notExecutable = startWithHook(writeHook("echo alice\n", fsys::perms(0644)));
    ASSERT_FALSE(notExecutable);
    EXPECT_NE(notExecutable.error().message().find("is not executable"), std::string::npos);
    auto relative = startWithHook("hook");
    ASSERT_FALSE(relative);
    EXPECT_NE(relative.error().message().find("is not an absolute path"), std::string::npos);
    server.reset();
    EXPECT_TRUE(startWithHook(writeHook("echo alice\n")));
    // Loosened while running: refused at the next login, the hook not run.
    fsys::permissions(dir / "hook", fsys::perms(0777));
    ::testing::internal::CaptureStderr();
    EXPECT_EQ(ssoLogin(kAssertion).status, 401);
    EXPECT_NE(::testing::internal::GetCapturedStderr().find("group/world-writable"), std::string::npos);
}

TEST_F(AdminSsoTest, WithoutAHookOrWithABadAssertionABearerLoginIs401) {
    auto r = ssoLogin(kAssertion);  // the fixture's server: no --admin-sso-hook
    EXPECT_EQ(r.status, 401);
    EXPECT_NE(r.body.find("SSO login is not configured"), std::string::npos) << r.body;
    const std::string ran = (dir / "ran").string();
    ASSERT_TRUE(startWithHook(writeHook("touch '" + ran + "'\necho alice\n")));
    for (const std::string& bad : std::vector<std::string>{"two words", "ctl\x01char", "caf\xc3\xa9", "tab\tbed"}) {
        auto b = ssoLogin(bad);
        EXPECT_EQ(b.status, 401) << b.body;
        EXPECT_NE(b.body.find("printable ASCII"), std::string::npos) << b.body;
    }
    // One byte more than fits: the HTTP layer refuses the header itself.
    EXPECT_EQ(ssoLogin(std::string(kMaxSsoAssertionBytes + 1, 'a')).status, 400);
    EXPECT_FALSE(fsys::exists(ran)) << "the hook never saw them";
    EXPECT_EQ(ssoLogin(std::string(kMaxSsoAssertionBytes, 'a')).status, 200) << "the longest assertion";
    EXPECT_EQ(call(server->port(), "GET", "/admin/tiers", "", {{"Authorization", "Bearer " + kAssertion}}).status, 401)
        << "an assertion is a login, not an admin credential";
}

TEST_F(AdminSsoTest, MoreConcurrentHooksThanTheLimitAre503WithRetryAfter) {
    ASSERT_TRUE(startWithHook(writeHook("sleep 1\necho alice\n")));
    std::vector<std::thread> threads;
    std::vector<Reply> replies(7);
    for (std::size_t i = 0; i < replies.size(); ++i)
        threads.emplace_back([&, i] { replies[i] = ssoLogin(kAssertion); });
    for (auto& t : threads) t.join();
    int ok = 0, busy = 0;
    for (const auto& r : replies) {
        if (r.status == 200) ++ok;
        if (r.status == 503) {
            ++busy;
            EXPECT_EQ(r.retryAfter, "1");
        }
    }
    EXPECT_EQ(ok, 4) << "four hooks at once";
    EXPECT_EQ(busy, 3);
}
