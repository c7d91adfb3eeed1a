// What a sysadmin's tooling reads around the agent (issue 17): the command
// table behind --help and completion, the man pages, the CVE view, the login
// notice, Prometheus metrics and the reboot-required flag.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include "cli/command_table.h"
#include "cli/host_notices.h"
#include "cli/status_render.h"
#include "cli/status_views.h"
#include "config/config.h"
#include "livepatch/testing/files.h"
#include "util/fs.h"

using namespace livepatch;
using livepatch::testing::readWholeFile;
using namespace livepatch::cli;

namespace {

AgentState patchedState() {
    AgentState st;
    st.enabled = true;
    st.lastCheck = "2026-01-02T03:04:05Z";
    st.checkState = CheckState::Checked;
    st.supported = KernelSupport::Supported;
    st.patchState = PatchState::Applied;
    AppliedPatchRecord r;
    r.name = "lp_demo";
    r.version = "7";
    st.applied = r;
    st.fixes = {{"cve-2024-1086", "nf_tables: use-after-free in nft_verdict_init", "lp#1", true},
                {"cve-2023-6270", "aoe: unpatched here", "lp#2", false}};
    return st;
}

void expectUnder80Columns(const std::string& text) {
    std::istringstream lines(text);
    for (std::string line; std::getline(lines, line);) EXPECT_LT(line.size(), 80u) << line;
}

struct TempDir {
    std::filesystem::path path;
    TempDir() {
        char tmpl[] = "/tmp/lp-admin-test.XXXXXX";
        path = ::mkdtemp(tmpl);
    }
    ~TempDir() { std::filesystem::remove_all(path); }
};

}  // namespace

// ---- one table ------------------------------------------------------------

TEST(CommandTable, HelpNamesEveryCommandAndFlagUnder80Columns) {
    const std::string help = usageText();
    for (const auto& c : commandTable()) EXPECT_NE(help.find("  " + c.name), std::string::npos) << c.name;
    for (const auto& f : flagTable()) EXPECT_NE(help.find("--" + f.name), std::string::npos) << f.name;
    EXPECT_NE(help.find("Exit codes"), std::string::npos);
    expectUnder80Columns(help);
}

TEST(CommandTable, EveryCommandFlagIsDefined) {
    for (const auto& c : commandTable())
        for (const auto& f : c.flags) EXPECT_NE(findFlag(f), nullptr) << c.name << " --" << f;
    for (const auto& f : globalFlags()) EXPECT_NE(findFlag(f), nullptr) << f;
}

// Every key of core and the shipped plugins: the checked-in schema, which
// config.schema-generated keeps equal to the declarations.
std::vector<std::string> allConfigKeys() {
    const std::string schema = readWholeFile(LIVEPATCH_SOURCE_DIR "/schemas/config.schema.json");
    std::vector<std::string> keys;
    std::regex property("\n    \"([a-z0-9-]+)\": \\{");
    for (auto it = std::sregex_iterator(schema.begin(), schema.end(), property); it != std::sregex_iterator(); ++it)
        keys.push_back((*it)[1]);
    return keys;
}

TEST(CommandTable, CompletionCoversCommandsFlagsFormatsAndConfigKeys) {
    const auto keys = allConfigKeys();
    ASSERT_GT(keys.size(), Config::coreKeys().size()) << "plugin keys are in the schema";
    const std::string script = bashCompletion(keys);
    for (const auto& c : commandTable()) {
        EXPECT_NE(script.find(" " + c.name + ")"), std::string::npos) << c.name;
        for (const auto& fmt : c.formats) EXPECT_NE(script.find(fmt), std::string::npos) << fmt;
    }
    for (const auto& f : flagTable()) EXPECT_NE(script.find("--" + f.name), std::string::npos) << f.name;
    for (const auto& k : keys)
        EXPECT_TRUE(script.find(" " + k + " ") != std::string::npos ||
                    script.find("\"" + k + " ") != std::string::npos ||
                    script.find(" " + k + "\"") != std::string::npos)
            << k;
}

