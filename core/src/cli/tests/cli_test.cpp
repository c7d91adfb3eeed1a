#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <set>
#include <thread>

#include "cli/command_line.h"
#include "cli/command_table.h"
#include "cli/control_socket.h"
#include "cli/exit_codes.h"
#include "cli/status_render.h"
#include "logging/logger.h"

using namespace livepatch;
using namespace livepatch::cli;

namespace {
ParsedArguments parsed(std::vector<std::string> args) {
    args.insert(args.begin(), "livepatch-agent");
    auto p = parseArguments(args);
    EXPECT_TRUE(p.ok()) << (p.ok() ? "" : p.error().message());
    return p.ok() ? *p : ParsedArguments{};
}
std::string refused(std::vector<std::string> args) {
    args.insert(args.begin(), "livepatch-agent");
    auto p = parseArguments(args);
    if (p.ok()) return "accepted";
    EXPECT_EQ(p.error().code(), ErrorCode::InvalidArgument);
    return p.error().message();
}
}  // namespace

TEST(Args, ValueOptionsAcceptBothSpellingsAnywhere) {
    for (const auto& args : std::vector<std::vector<std::string>>{{"status", "--format", "json", "--root-dir", "/x"},
                                                                  {"--root-dir=/x", "status", "--format=json"},
                                                                  {"--format", "json", "--root-dir", "/x", "status"}}) {
        auto p = parsed(args);
        EXPECT_EQ(p.line.command, "status");
        EXPECT_TRUE(p.line.args.empty());
        EXPECT_EQ(p.line.format, "json");
        EXPECT_EQ(p.line.rootDir.value_or(""), "/x");
    }
    auto p = parsed({"status", "-v", "--cve", "CVE-2024-1086", "--show-secrets"});
    EXPECT_TRUE(p.line.verbose);
    EXPECT_TRUE(p.line.showSecrets);
    EXPECT_EQ(p.line.cve.value_or(""), "CVE-2024-1086");
    EXPECT_EQ(p.line.argv.size(), 6u) << "argv is kept as given, for exec";
}

TEST(Args, PositionalArgumentsKeepTheirOrderAndDoubleDashEndsOptions) {
    auto p = parsed({"config", "a=1", "--verbose", "b=2", "--", "--format", "-"});
    EXPECT_EQ(p.line.command, "config");
    EXPECT_EQ(p.line.args, (std::vector<std::string>{"a=1", "b=2", "--format", "-"}));
    EXPECT_TRUE(p.line.verbose);
    EXPECT_EQ(p.line.format, "humane") << "after --, --format is an argument";
    EXPECT_EQ(parsed({"enable", "-"}).line.args, (std::vector<std::string>{"-"})) << "'-' (stdin) is an argument";
}

TEST(Args, POSIXLY_CORRECTDoesNotChangeTheParse) {
    ::setenv("POSIXLY_CORRECT", "1", 1);
    auto p = parsed({"status", "--format", "yaml"});
    ::unsetenv("POSIXLY_CORRECT");
    EXPECT_EQ(p.line.command, "status");
    EXPECT_EQ(p.line.format, "yaml");
}

TEST(Args, HelpAndVersion) {
    EXPECT_TRUE(parsed({"--help"}).help);
    EXPECT_TRUE(parsed({"-h", "status"}).help);
    EXPECT_TRUE(parsed({"--version"}).version);
    EXPECT_TRUE(parsed({"--vers"}).version) << "a unique prefix of a long option is that option";
}

TEST(Args, BadOptionsAreRefusedWithTheOptionNamed) {
    EXPECT_NE(refused({"status", "--frobnicate"}).find("unknown or ambiguous option \"--frobnicate\""),
              std::string::npos);
    EXPECT_NE(refused({"status", "-x"}).find("\"-x\""), std::string::npos);
    EXPECT_NE(refused({"status", "--c"}).find("ambiguous"), std::string::npos) << "--cve or --cves";
    EXPECT_NE(refused({"status", "--format"}).find("\"--format\" needs a value"), std::string::npos);
    EXPECT_NE(refused({"status", "--format=json", "--format", "yaml"}).find("--format given more than once"),
              std::string::npos);
    EXPECT_NE(refused({"status", "--verbose=yes"}).find("unknown or ambiguous"), std::string::npos)
        << "a switch takes no value";
    EXPECT_NE(refused({"status", "--frobnicate"}).find("see livepatch-agent --help"), std::string::npos);
    const std::string typo = refused({"enable", "--tokn=s3cret-value"});
    EXPECT_NE(typo.find("\"--tokn\""), std::string::npos) << typo;
    EXPECT_EQ(typo.find("s3cret"), std::string::npos) << "the value of a mistyped option is not echoed: " << typo;
}

