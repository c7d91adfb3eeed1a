#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>

#include "config/config.h"
#include "livepatch/testing/files.h"
#include "util/fs.h"

using namespace livepatch;
namespace fsys = std::filesystem;

namespace {
std::string messageOf(const std::vector<std::string>& a) {
    Config c;
    auto s = c.apply(a);
    return s ? "" : s.error().message();
}
}  // namespace

TEST(Config, DefaultsWhenFileMissing) {
    auto c = Config::load("/nonexistent/livepatch/config.yaml");
    ASSERT_TRUE(c);
    EXPECT_EQ(*c->get("check-interval"), "60");
    EXPECT_EQ(*c->get("allow-insecure-http"), "false");
    EXPECT_EQ(*c->get("verifiers"), "verify-module-signature");
    EXPECT_FALSE(c->get("no-such-key"));
}

TEST(Config, PreciseMessagesPerKey) {
    EXPECT_EQ(messageOf({"check-interval=abc"}), "check-interval: expected minutes >= 0, got \"abc\"");
    EXPECT_EQ(messageOf({"check-interval=-1"}), "check-interval: expected minutes >= 0, got \"-1\"");
    EXPECT_NE(messageOf({"bogus=1"}).find("unknown config key \"bogus\""), std::string::npos);
    EXPECT_NE(messageOf({"remote-server=ftp://x"}).find("remote-server: expected an http(s) URL or file:///path"),
              std::string::npos);
    EXPECT_NE(messageOf({"remote-server=http://x"}).find("allow-insecure-http"), std::string::npos);
    EXPECT_EQ(messageOf({"remote-server=http://x", "allow-insecure-http=true"}), "");
    EXPECT_NE(messageOf({"log-level=loud"}).find("trace|debug|info|warning|error"), std::string::npos);
    EXPECT_NE(messageOf({"cutoff-date=tomorrow"}).find("RFC 3339"), std::string::npos);
    EXPECT_NE(messageOf({"patch-delay=3x"}).find("duration"), std::string::npos);
    EXPECT_NE(messageOf({"keyring-dir=relative"}).find("absolute path"), std::string::npos);
    EXPECT_NE(messageOf({"run-mode=fast"}).find("normal|no-apply|no-refresh|stop"), std::string::npos);
    // Regression (security review item 14): hosts are host names or IP literals.
    EXPECT_NE(messageOf({"remote-server=https://a%0d%0ab.example"}).find("remote-server: expected"), std::string::npos);
    EXPECT_NE(messageOf({"transition-timeout=0"}).find("seconds > 0"), std::string::npos);
    EXPECT_NE(messageOf({"verifiers=,"}).find("plugin names"), std::string::npos)
        << "an empty verifier list is refused";
    EXPECT_NE(messageOf({"noequals"}).find("key=value"), std::string::npos);
    // Regression (fuzz-config): a URL spanning lines used to pass validation.
    EXPECT_NE(messageOf({"remote-server=https://x.ex\n\nnterval: 25"}).find("single line"), std::string::npos);
    EXPECT_NE(messageOf({"log-level=debug\r"}).find("single line"), std::string::npos);
}

TEST(Config, FirstCheckWindowFollowsTheIntervalUnlessSet) {
    EXPECT_EQ(messageOf({"first-check-window=soon"}),
              "first-check-window: expected minutes >= 0, or empty for check-interval, got \"soon\"");
    EXPECT_NE(messageOf({"first-check-window=-5"}).find("minutes >= 0"), std::string::npos);
    Config c;
    EXPECT_EQ(c.firstCheckWindowMinutes(), 60) << "default: one check-interval";
    ASSERT_TRUE(c.apply({"check-interval=15"}));
    EXPECT_EQ(c.firstCheckWindowMinutes(), 15);
    ASSERT_TRUE(c.apply({"first-check-window=0"}));
    EXPECT_EQ(c.firstCheckWindowMinutes(), 0) << "0: check at once";
    ASSERT_TRUE(c.apply({"first-check-window=120"}));
    EXPECT_EQ(c.firstCheckWindowMinutes(), 120);
    ASSERT_TRUE(c.apply({"first-check-window="}));
    EXPECT_EQ(c.firstCheckWindowMinutes(), 15) << "cleared: back to check-interval";
}