// ---- man pages --------------------------------------------------------------

// A name counts as documented when the scdoc source has it in bold (*name*),
// i.e. in an item heading or the synopsis, not merely somewhere in prose.
bool documented(const std::string& page, const std::string& name) {
    return page.find("*" + name + "*") != std::string::npos;
}

TEST(ManPage, AgentPageNamesEveryCommandFlagAndConfigKey) {
    const std::string page = readWholeFile(LIVEPATCH_SOURCE_DIR "/core/man/livepatch-agent.8.scd");
    ASSERT_FALSE(page.empty());
    for (const auto& c : commandTable()) EXPECT_TRUE(documented(page, c.name)) << "command " << c.name;
    for (const auto& f : flagTable()) EXPECT_TRUE(documented(page, "--" + f.name)) << "flag --" << f.name;
    for (const auto& k : allConfigKeys()) EXPECT_TRUE(documented(page, k)) << "config key " << k;
    for (const auto& c : commandTable())
        for (const auto& fmt : c.formats) EXPECT_NE(page.find(fmt), std::string::npos) << "format " << fmt;
    for (auto e : {LogEvent::PatchApplied, LogEvent::PatchReverted, LogEvent::PatchRefused, LogEvent::CheckFailed})
        EXPECT_TRUE(documented(page, messageIdOf(e))) << messageIdOf(e);
}

TEST(ManPage, ServerPageNamesEveryOptionOfItsUsage) {
    // The server's own --help is the table: every --option and command in it.
    const std::string server = LIVEPATCH_BINARY_DIR "/bin/livepatch-server";
    ASSERT_EQ(::access(server.c_str(), X_OK), 0) << server;
    std::string usage;
    if (FILE* p = ::popen((server + " --help 2>&1").c_str(), "r")) {
        char buf[512];
        while (std::fgets(buf, sizeof buf, p)) usage += buf;
        ::pclose(p);
    }
    const std::string page = readWholeFile(LIVEPATCH_SOURCE_DIR "/tools/server/livepatch-server.8.scd");
    std::regex option("--[a-z][a-z0-9-]+");
    int seen = 0;
    for (auto it = std::sregex_iterator(usage.begin(), usage.end(), option); it != std::sregex_iterator(); ++it, ++seen)
        EXPECT_TRUE(documented(page, it->str())) << it->str();
    EXPECT_GE(seen, 8) << usage;
    EXPECT_TRUE(documented(page, "hash-password"));
}

TEST(ManPage, AdminPageNamesEveryVerbAndOptionOfItsUsage) {
    // livepatch-admin's own usage is the table: every verb and --option in it.
    const std::string admin = LIVEPATCH_BINARY_DIR "/bin/livepatch-admin";
    ASSERT_EQ(::access(admin.c_str(), X_OK), 0) << admin;
    std::string usage;
    if (FILE* p = ::popen((admin + " --help 2>&1").c_str(), "r")) {
        char buf[512];
        while (std::fgets(buf, sizeof buf, p)) usage += buf;
        ::pclose(p);
    }
    const std::string page = readWholeFile(LIVEPATCH_SOURCE_DIR "/tools/admin/livepatch-admin.8.scd");
    ASSERT_FALSE(page.empty());
    std::regex option("--[a-z][a-z0-9-]+"), verbs("^livepatch-admin ([a-z-]+)( [a-z-]+)?");
    int options = 0, lines = 0;
    for (auto it = std::sregex_iterator(usage.begin(), usage.end(), option); it != std::sregex_iterator();
         ++it, ++options)
        EXPECT_TRUE(documented(page, it->str())) << it->str();
    std::istringstream in(usage);
    for (std::string line; std::getline(in, line);) {
        std::smatch m;
        if (!std::regex_search(line, m, verbs)) continue;
        ++lines;
        EXPECT_TRUE(documented(page, m[1].str())) << m[1].str();
        // A second word in lower case is a sub-verb ("tier list"), not an argument (FILE, TIER).
        if (m[2].matched) EXPECT_TRUE(documented(page, m[2].str().substr(1))) << line;
    }
    EXPECT_GE(options, 6) << usage;
    EXPECT_GE(lines, 8) << usage;
}