// Both binaries dispatch through the one command table: its row decides the
// argument check (before any handler runs, the same for every command), and
// a command with no route in this binary goes elsewhere unchecked.
TEST(Dispatch, TheCommandTableChecksArgumentsBeforeAnyHandler) {
    std::vector<std::string> ran;
    auto route = [&](const std::string& name) {
        return CommandRoute{name, [&ran, name](const CommandLine&) {
                                ran.push_back(name);
                                return 42;
                            }};
    };
    const std::vector<CommandRoute> routes = {route("disable"), route("completion"), route("config"),
                                              route("__hidden")};
    auto otherwise = [&](const CommandLine& l) {
        ran.push_back("otherwise:" + l.command);
        return 7;
    };
    auto run = [&](const std::string& cmd, std::vector<std::string> args) {
        CommandLine line;
        line.command = cmd;
        line.args = std::move(args);
        line.rootDir = "/nonexistent-test-root";  // privileged(): the root check passes
        return dispatch(line, routes, otherwise);
    };
    EXPECT_EQ(run("disable", {"extra"}), kExitUsage) << "takes no arguments";
    EXPECT_EQ(run("completion", {}), kExitUsage) << "takes exactly one";
    EXPECT_EQ(run("completion", {"bash", "zsh"}), kExitUsage);
    EXPECT_TRUE(ran.empty()) << "no handler runs when the table refuses";
    EXPECT_EQ(run("disable", {}), 42);
    EXPECT_EQ(run("config", {"a=1", "b=2"}), 42) << "config takes any number";
    EXPECT_EQ(run("__hidden", {"job"}), 42) << "a route outside the public table is not checked";
    EXPECT_EQ(run("plugins", {"x"}), 7) << "a command this binary has no route for goes elsewhere";
    EXPECT_EQ(ran, (std::vector<std::string>{"disable", "config", "__hidden", "otherwise:plugins"}));
    for (const auto& c : commandTable())
        EXPECT_TRUE(c.takes != Takes::One || !c.arguments.empty())
            << c.name << ": a one-argument command names it in its synopsis";
}

// Every ErrorCode, against README's exit-code table. A new code fails here
// until it is given its documented exit code.
TEST(ExitCodes, DocumentedMapping) {
    const std::vector<std::pair<ErrorCode, int>> readme = {
        {ErrorCode::Ok, 0},
        {ErrorCode::InvalidArgument, 2},
        {ErrorCode::ConfigInvalid, 2},
        {ErrorCode::TokenInvalid, 2},
        {ErrorCode::StateCorrupt, 8},
        {ErrorCode::Io, 1},
        {ErrorCode::NotEnabled, 1},
        {ErrorCode::AlreadyEnabled, 1},
        {ErrorCode::Unsupported, 1},
        {ErrorCode::PluginInvalid, 1},
        {ErrorCode::NotFound, 1},
        {ErrorCode::Cancelled, 1},
        {ErrorCode::Busy, 1},
        {ErrorCode::Internal, 1},
        {ErrorCode::Permission, 3},
        {ErrorCode::DaemonUnavailable, 4},
        {ErrorCode::Network, 5},
        {ErrorCode::Tls, 5},
        {ErrorCode::Timeout, 5},
        {ErrorCode::HttpStatus, 5},
        {ErrorCode::Protocol, 5},
        {ErrorCode::InsecureRefused, 5},
        {ErrorCode::TooLarge, 5},
        {ErrorCode::ChecksumMismatch, 6},
        {ErrorCode::SignatureInvalid, 6},
        {ErrorCode::Unsigned, 6},
        {ErrorCode::UntrustedSigner, 6},
        {ErrorCode::UnsafeArchive, 6},
        {ErrorCode::Rollback, 6},
        {ErrorCode::PolicyRefused, 6},
        {ErrorCode::LoadFailed, 7},
        {ErrorCode::TransitionStalled, 7},
        {ErrorCode::CrashGuard, 7},
        {ErrorCode::Stale, 9},
    };
    std::set<int> covered;
    for (const auto& [code, exit] : readme) {
        EXPECT_EQ(exitCodeFor(code), exit) << errorCodeName(code);
        covered.insert(static_cast<int>(code));
    }
    // The codes are dense from 0; the first unnamed one ends the enum.
    int count = 0;
    while (std::string(errorCodeName(static_cast<ErrorCode>(count))) != errorCodeName(static_cast<ErrorCode>(-1)))
        ++count;
    EXPECT_EQ(static_cast<int>(covered.size()), count) << "an ErrorCode without a documented exit code";
    for (int c = 0; c < count; ++c) EXPECT_TRUE(covered.count(c)) << errorCodeName(static_cast<ErrorCode>(c));
}