TEST(Config, CutoffDateMustBeInThePast) {
    Config::setNowForTesting([] { return std::chrono::system_clock::from_time_t(1700000000); });  // 2023-11-14
    EXPECT_EQ(messageOf({"cutoff-date=2023-01-01T00:00:00Z"}), "");
    EXPECT_NE(messageOf({"cutoff-date=2024-01-01T00:00:00Z"}).find("in the past"), std::string::npos);
    Config::setNowForTesting(nullptr);
}

TEST(Config, ApplyIsAllOrNothingAndEmptyClears) {
    Config c;
    ASSERT_TRUE(c.apply({"check-interval=5", "log-level=debug"}));
    auto s = c.apply({"check-interval=10", "log-level=nope"});
    ASSERT_FALSE(s);
    EXPECT_EQ(*c.get("check-interval"), "5");
    EXPECT_EQ(*c.get("log-level"), "debug");
    ASSERT_TRUE(c.apply({"log-level="}));
    EXPECT_EQ(*c.get("log-level"), "info");
    EXPECT_FALSE(c.isSet("log-level"));
}

TEST(Config, VerifiersClearReturnsDefault) {
    Config c;
    ASSERT_TRUE(c.apply({"verifiers=verify-module-signature,verify-elf-note"}));
    EXPECT_EQ(c.list("verifiers").size(), 2u);
    ASSERT_TRUE(c.apply({"verifiers="}));
    EXPECT_EQ(c.list("verifiers"), std::vector<std::string>{"verify-module-signature"});
}

// ---- keys declared by plugins ---------------------------------------------

namespace {
// What a plugin's configKeys() returns: a secret URL key and a bounded number.
std::vector<ConfigKey> vendorKeys() {
    ConfigKey proxy = textKey("vendor-proxy", "", "a URL with credentials",
                              [](const std::string& key, const std::string& v) -> Status {
                                  if (v.rfind("http://", 0) == 0) return {};
                                  return configValueError(key, "an http:// URL", v);
                              });
    proxy.secret = true;
    return {integerKey("vendor-max-bytes", "67108864", 1, 1LL << 30, "bytes > 0", "largest module"), proxy};
}
}  // namespace

TEST(Config, PluginKeysAreValidatedByTheirOwnerAndDefaultFromTheDeclaration) {
    Config c;
    EXPECT_FALSE(c.get("vendor-max-bytes")) << "undeclared before the plugin is loaded";
    EXPECT_NE(messageOf({"vendor-max-bytes=5"}).find("unknown config key \"vendor-max-bytes\""), std::string::npos);
    ASSERT_TRUE(c.declare("vendor-example", vendorKeys()));
    EXPECT_EQ(c.value("vendor-max-bytes"), "67108864") << "the declared default";
    EXPECT_EQ(c.integer("vendor-max-bytes"), 67108864);
    auto s = c.apply({"check-interval=5", "vendor-max-bytes=0"});
    ASSERT_FALSE(s) << "all-or-nothing across core and plugins";
    EXPECT_EQ(s.error().message(), "vendor-max-bytes: expected bytes > 0, got \"0\"");
    EXPECT_FALSE(c.isSet("check-interval"));
    ASSERT_TRUE(c.apply({"check-interval=5", "vendor-max-bytes=4096"}));
    EXPECT_EQ(c.integer("vendor-max-bytes"), 4096);
    s = c.apply({"vendor-proxy=ftp://x"});
    ASSERT_FALSE(s);
    EXPECT_EQ(s.error().message(), "vendor-proxy: expected an http:// URL, got \"ftp://x\"");
}