TEST(ManPage, BuiltAndInstalledNextToTheBinaries) {
    for (const char* page : {"livepatch-agent.8", "livepatch-server.8", "livepatch-admin.8"}) {
        const std::string built = std::string(LIVEPATCH_BINARY_DIR "/share/man/man8/") + page;
        EXPECT_TRUE(fs::exists(built)) << built << " missing: is scdoc installed (tools/install-deps.sh)?";
        EXPECT_NE(readWholeFile(built).find(".TH"), std::string::npos) << built;
    }
}

// ---- CVE view ---------------------------------------------------------------

TEST(CveView, AnswersOneQuestionCaseInsensitively) {
    const AgentState st = patchedState();
    EXPECT_TRUE(cvePatched(st, "CVE-2024-1086"));
    EXPECT_TRUE(cvePatched(st, "cve-2024-1086"));
    EXPECT_FALSE(cvePatched(st, "CVE-2023-6270"));  // listed, but not patched by this patch
    EXPECT_FALSE(cvePatched(st, "CVE-2099-0001"));
    AgentState disabled = st;
    disabled.enabled = false;
    EXPECT_FALSE(cvePatched(disabled, "CVE-2024-1086"));
    EXPECT_TRUE(isCveId("CVE-2024-1086"));
    EXPECT_FALSE(isCveId("CVE-2024-1"));
    EXPECT_FALSE(isCveId("2024-1086"));
    EXPECT_FALSE(isCveId("CVE-2024-1086; rm -rf /"));
}

TEST(CveView, ListIsUnder80ColumnsAndTerminalSafe) {
    AgentState st = patchedState();
    st.fixes.push_back({"cve-2024-0001\x1b[31m", std::string(200, 'x') + "\x1b]0;pwned\x07", "", true});
    const std::string out = renderCves(st);
    EXPECT_NE(out.find("cve-2024-1086    yes"), std::string::npos) << out;
    EXPECT_NE(out.find("cve-2023-6270    no"), std::string::npos) << out;
    EXPECT_EQ(out.find('\x1b'), std::string::npos) << out;
    EXPECT_EQ(out.find('\x07'), std::string::npos) << out;
    expectUnder80Columns(out);
}

TEST(FitColumns, EscapesControlsAndCutsWholeCharacters) {
    EXPECT_EQ(fitColumns("a\x1b[2Jb", 80), "a\\x1b[2Jb");
    EXPECT_EQ(fitColumns("x\xc2\x9b"
                         "31m",
                         80),
              "x\\x9b31m");  // 8-bit CSI
    EXPECT_EQ(fitColumns("abcdefgh", 6), "abc...");
    EXPECT_EQ(fitColumns("\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9", 5), "\xc3\xa9\xc3\xa9...");
    EXPECT_EQ(fitColumns("short", 5), "short");
    EXPECT_EQ(fitColumns("a\x1b[2Jb", 6), "a\\x...");  // the escape counts its printed width
}

TEST(WrapColumns, BreaksAtSpacesIndentsAndKeepsEveryCharacter) {
    EXPECT_EQ(wrapColumns("short line\n", 20), "short line\n");
    EXPECT_EQ(wrapColumns("alpha beta gamma delta\n", 12), "alpha beta\n    gamma\n    delta\n");
    // A word wider than the line is cut inside, nothing lost.
    EXPECT_EQ(wrapColumns("k: 0123456789abcdef", 10), "k:\n    012345\n    6789ab\n    cdef");
    // Columns are characters, not bytes: 6 two-byte characters fit in 6.
    const std::string e4 = "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9";
    EXPECT_EQ(wrapColumns("\xc3\xa9\xc3\xa9\xc3\xa9 \xc3\xa9\xc3\xa9", 6), "\xc3\xa9\xc3\xa9\xc3\xa9 \xc3\xa9\xc3\xa9");
    EXPECT_EQ(wrapColumns(e4 + " " + e4, 8), e4 + "\n    " + e4);
}