// `refresh` runs the cycle itself only when no daemon listens; a daemon
// that took the command and vanished is exit 4, not a silent second run.
TEST(Control, NobodyListeningIsNotFoundButNoAnswerIsDaemonUnavailable) {
    const std::string dir = ::testing::TempDir() + "lp-ctl-" + std::to_string(::getpid());
    ::mkdir(dir.c_str(), 0700);
    const std::string path = dir + "/agent.sock";
    auto none = sendControl(path, "refresh", nullptr);
    ASSERT_FALSE(none);
    EXPECT_EQ(none.error().code(), ErrorCode::NotFound);
    EXPECT_EQ(exitCodeFor(none.error().code()), 1);

    int listener = ::socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un addr {};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
    ASSERT_EQ(::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    ASSERT_EQ(::listen(listener, 1), 0);
    std::thread daemon([&] {  // takes the command, then dies without a done line
        int c = ::accept(listener, nullptr, nullptr);
        char buf[64];
        (void)::read(c, buf, sizeof buf);
        ::close(c);
    });
    auto vanished = sendControl(path, "refresh", nullptr);
    daemon.join();
    ::close(listener);
    ::unlink(path.c_str());
    ::rmdir(dir.c_str());
    ASSERT_FALSE(vanished);
    EXPECT_EQ(vanished.error().code(), ErrorCode::DaemonUnavailable);
    EXPECT_EQ(exitCodeFor(vanished.error().code()), 4);
}

TEST(Control, LineEncoding) {
    int code = -1;
    std::string msg;
    ASSERT_TRUE(parseDoneLine("done 6 signature does not match", code, msg));
    EXPECT_EQ(code, 6);
    EXPECT_EQ(msg, "signature does not match");
    EXPECT_FALSE(parseDoneLine("progress download 1 2", code, msg));
    EXPECT_EQ(doneLine(0, "a\nb"), "done 0 a b\n");
    EXPECT_EQ(progressLine("download", 5, 10), "progress download 5 10\n");
}

TEST(Redaction, SecretsNeverReachALogLine) {
    const std::string uuid = "0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9";
    EXPECT_EQ(redactSecrets("token " + uuid).find(uuid), std::string::npos);
    EXPECT_EQ(redactSecrets("Authorization: Bearer abc123").find("abc123"), std::string::npos);
    EXPECT_EQ(redactSecrets("Macaroon MDAxY2xvY2F0aW9uIGh0dHBzOi8vbGl2ZXBhdGNoLnRlc3QKMDAx").find("MDAxY2xv"),
              std::string::npos);
    EXPECT_EQ(redactSecrets("proxy http://user:pw@proxy:3128").find("user:pw"), std::string::npos);
    EXPECT_EQ(redactSecrets("applied patch lp_demo version 2"), "applied patch lp_demo version 2");
}

namespace {
AgentState sampleState() {
    AgentState s;
    s.enabled = true;
    s.kernel = "5.15.0-100.110-generic";
    s.architecture = "x86_64";
    s.lastCheck = "2026-11-24T00:00:00Z";
    s.checkState = CheckState::CheckFailed;
    s.checkError = "HTTP 502 from https://x/v1: Bad Gateway";
    s.supported = KernelSupport::Supported;
    s.patchState = PatchState::Applied;
    AppliedPatchRecord r;
    r.version = "2";
    r.name = "lp";
    s.applied = r;
    s.inKernel = KernelPatchView{"lp", "2", true, false};
    s.fixes = {PatchFix{"cve-2024-1086", "nf_tables", "lp#1", true}};
    return s;
}
StatusFacts sampleFacts() {
    StatusFacts f;
    f.clientVersion = "0.1.0";
    f.machineId = std::string(32, 'a');
    f.uptimeSeconds = 3723;
    return f;
}
}  // namespace

TEST(StatusRender, JsonMatchesSchemaAndCanonicalKeys) {
    const std::string json = renderJson(sampleState(), sampleFacts(), {});
    for (const char* key : {"\"Client-Version\"", "\"Machine-Id\"", "\"Architecture\"", "\"CPU-Model\"",
                            "\"Last-Check\"", "\"Boot-Time\"", "\"Uptime\"", "\"tier\"", "\"Kernel\"", "\"Running\"",
                            "\"Supported\"", "\"UpgradeRequiredDate\"", "\"CheckState\"", "\"State\"", "\"Version\"",
                            "\"Fixes\"", "\"Name\"", "\"Patched\""})
        EXPECT_NE(json.find(key), std::string::npos) << key;
    EXPECT_NE(json.find("1h2m3s"), std::string::npos);
    const std::string path = "/tmp/lp-status-" + std::to_string(::getpid()) + ".json";
    std::ofstream(path) << json;
    const std::string cmd =
        "/usr/bin/python3 -m jsonschema -i " + path + " " LIVEPATCH_SOURCE_DIR "/schemas/status.schema.json";
    EXPECT_EQ(std::system(cmd.c_str()), 0);
    std::remove(path.c_str());
}

TEST(StatusRender, SecretsOnlyWhenAsked) {
    StatusOptions o;
    o.secret = "very-secret-machine-token";
    EXPECT_EQ(renderJson(sampleState(), sampleFacts(), o).find(o.secret), std::string::npos);
    EXPECT_EQ(renderHumane(sampleState(), sampleFacts(), o).find(o.secret), std::string::npos);
    EXPECT_EQ(renderYaml(sampleState(), sampleFacts(), o).find(o.secret), std::string::npos);
    o.showSecrets = true;
    EXPECT_NE(renderJson(sampleState(), sampleFacts(), o).find(o.secret), std::string::npos);
}

TEST(StatusRender, YamlAndHumane) {
    const std::string y = renderYaml(sampleState(), sampleFacts(), {});
    EXPECT_NE(y.find("Client-Version: \"0.1.0\""), std::string::npos) << y;
    EXPECT_NE(y.find("Patched: true"), std::string::npos) << y;
    const std::string h = renderHumane(sampleState(), sampleFacts(), {});
    EXPECT_NE(h.find("server check-in: check-failed (HTTP 502 from https://x/v1: Bad Gateway)"), std::string::npos)
        << h;
    EXPECT_NE(h.find("patch version: 2"), std::string::npos);
}

// Regression (security review item 8): server strings in the state file
// (tier, fixes, an error quoting the server) were printed raw: ESC/OSC
// sequences reached root's terminal. Every format shows them inert.
TEST(StatusRender, ServerTextNeverReachesTheTerminalRaw) {
    AgentState st = sampleState();
    st.tier = "premium\x1b]0;owned\x07";
    st.checkError = "HTTP 502: \x1b[2Jgone";
    PatchFix fx;
    fx.name =
        "cve\xc2\x9b"
        "31m";
    fx.description = "line\nforged: ok\xe2\x80\xae";
    st.fixes = {fx};
    StatusOptions verbose;
    verbose.verbose = true;
    for (const auto& out : {renderHumane(st, sampleFacts(), verbose), renderJson(st, sampleFacts(), verbose),
                            renderYaml(st, sampleFacts(), verbose)}) {
        EXPECT_EQ(out.find('\x1b'), std::string::npos) << out;
        EXPECT_EQ(out.find('\x07'), std::string::npos) << out;
        EXPECT_EQ(out.find("\xc2\x9b"), std::string::npos) << out;
        EXPECT_EQ(out.find("\xe2\x80\xae"), std::string::npos) << out;
        EXPECT_EQ(out.find("\nforged"), std::string::npos) << out;
    }
    const std::string h = renderHumane(st, sampleFacts(), verbose);
    EXPECT_NE(h.find("tier: premium\\x1b]0;owned\\x07\n"), std::string::npos) << h;
    EXPECT_NE(h.find("line\\nforged: ok\\u202e"), std::string::npos) << h;
}

// ---- daemon workers (cli/engine_binary.h) ---------------------------------

#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include "cli/engine_binary.h"

namespace {
// A stand-in engine binary: a shell script playing one worker behaviour.
struct FakeEngine {
    std::filesystem::path dir;
    explicit FakeEngine(const std::string& body, const std::string& interpreter = "/bin/sh") {
        char tmpl[] = "/tmp/lp-worker-test.XXXXXX";
        dir = ::mkdtemp(tmpl);
        std::ofstream(dir / "engine") << "#!" << interpreter << "\n" << body << "\n";
        ::chmod((dir / "engine").c_str(), 0700);
    }
    ~FakeEngine() { std::filesystem::remove_all(dir); }
    std::string path() const { return (dir / "engine").string(); }
};
}  // namespace

TEST(WorkerProtocol, ResultLineRoundTrip) {
    WorkerOutcome o;
    o.exitCode = 6;
    o.errorCode = "signature-invalid";
    o.applied = false;
    o.message = "bad\nsignature";
    const std::string line = workerResultLine(o);
    EXPECT_EQ(line, "result 6 signature-invalid 0 bad signature");
    WorkerOutcome back;
    ASSERT_TRUE(parseWorkerResultLine(line, back));
    EXPECT_EQ(back.exitCode, 6);
    EXPECT_EQ(back.errorCode, "signature-invalid");
    EXPECT_FALSE(back.applied);
    EXPECT_EQ(back.message, "bad signature");
    EXPECT_FALSE(parseWorkerResultLine("result x ok 0 m", back));
    EXPECT_FALSE(parseWorkerResultLine("result 0 ok 2 m", back));
    EXPECT_FALSE(parseWorkerResultLine("progress download 1 2", back));
}

TEST(WorkerRunner, RelaysProgressAndReadsTheResult) {
    FakeEngine engine(
        R"(echo "progress download 10 20"; echo "noise"; echo "progress verify 0 0"; echo "result 0 ok 1 args: $*")");
    WorkerRunner runner(engine.path(), {"--root-dir=/x"});
    std::vector<std::string> progress;
    auto o = runner.run("refresh", [&](const std::string& l) { progress.push_back(l); });
    EXPECT_EQ(o.exitCode, 0);
    EXPECT_TRUE(o.applied);
    EXPECT_EQ(o.message, "args: --root-dir=/x __worker refresh");
    EXPECT_EQ(progress, (std::vector<std::string>{"progress download 10 20", "progress verify 0 0"}));
}

TEST(WorkerRunner, ACrashedWorkerIsAnInternalFailureNotADaemonCrash) {
    FakeEngine engine("echo 'progress download 1 2'; kill -SEGV $$");
    WorkerRunner runner(engine.path(), {});
    auto o = runner.run("scheduled", nullptr);
    EXPECT_EQ(o.exitCode, kExitFailure);
    EXPECT_EQ(o.errorCode, "internal");
    EXPECT_NE(o.message.find("killed by signal 11"), std::string::npos) << o.message;

    FakeEngine silent("exit 3");
    WorkerRunner runner2(silent.path(), {});
    o = runner2.run("scheduled", nullptr);
    EXPECT_EQ(o.errorCode, "internal");
    EXPECT_NE(o.message.find("exited with code 3 without a result"), std::string::npos) << o.message;
}

TEST(WorkerRunner, WorkersStartWithNoSignalBlocked) {
    // The daemon blocks SIGTERM/SIGINT/SIGHUP in every thread (one thread
    // takes them with sigwait). A worker inheriting that mask would ignore
    // the daemon's SIGTERM. awk, unlike sh, leaves its mask as it found it.
    FakeEngine engine(
        R"(BEGIN { while ((getline l < "/proc/self/status") > 0) if (l ~ /^SigBlk:/) { split(l, f, "\t"); m = f[2] }
                                print "result 0 ok 0 " m })",
        "/usr/bin/awk -f");
    sigset_t set, old;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, &old);
    WorkerRunner runner(engine.path(), {});
    auto o = runner.run("scheduled", nullptr);
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
    ASSERT_EQ(o.exitCode, 0) << o.message;
    EXPECT_EQ(o.message, "0000000000000000");
}