TEST(Config, ADeclarationCannotTakeAnotherOwnersKey) {
    Config c;
    auto s = c.declare("vendor-example", {integerKey("check-interval", "5", 0, 9, "minutes", "mine")});
    ASSERT_FALSE(s);
    EXPECT_EQ(s.error().code(), ErrorCode::PluginInvalid);
    EXPECT_EQ(s.error().message(),
              "plugin vendor-example: declares config key \"check-interval\", which core already declares");
    ASSERT_TRUE(c.declare("vendor-example", vendorKeys()));
    s = c.declare("other", {flagKey("vendor-proxy", "x")});
    ASSERT_FALSE(s);
    EXPECT_NE(s.error().message().find("which plugin vendor-example already declares"), std::string::npos);
    EXPECT_FALSE(c.declare("bad", {flagKey("Bad_Name", "x")}));
    EXPECT_FALSE(c.declare("bad", {integerKey("bad-default", "0", 1, 9, "n", "x")}))
        << "a default its own check refuses";
    EXPECT_FALSE(c.get("bad-default")) << "nothing of a refused declaration is added";
}

TEST(Config, AFileKeyNobodyDeclaresIsKeptUntilTheOwnerIsKnownThenRefusedOrRemovable) {
    // The front-end (no plugins) keeps a plugin's key; the engine validates
    // it once the plugin declares it, and refuses it if nobody does.
    auto parsed = Config::parse("check-interval: \"5\"\nvendor-max-bytes: \"0\"\n", "config.yaml");
    ASSERT_TRUE(parsed) << parsed.error().message();
    EXPECT_NE(parsed->toYaml().find("vendor-max-bytes: \"0\""), std::string::npos) << "saved back unchanged";
    Config withPlugin = *parsed;
    auto s = withPlugin.declare("vendor-example", vendorKeys());
    ASSERT_FALSE(s) << "the owner refuses the value in the file";
    EXPECT_EQ(s.error().message(), "vendor-max-bytes: expected bytes > 0, got \"0\"");
    Config orphan = *parsed;
    s = orphan.requireDeclared();
    ASSERT_FALSE(s);
    EXPECT_NE(s.error().message().find("remove it with `livepatch-agent config vendor-max-bytes=`"), std::string::npos);
    ASSERT_TRUE(orphan.apply({"vendor-max-bytes="})) << "an orphan key can always be removed";
    EXPECT_TRUE(orphan.requireDeclared());
    EXPECT_FALSE(Config::parse("Not A Key: 1\n", "config.yaml")) << "what cannot be a key name is refused at once";
    // A value the front-end cannot check is saved so it reads back the same,
    // whatever it holds (double-quoted, never a YAML block of unknown shape).
    auto odd = Config::parse("vendor-note: \"  two\\n lines\\t \"\n", "config.yaml");
    ASSERT_TRUE(odd);
    auto again = Config::parse(odd->toYaml(), "again");
    ASSERT_TRUE(again) << odd->toYaml();
    EXPECT_EQ(again->toYaml(), odd->toYaml());
}

TEST(Config, DisplayNamesEachKeysOwnerAndRedactsSecrets) {
    Config c;
    ASSERT_TRUE(c.declare("vendor-example", vendorKeys()));
    ASSERT_TRUE(c.apply({"vendor-proxy=http://user:pa55@proxy.example:3128"}));
    std::map<std::string, ConfigEntry> byKey;
    for (const auto& e : c.display(false)) byKey[e.key] = e;
    EXPECT_EQ(byKey["check-interval"].owner, "core");
    EXPECT_EQ(byKey["vendor-max-bytes"].owner, "vendor-example");
    EXPECT_EQ(byKey["vendor-proxy"].value, "http://***@proxy.example:3128");
    for (const auto& e : c.display(true))
        if (e.key == "vendor-proxy") EXPECT_EQ(e.value, "http://user:pa55@proxy.example:3128");
    const std::string schema = c.schemaJson();
    EXPECT_NE(
        schema.find("\"vendor-max-bytes\": {\n      \"type\": \"string\",\n      \"pattern\": \"^[1-9][0-9]*$\",\n"
                    "      \"description\": \"largest module\",\n      \"default\": \"67108864\",\n"
                    "      \"x-owner\": \"vendor-example\"\n    }"),
        std::string::npos)
        << schema;
}