TEST(HumaneStatus, LongServerTextWrapsUnder80ColumnsWhole) {
    AgentState st = patchedState();
    st.checkError = "the server answered 503 Service Unavailable: " + std::string(30, 'x') +
                    " maintenance window until tomorrow morning, retry later please";
    st.fixes[0].description =
        "nf_tables: use-after-free in nft_verdict_init when a verdict map is released "
        "while a rule still jumps to it (local privilege escalation)";
    StatusOptions verbose;
    verbose.verbose = true;
    const std::string out = renderHumane(st, StatusFacts{}, verbose);
    expectUnder80Columns(out);
    // Wrapped, not cut: every word of the server's text is still there.
    std::string flat;
    for (char c : out) flat += (c == '\n') ? ' ' : c;
    for (const char* word : {"maintenance", "please", "escalation)", "verdict_init"})
        EXPECT_NE(flat.find(word), std::string::npos) << word << " in:\n" << out;
}

// ---- login notice -----------------------------------------------------------

TEST(Motd, OneLineSayingWhatIsApplied) {
    AgentState st = patchedState();
    EXPECT_EQ(renderMotd(st), "Live patching is active: patch 7 applied, 1 fixes.\n");
    st.supported = KernelSupport::KernelUpgradeRequired;
    st.upgradeRequiredDate = "2026-12-31T00:00:00Z";
    EXPECT_EQ(renderMotd(st),
              "Live patching is active: patch 7 applied, 1 fixes. Kernel upgrade required by 2026-12-31T00:00:00Z.\n");
    EXPECT_EQ(renderMotd(AgentState{}), "");  // never enabled: nothing at login
    AgentState none;
    none.enabled = true;
    none.patchState = PatchState::NothingToApply;
    EXPECT_EQ(renderMotd(none), "Live patching is enabled; no live patch is applied (nothing-to-apply).\n");
}

// ---- Prometheus -------------------------------------------------------------

TEST(Prometheus, GaugesFromTheStateAndTheDaemonCounter) {
    AgentState st = patchedState();
    st.applied->version = "7\"\\\n";  // label escaping
    const std::string out = renderPrometheus(st, DaemonCounters{3});
    EXPECT_NE(out.find("\nlivepatch_agent_patch_applied 1\n"), std::string::npos) << out;
    EXPECT_NE(out.find("\nlivepatch_agent_patch_version_info{version=\"7\\\"\\\\\\n\"} 1\n"), std::string::npos) << out;
    EXPECT_NE(out.find("\nlivepatch_agent_fixes_applied 1\n"), std::string::npos) << out;
    EXPECT_NE(out.find("\nlivepatch_agent_kernel_upgrade_required 0\n"), std::string::npos) << out;
    EXPECT_NE(out.find("\nlivepatch_agent_last_check_timestamp_seconds 1767323045\n"), std::string::npos) << out;
    EXPECT_NE(out.find("# TYPE livepatch_agent_check_failures_total counter\nlivepatch_agent_check_failures_total 3\n"),
              std::string::npos)
        << out;
    const std::string status = renderPrometheus(AgentState{}, std::nullopt);
    EXPECT_EQ(status.find("check_failures_total"), std::string::npos) << "only the daemon has the counter";
    EXPECT_EQ(status.find("last_check_timestamp"), std::string::npos) << "never checked: no timestamp";
    EXPECT_NE(status.find("\nlivepatch_agent_patch_applied 0\n"), std::string::npos);
}

