#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>

#include "app/agent_app.h"
#include "app/control_socket.h"
#include "app/exit_codes.h"
#include "app/status_render.h"
#include "logging/logger.h"

using namespace livepatch;
using namespace livepatch::app;

TEST(Args, ValueOptionsAcceptBothSpellings) {
    EXPECT_EQ(normalizeArguments({"status", "--format", "json"}), (std::vector<std::string>{"status", "--format=json"}));
    EXPECT_EQ(normalizeArguments({"--root-dir", "/x", "status"}), (std::vector<std::string>{"--root-dir=/x", "status"}));
    EXPECT_EQ(normalizeArguments({"status", "--format=yaml"}), (std::vector<std::string>{"status", "--format=yaml"}));
}

TEST(ExitCodes, DocumentedMapping) {
    EXPECT_EQ(exitCodeFor(ErrorCode::ConfigInvalid), 2);
    EXPECT_EQ(exitCodeFor(ErrorCode::Permission), 3);
    EXPECT_EQ(exitCodeFor(ErrorCode::DaemonUnavailable), 4);
    EXPECT_EQ(exitCodeFor(ErrorCode::Tls), 5);
    EXPECT_EQ(exitCodeFor(ErrorCode::ChecksumMismatch), 6);
    EXPECT_EQ(exitCodeFor(ErrorCode::UntrustedSigner), 6);
    EXPECT_EQ(exitCodeFor(ErrorCode::LoadFailed), 7);
    EXPECT_EQ(exitCodeFor(ErrorCode::StateCorrupt), 8);
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
    EXPECT_EQ(redactSecrets("Macaroon MDAxY2xvY2F0aW9uIGh0dHBzOi8vbGl2ZXBhdGNoLnRlc3QKMDAx").find("MDAxY2xv"), std::string::npos);
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
    s.checkState = "check-failed";
    s.checkError = "HTTP 502 from https://x/v1: Bad Gateway";
    s.supported = "supported";
    s.patchState = "applied";
    AppliedPatchRecord r;
    r.version = "2";
    r.name = "lp";
    s.applied = r;
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
    for (const char* key : {"\"Client-Version\"", "\"Machine-Id\"", "\"Architecture\"", "\"CPU-Model\"", "\"Last-Check\"", "\"Boot-Time\"",
                            "\"Uptime\"", "\"tier\"", "\"Kernel\"", "\"Running\"", "\"Supported\"", "\"UpgradeRequiredDate\"",
                            "\"CheckState\"", "\"State\"", "\"Version\"", "\"Fixes\"", "\"Name\"", "\"Patched\""})
        EXPECT_NE(json.find(key), std::string::npos) << key;
    EXPECT_NE(json.find("1h2m3s"), std::string::npos);
    const std::string path = "/tmp/lp-status-" + std::to_string(::getpid()) + ".json";
    std::ofstream(path) << json;
    const std::string cmd = "/usr/bin/python3 -m jsonschema -i " + path + " " LIVEPATCH_SOURCE_DIR "/schemas/status.schema.json";
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
    EXPECT_NE(h.find("server check-in: check-failed (HTTP 502 from https://x/v1: Bad Gateway)"), std::string::npos) << h;
    EXPECT_NE(h.find("patch version: 2"), std::string::npos);
}