class ConfigFile : public ::testing::Test {
protected:
    void SetUp() override { dir = livepatch::testing::freshTestDir("lpcfg"); }
    void TearDown() override { fsys::remove_all(dir); }
    bool schemaAccepts(const fsys::path& yaml) {
        const std::string cmd =
            "/usr/bin/python3 -c 'import json,sys,yaml,jsonschema; "
            "jsonschema.validate(yaml.safe_load(open(sys.argv[1])) or {}, json.load(open(sys.argv[2])))' " +
            yaml.string() + " " LIVEPATCH_SOURCE_DIR "/schemas/config.schema.json >/dev/null 2>&1";
        return std::system(cmd.c_str()) == 0;
    }
    fsys::path dir;
};

TEST_F(ConfigFile, SaveLoadRoundTripIs0600) {
    Config c;
    ASSERT_TRUE(c.apply({"check-interval=15", "remote-server=https://patches.example.com", "patch-delay=3d"}));
    auto p = (dir / "config.yaml").string();
    ASSERT_TRUE(c.save(p));
    struct stat st;
    ::stat(p.c_str(), &st);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
    auto back = Config::load(p);
    ASSERT_TRUE(back);
    EXPECT_EQ(*back->get("check-interval"), "15");
    EXPECT_EQ(*back->get("patch-delay"), "3d");
}

TEST_F(ConfigFile, CorruptFileIsAnErrorNamingTheFile) {
    auto p = dir / "config.yaml";
    std::ofstream(p) << "check-interval: [unclosed\n";
    auto c = Config::load(p.string());
    ASSERT_FALSE(c);
    EXPECT_EQ(c.error().code(), ErrorCode::ConfigInvalid);
    EXPECT_NE(c.error().message().find(p.string()), std::string::npos);
    std::ofstream(p, std::ios::trunc) << "check-interval: abc\n";
    auto d = Config::load(p.string());
    ASSERT_FALSE(d);
    EXPECT_NE(d.error().message().find("check-interval: expected minutes >= 0"), std::string::npos);
}

TEST_F(ConfigFile, WrittenConfigsValidateAgainstTheSchema) {
    if (std::system("/usr/bin/python3 -c 'import yaml, jsonschema' >/dev/null 2>&1") != 0)
        GTEST_SKIP() << "python3-yaml / python3-jsonschema not installed";
    const std::vector<std::vector<std::string>> valid = {
        {},
        {"check-interval=0", "log-level=debug", "run-mode=no-apply"},
        {"remote-server=http://127.0.0.1:8080", "allow-insecure-http=true", "patch-delay=2w",
         "cutoff-date=2020-01-01T00:00:00Z"},
        {"verifiers=verify-module-signature,verify-elf-note", "keyring-dir=/etc/livepatch/keys",
         "transition-timeout=30"},
    };
    int i = 0;
    for (const auto& a : valid) {
        Config c;
        ASSERT_TRUE(c.apply(a));
        auto p = dir / ("c" + std::to_string(i++) + ".yaml");
        ASSERT_TRUE(c.save(p.string()));
        EXPECT_TRUE(schemaAccepts(p)) << p;
    }
    // Invalid documents are refused by both the agent and the schema.
    for (const std::string bad :
         {"check-interval: abc\n", "bogus-key: \"1\"\n", "log-level: loud\n", "run-mode: fast\n"}) {
        auto p = dir / "bad.yaml";
        std::ofstream(p, std::ios::trunc) << bad;
        auto loaded = Config::load(p.string());  // a key nobody declares: refused by requireDeclared()
        EXPECT_FALSE(loaded && loaded->requireDeclared()) << bad;
        EXPECT_FALSE(schemaAccepts(p)) << bad;
    }
}