// A stale signed catalogue (freeze) must raise the same alert as a failed check.
TEST(Prometheus, AStaleCatalogueIsAFailedCheck) {
    AgentState st = patchedState();
    st.checkState = CheckState::Checked;
    EXPECT_NE(renderPrometheus(st, std::nullopt).find("\nlivepatch_agent_last_check_failed 0\n"), std::string::npos);
    st.checkState = CheckState::Stale;
    EXPECT_NE(renderPrometheus(st, std::nullopt).find("\nlivepatch_agent_last_check_failed 1\n"), std::string::npos);
}

TEST(Prometheus, PassesPromtool) {
    TempDir dir;
    const std::string file = (dir.path / "m.prom").string();
    std::ofstream(file) << renderPrometheus(patchedState(), DaemonCounters{2});
    ASSERT_EQ(::access("/usr/bin/promtool", X_OK), 0) << "promtool missing: tools/install-deps.sh installs prometheus";
    EXPECT_EQ(std::system(("/usr/bin/promtool check metrics < " + file).c_str()), 0);
}

TEST(Prometheus, MetricsFileIsAtomicWorldReadableAndOffByDefault) {
    TempDir dir;
    Config off;
    ASSERT_TRUE(writeMetricsFile(off, patchedState(), {}));
    EXPECT_TRUE(std::filesystem::is_empty(dir.path));
    Config on;
    ASSERT_TRUE(on.apply({"metrics-dir=" + dir.path.string()}));
    ASSERT_TRUE(writeMetricsFile(on, patchedState(), DaemonCounters{1}));
    const std::string file = (dir.path / "livepatch-agent.prom").string();
    struct stat sb {};
    ASSERT_EQ(::stat(file.c_str(), &sb), 0);
    EXPECT_EQ(sb.st_mode & 0777, 0644u);  // node_exporter runs as its own user
    EXPECT_NE(readWholeFile(file).find("livepatch_agent_check_failures_total 1"), std::string::npos);
    int entries = 0;
    for (const auto& e : std::filesystem::directory_iterator(dir.path))
        entries += e.path().filename().string().size() > 0;
    EXPECT_EQ(entries, 1) << "no temporary file left behind";
    TempDir elsewhere;
    std::filesystem::create_symlink(elsewhere.path, dir.path / "evil");
    ASSERT_TRUE(on.apply({"metrics-dir=" + (dir.path / "evil").string()}));
    EXPECT_FALSE(writeMetricsFile(on, patchedState(), {})) << "a symlinked metrics-dir must be refused";
}

// ---- reboot-required --------------------------------------------------------

TEST(RebootRequired, FlaggedOnceWhenTheServerSaysSoAndOthersKept) {
    TempDir host;
    std::filesystem::create_directories(host.path / "run");
    Paths paths;
    paths.hostRoot = host.path.string();
    AgentState st = patchedState();
    ASSERT_TRUE(flagRebootIfRequired(paths, st));
    EXPECT_FALSE(fs::exists((host.path / "run/reboot-required").string())) << "supported kernel: no flag";

    std::ofstream(host.path / "run/reboot-required.pkgs") << "linux-image-amd64";  // another package's, no newline
    st.supported = KernelSupport::KernelUpgradeRequired;
    ASSERT_TRUE(flagRebootIfRequired(paths, st));
    ASSERT_TRUE(flagRebootIfRequired(paths, st));  // idempotent
    EXPECT_EQ(readWholeFile((host.path / "run/reboot-required").string()), "*** System restart required ***\n");
    EXPECT_EQ(readWholeFile((host.path / "run/reboot-required.pkgs").string()), "linux-image-amd64\nlivepatch-agent\n");
    struct stat sb {};
    ASSERT_EQ(::stat((host.path / "run/reboot-required").c_str(), &sb), 0);
    EXPECT_EQ(sb.st_mode & 0777, 0644u);
}