TEST(WorkerRunner, CancelStopsTheRunningWorker) {
    FakeEngine engine(
        "trap 'echo \"result 1 cancelled 0 stopped\"; exit 1' TERM; echo 'progress check 0 0'; "
        "while :; do sleep 0.05; done");
    sigset_t set, old;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, &old);
    WorkerRunner runner(engine.path(), {});
    std::thread canceller;
    auto o = runner.run("scheduled", [&](const std::string&) {
        canceller = std::thread([&] {
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
            runner.cancel();
        });
    });
    canceller.join();
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
    EXPECT_EQ(o.errorCode, "cancelled");
    EXPECT_EQ(o.message, "stopped");
    // After cancel() no new worker starts.
    EXPECT_EQ(runner.run("scheduled", nullptr).errorCode, "cancelled");
}

TEST(WorkerRunner, MissingEngineIsReportedNotThrown) {
    WorkerRunner runner("/nonexistent/livepatch-agent-engine", {});
    auto o = runner.run("start", nullptr);
    EXPECT_EQ(o.errorCode, "internal");
    EXPECT_NE(o.message.find("/nonexistent/livepatch-agent-engine"), std::string::npos) << o.message;
}

// ---- control socket (issue 20.4) --------------------------------------------

#include <sys/socket.h>
#include <sys/un.h>

#include <chrono>
#include <filesystem>
#include <thread>

namespace {

int connectTo(const std::string& path) {
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un addr {};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        ::close(fd);
        return -1;
    }
    return fd;
}

}  // namespace

// One silent connection used to delay every other client by 5 s (30 by
// 149 s), and one sending a byte every 4 s held the socket indefinitely.
TEST(ControlSocket, SilentOrTricklingClientsCannotStarveAnother) {
    const std::string dir = std::filesystem::temp_directory_path() / ("lpctl-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    const std::string path = dir + "/agent.sock";
    ControlServer server;
    ASSERT_TRUE(server.start(path, [](const std::string& command, const std::function<void(const std::string&)>&) {
        return std::make_pair(0, "got " + command);
    }));
    std::vector<int> silent;
    for (int i = 0; i < 5; ++i) silent.push_back(connectTo(path));
    const int trickler = connectTo(path);
    std::atomic<bool> trickling{true};
    std::thread drip([&] {
        while (trickling) {
            (void)!::send(trickler, "r", 1, MSG_NOSIGNAL);
            std::this_thread::sleep_for(std::chrono::milliseconds(300));
        }
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    const auto start = std::chrono::steady_clock::now();
    auto answer = sendControl(path, "reload", nullptr);
    const auto took = std::chrono::steady_clock::now() - start;
    ASSERT_TRUE(answer) << answer.error().message();
    EXPECT_EQ(answer->second, "got reload");
    EXPECT_LT(took, std::chrono::milliseconds(2500)) << "a client waited behind silent ones (the old server: 5 s each)";
    // The trickler is cut off at the whole-request deadline, not kept forever.
    char buf[256];
    struct timeval giveUp {
        5, 0
    };  // the old server held it for hours
    ::setsockopt(trickler, SOL_SOCKET, SO_RCVTIMEO, &giveUp, sizeof giveUp);
    const auto cutStart = std::chrono::steady_clock::now();
    while (::recv(trickler, buf, sizeof buf, 0) > 0) {
    }
    EXPECT_LT(std::chrono::steady_clock::now() - cutStart,
              ControlServer::kRequestDeadline + std::chrono::milliseconds(1000));
    trickling = false;
    drip.join();
    for (int fd : silent) ::close(fd);
    ::close(trickler);
    server.stop();
    std::filesystem::remove_all(dir);
}
