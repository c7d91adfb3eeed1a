// The Engine's lifecycle against the server's unsigned answer (fixture:
// engine_fixture.h).
#include "engine_fixture.h"

namespace {

TEST_F(EngineTest, EnableRegistersStoresCredentialPrivatelyAndNeverLogsTheToken) {
    ASSERT_TRUE(engine->enable(kToken));
    auto st = state();
    EXPECT_TRUE(st.enabled);
    EXPECT_EQ(st.authPlugin, "auth-token");
    EXPECT_EQ(st.tokenDigest, sha256Hex(kToken));
    EXPECT_EQ(fsys::status(paths.credentialFile()).permissions() & fsys::perms::all,
              fsys::perms::owner_read | fsys::perms::owner_write);
    ASSERT_EQ(server.count("POST"), 1u);
    const auto& reg = server.requests[0];
    EXPECT_NE(reg.url.find("/v1/client/"), std::string::npos);
    EXPECT_EQ(reg.url.find("00112233445566778899aabbccddeeff"), std::string::npos) << "raw machine id sent";
    EXPECT_FALSE(logger.contains(kToken));
    EXPECT_FALSE(logger.contains(kMachineToken));
    std::ifstream in(paths.stateFile());
    std::string text((std::istreambuf_iterator<char>(in)), {});
    EXPECT_EQ(text.find(kToken), std::string::npos);
}

TEST_F(EngineTest, EnableIsIdempotentForTheSameTokenAndRefusesAnother) {
    ASSERT_TRUE(engine->enable(kToken));
    ASSERT_TRUE(engine->enable(kToken));
    EXPECT_EQ(server.count("POST"), 1u) << "same token: no second registration";
    auto other = engine->enable("good-another-token");
    ASSERT_FALSE(other);
    EXPECT_EQ(other.error().code(), ErrorCode::AlreadyEnabled);
    EXPECT_NE(other.error().message().find("livepatch-agent disable"), std::string::npos);
    EXPECT_EQ(other.error().message().find("good-another-token"), std::string::npos);
}

TEST_F(EngineTest, MalformedTokenIsRefusedLocallyWithoutEchoOrNetwork) {
    auto r = engine->enable("garbage-secret-value");
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code(), ErrorCode::TokenInvalid);
    EXPECT_EQ(r.error().message().find("garbage-secret-value"), std::string::npos);
    EXPECT_TRUE(server.requests.empty());
}

TEST_F(EngineTest, AnAuthPluginsOwnRefusalIsShownEvenIfItStartsWithNot) {
    auto r = engine->enable("good-early-token");
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code(), ErrorCode::TokenInvalid);
    EXPECT_EQ(r.error().message(), "not valid before 2030-01-01T00:00:00Z");
    EXPECT_TRUE(transport.requests.empty());
}

TEST_F(EngineTest, CycleAppliesTheNewestPatchAndReportsIt) {
    server.offers = {offer("1"), offer("3"), offer("2")};
    ASSERT_TRUE(engine->enable(kToken));
    std::vector<std::string> phases;
    auto r = engine->runCycle(
        [&](const std::string& p, std::uint64_t, std::uint64_t) {
            if (phases.empty() || phases.back() != p) phases.push_back(p);
        },
        nullptr);
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_TRUE(r->applied);
    EXPECT_EQ(loader.loaded["lp_test"], "3");
    EXPECT_EQ(loader.loadedBytes, signedModule("lp_test", "3")) << "the loader gets exactly the verified bytes";
    EXPECT_EQ(phases, (std::vector<std::string>{"check", "download", "unpack", "verify", "load", "report"}));
    auto st = state();
    EXPECT_EQ(st.patchState, PatchState::Applied);
    ASSERT_TRUE(st.applied);
    EXPECT_EQ(st.applied->version, "3");
    EXPECT_EQ(st.applied->bootId, "boot-1");
    EXPECT_TRUE(fsys::exists(st.applied->cachePath)) << "verified tarball kept for re-apply";
    EXPECT_EQ(fsys::path(st.applied->cachePath).parent_path().filename(), kKernel);
    auto report = server.lastReport();
    ASSERT_TRUE(report);
    EXPECT_EQ(report->getValue<std::string>("patch-version"), "3");
    EXPECT_EQ(report->getValue<std::string>("patch-state"), "applied");
    EXPECT_EQ(report->getValue<std::string>("kernel"), kKernel);
    EXPECT_EQ(findHeader(server.requests.back().headers, "Authorization"), "Bearer " + kMachineToken);
    // No work directory is left behind.
    for (const auto& e : fsys::directory_iterator(paths.cacheDir))
        EXPECT_EQ(e.path().filename().string().rfind("work-", 0), std::string::npos) << e.path();
}

TEST_F(EngineTest, ChecksumMismatchDeletesTheDownloadAndKeepsTheOldPatch) {
    enableAndApply("1");
    auto bad = offer("2");
    bad.sha256 = std::string(64, 'a');
    server.offers = {offer("1"), bad};
    auto r = engine->runCycle(nullptr, nullptr);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code(), ErrorCode::ChecksumMismatch);
    EXPECT_EQ(loader.loaded["lp_test"], "1");
    auto st = state();
    EXPECT_EQ(st.patchState, PatchState::ApplyFailed);
    EXPECT_NE(st.patchError.find("SHA-256"), std::string::npos);
    EXPECT_EQ(st.applied->version, "1");
    EXPECT_TRUE(fsys::is_empty(fsys::path(paths.cacheDir) / "downloads"));
    EXPECT_EQ(verifier.calls, 1) << "nothing unverified goes further than the checksum";
}

TEST_F(EngineTest, EveryConfiguredVerifierMustExistAndPass) {
    enableAndApply("1");
    server.offers = {offer("2")};
    ASSERT_TRUE(config.apply({"verifiers=fake-verify,missing-verify"}));
    auto r = engine->runCycle(nullptr, nullptr);
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message().find("\"missing-verify\" is not loaded"), std::string::npos);
    EXPECT_EQ(loader.loaded["lp_test"], "1");

    server.offers = {offer("2", "module v2 unsigned")};
    ASSERT_TRUE(config.apply({"verifiers=fake-verify,second-verify"}));
    r = engine->runCycle(nullptr, nullptr);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code(), ErrorCode::Unsigned);
    EXPECT_NE(r.error().message().find("verification by fake-verify failed"), std::string::npos);
    EXPECT_EQ(loader.loaded["lp_test"], "1");
    EXPECT_EQ(state().patchState, PatchState::ApplyFailed);

    server.offers = {offer("2")};
    r = engine->runCycle(nullptr, nullptr);
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_EQ(loader.loaded["lp_test"], "2");
    EXPECT_GE(verifier2.calls, 1);
}

TEST_F(EngineTest, MetadataMustMatchTheServersOffer) {
    ASSERT_TRUE(engine->enable(kToken));
    Offer o = offer("2");
    o.bytes = tarball("lp_test", "1", "module SIGNED");  // server says 2, tarball says 1
    server.offers = {o};
    auto r = engine->runCycle(nullptr, nullptr);
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message().find("does not match the server's offer"), std::string::npos);
    EXPECT_TRUE(loader.loaded.empty());

    o.bytes = tarball("lp_test", "2", "module SIGNED", "6.1.0-other");
    server.offers = {o};
    r = engine->runCycle(nullptr, nullptr);
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message().find("built for kernel 6.1.0-other"), std::string::npos);
    EXPECT_TRUE(loader.loaded.empty());
}

TEST_F(EngineTest, RollbackIsRefusedUnlessTheOperatorAllowsItOnce) {
    enableAndApply("3");
    server.offers = {offer("2")};
    auto r = engine->runCycle(nullptr, nullptr);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code(), ErrorCode::Rollback);
    EXPECT_EQ(loader.loaded["lp_test"], "3");
    engine->allowRollbackOnce();
    ASSERT_TRUE(engine->runCycle(nullptr, nullptr));
    EXPECT_EQ(loader.loaded["lp_test"], "2");
    server.offers = {offer("1")};
    r = engine->runCycle(nullptr, nullptr);
    ASSERT_FALSE(r) << "the override is for one cycle only";
    EXPECT_EQ(r.error().code(), ErrorCode::Rollback);
}

// Only the module bytes are signed. Each case below is a validly "signed"
// module whose unsigned livepatch.json (and the offer) lie about it.
class ModuleIdentityTest : public EngineTest {
protected:
    // Offer `version` whose signed module has these .modinfo fields.
    Result<CycleResult> offerModule(const std::string& version,
                                    const std::vector<std::pair<std::string, std::string>>& modinfo) {
        server.offers = {offer(version, livepatch::testing::makeModuleImage(modinfo) + "SIGNED")};
        return engine->runCycle(nullptr, nullptr);
    }
    void expectRefused(const Result<CycleResult>& r, ErrorCode code, const std::string& text,
                       const std::string& keptVersion) {
        ASSERT_FALSE(r) << "loaded a module whose signed identity disagrees";
        EXPECT_EQ(r.error().code(), code) << r.error().describe();
        EXPECT_NE(r.error().message().find(text), std::string::npos) << r.error().message();
        EXPECT_EQ(state().patchState, PatchState::ApplyFailed);
        if (keptVersion.empty()) {
            EXPECT_TRUE(loader.loaded.empty());
        } else {
            EXPECT_EQ(loader.loaded["lp_test"], keptVersion);
            EXPECT_EQ(state().applied->version, keptVersion);
        }
    }
    using Fields = std::vector<std::pair<std::string, std::string>>;
};

TEST_F(ModuleIdentityTest, AModuleNamedOtherwiseThanTheMetadataIsRefused) {
    ASSERT_TRUE(engine->enable(kToken));
    expectRefused(offerModule("1", livepatch::testing::livepatchModinfo("e1000e", "1", kRelease)),
                  ErrorCode::PolicyRefused,
                  "the signed module is named \"e1000e\" but the patch metadata says \"lp_test\"", "");
}

TEST_F(ModuleIdentityTest, AnOldSignedModuleSoldAsANewVersionIsARollback) {
    enableAndApply("2");
    // The attack: an older, validly signed module packed as "999".
    expectRefused(offerModule("999", livepatch::testing::livepatchModinfo("lp_test", "1", kRelease)),
                  ErrorCode::Rollback, "the signed module is version \"1\", lower than the applied \"2\"", "2");
}

TEST_F(ModuleIdentityTest, ASignedVersionOtherThanTheMetadataIsRefused) {
    ASSERT_TRUE(engine->enable(kToken));
    expectRefused(offerModule("3", livepatch::testing::livepatchModinfo("lp_test", "2", kRelease)),
                  ErrorCode::PolicyRefused, "the signed module is version \"2\" but the patch metadata says \"3\"", "");
}

TEST_F(ModuleIdentityTest, AModuleThatIsNotALivepatchIsRefused) {
    ASSERT_TRUE(engine->enable(kToken));
    expectRefused(offerModule("1", Fields{{"version", "1"}, {"name", "lp_test"}, {"vermagic", kRelease + " SMP "}}),
                  ErrorCode::PolicyRefused, "not a livepatch module", "");
}

TEST_F(ModuleIdentityTest, AModuleForAnotherKernelIsRefused) {
    ASSERT_TRUE(engine->enable(kToken));
    expectRefused(offerModule("1", livepatch::testing::livepatchModinfo("lp_test", "1", "6.1.0-18-amd64")),
                  ErrorCode::PolicyRefused, "built for kernel \"6.1.0-18-amd64\", running \"" + kRelease + "\"", "");
}

TEST_F(ModuleIdentityTest, BytesThatAreNoModuleAreRefused) {
    ASSERT_TRUE(engine->enable(kToken));
    server.offers = {offer("1", "module v1 SIGNED")};
    expectRefused(engine->runCycle(nullptr, nullptr), ErrorCode::SignatureInvalid,
                  "module identity: malformed module: not an ELF file", "");
}

TEST_F(ModuleIdentityTest, ValuesFromTheModuleAreEscapedInMessages) {
    ASSERT_TRUE(engine->enable(kToken));
    auto r = offerModule("1", livepatch::testing::livepatchModinfo("lp\x1b]0;pwned\x07", "1", kRelease));
    expectRefused(r, ErrorCode::PolicyRefused, "named \"lp\\x1b]0;pwned\\x07\"", "");
    EXPECT_EQ(r.error().message().find('\x1b'), std::string::npos);
}

TEST_F(ModuleIdentityTest, AnUnversionedModuleNeedsTheOperatorsExplicitConsent) {
    ASSERT_TRUE(engine->enable(kToken));
    const auto unversioned = livepatch::testing::livepatchModinfo("lp_test", "", kRelease);
    expectRefused(offerModule("1", unversioned), ErrorCode::PolicyRefused, "declares no version (MODULE_VERSION)", "");
    ASSERT_TRUE(config.apply({"allow-unversioned-modules=true"}));
    auto r = offerModule("1", unversioned);
    ASSERT_TRUE(r) << r.error().describe();
    EXPECT_EQ(loader.loaded["lp_test"], "1");
    EXPECT_TRUE(logger.contains("declares no signed version; accepted because allow-unversioned-modules=true"));
    // The key accepts a missing version, never a different one.
    expectRefused(offerModule("2", livepatch::testing::livepatchModinfo("lp_test", "5", kRelease)),
                  ErrorCode::PolicyRefused, "the signed module is version \"5\" but the patch metadata says \"2\"",
                  "1");
}

TEST_F(EngineTest, CutoffDateAndPatchDelayAreEnforcedOnThePublishDate) {
    ASSERT_TRUE(engine->enable(kToken));
    Offer old = offer("1"), recent = offer("2");
    old.published = "2026-05-01T00:00:00Z";
    recent.published = "2026-05-31T00:00:00Z";  // 36 h before "now"
    server.offers = {old, recent};
    ASSERT_TRUE(config.apply({"patch-delay=3d"}));
    auto r = engine->runCycle(nullptr, nullptr);
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_EQ(loader.loaded["lp_test"], "1");
    auto report = server.lastReport();
    EXPECT_EQ(report->getValue<std::string>("patch-delay"), "3d");

    ASSERT_TRUE(config.apply({"patch-delay=", "cutoff-date=2026-04-01T00:00:00Z"}));
    server.offers = {recent};
    r = engine->runCycle(nullptr, nullptr);
    ASSERT_TRUE(r);
    EXPECT_NE(r->summary.find("published after cutoff-date"), std::string::npos) << r->summary;
    EXPECT_EQ(loader.loaded["lp_test"], "1");
}

TEST_F(EngineTest, RunModes) {
    ASSERT_TRUE(engine->enable(kToken));
    server.offers = {offer("1")};
    ASSERT_TRUE(config.apply({"run-mode=stop"}));
    auto r = engine->runCycle(nullptr, nullptr);
    ASSERT_TRUE(r);
    EXPECT_FALSE(r->contacted);
    EXPECT_EQ(server.count("POST"), 1u) << "stop: only the registration";

    ASSERT_TRUE(config.apply({"run-mode=no-apply"}));
    r = engine->runCycle(nullptr, nullptr);
    ASSERT_TRUE(r);
    EXPECT_TRUE(r->contacted);
    EXPECT_TRUE(loader.loaded.empty());
    EXPECT_EQ(state().availableVersion, "1");

    ASSERT_TRUE(config.apply({"run-mode=no-refresh"}));
    const auto before = server.requests.size();
    r = engine->runCycle(nullptr, nullptr);
    ASSERT_TRUE(r);
    EXPECT_EQ(server.requests.size(), before) << "no-refresh never contacts the server";
}

TEST_F(EngineTest, ServerErrorsBecomeOneLineWithoutTheBody) {
    ASSERT_TRUE(engine->enable(kToken));
    server.htmlError = true;
    auto r = engine->runCycle(nullptr, nullptr);
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message().find("HTTP 502"), std::string::npos);
    EXPECT_EQ(r.error().message().find("<html"), std::string::npos);
    auto st = state();
    EXPECT_EQ(st.checkState, CheckState::CheckFailed);
    EXPECT_EQ(st.checkError.find("<html"), std::string::npos);
}

TEST_F(EngineTest, LoadFailureKeepsTheOldPatchAndClearsTheGuardMarker) {
    enableAndApply("1");
    loader.failVersion = "2";
    server.offers = {offer("2")};
    auto r = engine->runCycle(nullptr, nullptr);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code(), ErrorCode::LoadFailed);
    EXPECT_NE(r.error().message().find("version 1 restored; loading version 2 failed"), std::string::npos)
        << r.error().message();
    EXPECT_EQ(loader.loaded["lp_test"], "1") << "same name: 1 had to be reverted for 2, and is back";
    auto st = state();
    EXPECT_EQ(st.patchState, PatchState::ApplyFailed);
    EXPECT_EQ(st.applied->version, "1");
    EXPECT_TRUE(st.loadingPatch.empty());
    EXPECT_TRUE(fsys::exists(st.applied->cachePath));
}

TEST_F(EngineTest, SameNameUpgradeRevertsTheOldVersionThenLoadsTheNew) {
    enableAndApply("1");
    ASSERT_EQ(loader.loadedBytes, signedModule("lp_test", "1"));
    server.offers = {offer("2")};
    auto r = engine->runCycle(nullptr, nullptr);
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_EQ(loader.loaded["lp_test"], "2");
    EXPECT_EQ(loader.loadedBytes, signedModule("lp_test", "2")) << "the kernel holds version 2's module, not 1's";
    EXPECT_TRUE(logger.contains("has the same livepatch name as the applied version 1"));
    EXPECT_EQ(state().applied->version, "2");
}

TEST_F(EngineTest, SameNameUpgradeThatCannotRestoreSaysSoAndTheNextCheckRecovers) {
    enableAndApply("1");
    loader.failLoad = true;  // neither 2 nor 1 loads
    server.offers = {offer("2")};
    auto r = engine->runCycle(nullptr, nullptr);
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message().find("loading version 2 failed and version 1 could not be restored"),
              std::string::npos)
        << r.error().message();
    EXPECT_TRUE(loader.loaded.empty());
    loader.failLoad = false;
    r = engine->runCycle(nullptr, nullptr);
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_EQ(loader.loaded["lp_test"], "2");
}

TEST_F(EngineTest, CancelledDownloadLoadsNothing) {
    server.cancelDuringDownload = true;
    ASSERT_NO_FATAL_FAILURE(enableAndCycleCancelled());
    EXPECT_TRUE(loader.loaded.empty());
    EXPECT_EQ(verifier.calls, 0);
}

TEST_F(EngineTest, ReapplyFromCacheAfterRebootWithoutTheNetwork) {
    enableAndApply("2");
    reboot(3600);  // an hour after boot: well after the load window
    clock.advance(24h);
    server.down = true;
    const auto requests = server.requests.size();
    const int verified = verifier.calls;
    ASSERT_TRUE(engine->reapplyFromCache(nullptr));
    EXPECT_EQ(loader.loaded["lp_test"], "2");
    EXPECT_EQ(server.requests.size(), requests) << "no network at re-apply";
    EXPECT_EQ(verifier.calls, verified + 1) << "the cached tarball is verified again";
    EXPECT_EQ(state().applied->bootId, loader.bootId);
    // Already in the kernel: nothing to do.
    ASSERT_TRUE(engine->reapplyFromCache(nullptr));
    EXPECT_EQ(loader.loads, 2);
}

TEST_F(EngineTest, EmergencyStopFromTheKernelCommandLineOrAFileBlocksReapplyAndChecks) {
    enableAndApply("2");
    server.offers = {offer("3")};
    auto expectNothingHappens = [&](const std::string& why) {
        reboot(3600);
        const auto requests = server.requests.size();
        ASSERT_TRUE(engine->reapplyFromCache(nullptr)) << why;
        EXPECT_TRUE(loader.loaded.empty()) << why << ": the cached patch must not be re-applied";
        auto r = engine->runCycle(nullptr, nullptr);
        ASSERT_TRUE(r) << why;
        EXPECT_FALSE(r->contacted) << why;
        EXPECT_NE(r->summary.find("emergency stop"), std::string::npos) << r->summary;
        EXPECT_EQ(server.requests.size(), requests) << why << ": the server must not be contacted";
        EXPECT_TRUE(loader.loaded.empty()) << why;
    };
    fsys::create_directories(fsys::path(paths.hostRoot) / "proc");
    std::ofstream(fsys::path(paths.hostRoot) / "proc/cmdline")
        << "BOOT_IMAGE=/vmlinuz root=/dev/vda ro livepatch_agent.mode=stop quiet\n";
    expectNothingHappens("kernel command line");
    std::ofstream(fsys::path(paths.hostRoot) / "proc/cmdline")
        << "BOOT_IMAGE=/vmlinuz root=/dev/vda ro xlivepatch_agent.mode=stop\n";
    std::ofstream(paths.emergencyStopFile()) << "";
    expectNothingHappens("emergency-stop file");
    // Both gone: the cached patch comes back without the network.
    fsys::remove(paths.emergencyStopFile());
    server.down = true;
    ASSERT_TRUE(engine->reapplyFromCache(nullptr));
    EXPECT_EQ(loader.loaded["lp_test"], "2");
}

TEST_F(EngineTest, TamperedCacheIsNotLoaded) {
    enableAndApply("2");
    auto st = state();
    std::ofstream(st.applied->cachePath, std::ios::app) << "x";
    reboot(3600);
    clock.advance(24h);
    auto r = engine->reapplyFromCache(nullptr);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code(), ErrorCode::ChecksumMismatch);
    EXPECT_TRUE(loader.loaded.empty());
}

TEST_F(EngineTest, CrashGuardWhenTheMachineRestartedDuringALoad) {
    enableAndApply("1");
    // What a crash inside finit_module leaves behind.
    {
        auto st = state();
        st.loadingPatch = "lp_test 2";
        st.loadingBootId = loader.bootId;
        st.loadingAt = timeutil::formatRfc3339(clock.now());
        ASSERT_TRUE(StateFile(paths.stateFile()).save(st.toJson()));
    }
    reboot(3600);
    auto r = engine->reapplyFromCache(nullptr);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code(), ErrorCode::CrashGuard);
    EXPECT_NE(r.error().message().find("livepatch-agent clear-lock"), std::string::npos);
    EXPECT_TRUE(loader.loaded.empty());
    EXPECT_TRUE(state().crashGuard);

    // A refresh does not load either, but still checks in.
    server.offers = {offer("2")};
    const auto posts = server.count("POST");
    auto c = engine->runCycle(nullptr, nullptr);
    ASSERT_FALSE(c);
    EXPECT_EQ(c.error().code(), ErrorCode::CrashGuard);
    EXPECT_EQ(server.count("POST"), posts + 1);
    EXPECT_TRUE(loader.loaded.empty());

    ASSERT_TRUE(engine->clearCrashGuard());
    ASSERT_TRUE(engine->reapplyFromCache(nullptr));
    EXPECT_EQ(loader.loaded["lp_test"], "1");
}

TEST_F(EngineTest, CrashGuardWhenTheMachineRestartedSoonAfterALoad) {
    enableAndApply("1");
    clock.advance(5min);
    reboot(60);  // booted a minute ago, i.e. 4 minutes after the load
    auto r = engine->reapplyFromCache(nullptr);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code(), ErrorCode::CrashGuard);
    EXPECT_NE(r.error().message().find("possible crash"), std::string::npos);
    EXPECT_TRUE(loader.loaded.empty());
    ASSERT_TRUE(engine->clearCrashGuard());
    ASSERT_TRUE(engine->reapplyFromCache(nullptr)) << "clear-lock is enough; the same restart does not re-raise it";
    EXPECT_EQ(loader.loaded["lp_test"], "1");
}

TEST_F(EngineTest, RestartLongAfterALoadIsNotACrash) {
    enableAndApply("1");
    clock.advance(2h);
    reboot(60);  // booted 1h59m after the load
    ASSERT_TRUE(engine->reapplyFromCache(nullptr));
    EXPECT_EQ(loader.loaded["lp_test"], "1");
}

TEST_F(EngineTest, ProcessKilledMidLoadOnTheSameBootIsNotACrash) {
    enableAndApply("1");
    auto st = state();
    st.loadingPatch = "lp_test 2";
    st.loadingBootId = loader.bootId;
    st.patchState = PatchState::Applying;
    ASSERT_TRUE(StateFile(paths.stateFile()).save(st.toJson()));
    ASSERT_TRUE(engine->reapplyFromCache(nullptr));
    auto after = state();
    EXPECT_FALSE(after.crashGuard);
    EXPECT_TRUE(after.loadingPatch.empty());
    EXPECT_EQ(after.patchState, PatchState::Applied);
}

TEST_F(EngineTest, RefreshReloadsAPatchRecordedAsAppliedButMissingFromTheKernel) {
    enableAndApply("1");
    clock.advance(3h);
    reboot(60);
    auto r = engine->runCycle(nullptr, nullptr);
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_EQ(loader.loaded["lp_test"], "1");
    // And when it is loaded, a refresh changes nothing.
    r = engine->runCycle(nullptr, nullptr);
    ASSERT_TRUE(r);
    EXPECT_FALSE(r->applied);
}

TEST_F(EngineTest, KernelUpgradeRequiredIsRecordedAndReportedPatchBelongsToTheRunningKernel) {
    enableAndApply("1");
    server.supported = "kernel-upgrade-required";
    server.offers.clear();
    ASSERT_TRUE(engine->runCycle(nullptr, nullptr));
    EXPECT_EQ(state().supported, KernelSupport::KernelUpgradeRequired);
    // Booted into another kernel: the old patch is not reported as applied to it.
    loader.kernel = "5.15.0-101.111-generic";
    reboot(3600);
    ASSERT_TRUE(engine->runCycle(nullptr, nullptr));
    auto report = server.lastReport();
    EXPECT_FALSE(report->has("patch-version"));
    EXPECT_EQ(report->getValue<std::string>("kernel"), "5.15.0-101.111-generic");
}

TEST_F(EngineTest, HealthPingReportsNewTaintAsAppliedWithBug) {
    enableAndApply("1");
    ASSERT_TRUE(engine->healthPing(nullptr));
    EXPECT_EQ(state().patchState, PatchState::Applied);
    loader.healthNow.oopsCount = 1;
    loader.healthNow.taintMask = 1u << 7;  // D: died recently
    ASSERT_TRUE(engine->healthPing(nullptr));
    EXPECT_EQ(state().patchState, PatchState::AppliedWithBug);
    auto report = server.lastReport();
    EXPECT_EQ(report->getValue<std::string>("patch-state"), "applied-with-bug");
    EXPECT_EQ(report->getObject("health")->getValue<int>("oops"), 1);
}

TEST_F(EngineTest, DisableRevertsDeregistersAndForgetsTheCredential) {
    enableAndApply("1");
    ASSERT_TRUE(engine->disable(nullptr));
    EXPECT_TRUE(loader.loaded.empty());
    EXPECT_EQ(server.count("DELETE"), 1u);
    EXPECT_FALSE(fsys::exists(paths.credentialFile()));
    auto st = state();
    EXPECT_FALSE(st.enabled);
    EXPECT_EQ(st.patchState, PatchState::Unapplied);
    // Enabling again with a different token is now fine.
    ASSERT_TRUE(engine->enable(kToken));
}

TEST_F(EngineTest, DisableWorksWithTheServerDown) {
    enableAndApply("1");
    server.down = true;
    ASSERT_TRUE(engine->disable(nullptr));
    EXPECT_TRUE(loader.loaded.empty());
    EXPECT_FALSE(state().enabled);
}

// --- Converging after any interruption (issue 20) ---------------------------

// 20.1: the ETag of an answer was saved before the download, so a cycle
// killed after the check left every later check a 304: the patch hidden.
// The kill: the state file as it was during the download, put back after.
TEST_F(EngineTest, APatchBehindAKilledCycleIsNotHiddenByA304) {
    enableAndApply("1");
    std::string during;
    server.onDownload = [&] {
        std::ifstream in(paths.stateFile());
        during.assign(std::istreambuf_iterator<char>(in), {});
    };
    server.offers = {offer("1"), offer("2")};
    server.cancelDuringDownload = true;
    CancelToken cancel;
    ASSERT_FALSE(engine->runCycle(nullptr, &cancel));
    std::ofstream(paths.stateFile(), std::ios::trunc) << during;  // killed in the download
    server.onDownload = nullptr;
    server.cancelDuringDownload = false;
    auto r = engine->runCycle(nullptr, nullptr);
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_FALSE(r->notModified) << "the killed cycle's ETag must not have been kept";
    EXPECT_EQ(loader.loaded["lp_test"], "2");
}

TEST_F(EngineTest, APatchTheCrashGuardHeldBackIsOfferedInFullOnceItIsCleared) {
    enableAndApply("1");
    {
        auto st = state();
        st.crashGuard = true;
        ASSERT_TRUE(StateFile(paths.stateFile()).save(st.toJson()));
    }
    server.offers = {offer("1"), offer("2")};
    auto r = engine->runCycle(nullptr, nullptr);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code(), ErrorCode::CrashGuard);
    ASSERT_TRUE(engine->clearCrashGuard());
    r = engine->runCycle(nullptr, nullptr);
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_FALSE(r->notModified);
    EXPECT_EQ(loader.loaded["lp_test"], "2");
}

TEST_F(EngineTest, NothingToDoKeepsTheETagSoTheNextCheckIsA304) {
    enableAndApply("1");
    ASSERT_TRUE(engine->runCycle(nullptr, nullptr));  // "already applied": the outcome is settled
    auto r = engine->runCycle(nullptr, nullptr);
    ASSERT_TRUE(r);
    EXPECT_TRUE(r->notModified);
}

// 20.5 / 13.5: a cancel is the operator's choice, not an apply failure.
TEST_F(EngineTest, ACancelIsRecordedAsCancelledAndKeepsThePreviousState) {
    enableAndApply("1");
    server.offers = {offer("2")};
    server.cancelDuringDownload = true;
    CancelToken cancel;
    ASSERT_FALSE(engine->runCycle(nullptr, &cancel));
    auto st = state();
    EXPECT_EQ(st.patchState, PatchState::Applied);
    EXPECT_EQ(st.applied->version, "1");
    EXPECT_NE(st.patchError.find("cancelled"), std::string::npos) << st.patchError;
}

// 13.5: cancelled during the transition wait, the new patch is in the
// kernel: the state says so (and keeps its tarball), not "apply-failed 1".
TEST_F(EngineTest, ACancelMidTransitionRecordsWhatTheKernelHolds) {
    loader.cancelMidTransition = true;
    ASSERT_NO_FATAL_FAILURE(enableAndCycleCancelled());
    auto st = state();
    ASSERT_TRUE(st.applied);
    EXPECT_EQ(st.applied->version, "1");
    EXPECT_EQ(st.patchState, PatchState::Applying) << "the kernel is still in the transition";
    ASSERT_TRUE(st.inKernel);
    EXPECT_TRUE(st.inKernel->transitioning);
    EXPECT_TRUE(fsys::exists(st.applied->cachePath)) << "kept to re-apply after a restart";
    EXPECT_TRUE(st.loadingPatch.empty());
    // The transition completes; the next cycle records it as applied.
    loader.transitioning.clear();
    loader.cancelMidTransition = false;
    ASSERT_TRUE(engine->runCycle(nullptr, nullptr));
    EXPECT_EQ(state().patchState, PatchState::Applied);
}

// 20.2: what a SIGKILL right after the kernel took the new version leaves
// (the state as it was during the load) is reconciled from the kernel at the
// next start, even when the check then fails.
TEST_F(EngineTest, AKillAfterTheKernelTookTheNewVersionIsAdoptedFromTheKernel) {
    enableAndApply("1");
    std::string during;
    loader.onLoad = [&](const PatchSpec&) {
        std::ifstream in(paths.stateFile());
        during.assign(std::istreambuf_iterator<char>(in), {});
    };
    server.offers = {offer("2")};
    ASSERT_TRUE(engine->runCycle(nullptr, nullptr));
    ASSERT_EQ(loader.loaded["lp_test"], "2");
    std::ofstream(paths.stateFile(), std::ios::trunc) << during;  // the kill
    server.down = true;
    ASSERT_FALSE(engine->runCycle(nullptr, nullptr));
    auto st = state();
    ASSERT_TRUE(st.applied);
    EXPECT_EQ(st.applied->version, "2") << "the kernel holds 2";
    EXPECT_EQ(st.patchState, PatchState::Applied);
    EXPECT_TRUE(fsys::exists(st.applied->cachePath));
    EXPECT_TRUE(st.loadingPatch.empty());
    EXPECT_FALSE(st.loadingRecord);
}

// 20.2: a kill during "revert the old version first" left "applied 1" with
// nothing in the kernel.
TEST_F(EngineTest, AKillDuringTheSameNameRevertLeavesTheStateSayingNothingIsLoaded) {
    enableAndApply("1");
    std::string during;
    loader.onUnload = [&](const std::string&) {
        std::ifstream in(paths.stateFile());
        during.assign(std::istreambuf_iterator<char>(in), {});
    };
    server.offers = {offer("2")};
    ASSERT_TRUE(engine->runCycle(nullptr, nullptr));
    std::ofstream(paths.stateFile(), std::ios::trunc) << during;  // killed right after the revert
    loader.loaded.clear();
    auto st0 = engine->reconcileWithKernel(true);
    ASSERT_TRUE(st0) << st0.error().message();
    auto st = state();
    EXPECT_EQ(st.patchState, PatchState::Unapplied);
    EXPECT_FALSE(st.inKernel);
    // And the next check converges to 2.
    auto r = engine->runCycle(nullptr, nullptr);
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_EQ(loader.loaded["lp_test"], "2");
    EXPECT_EQ(state().patchState, PatchState::Applied);
}

TEST_F(EngineTest, AModuleThatDeclaresNoVersionIsShownAsUnknownNotAsTheRecordedOne) {
    loader.declaresVersion = false;
    enableAndApply("1");
    auto st = state();
    ASSERT_TRUE(st.inKernel);
    EXPECT_EQ(st.inKernel->version, "") << "unknown, not assumed";
    EXPECT_EQ(st.applied->version, "1");
}

// 13.15: the state save after reverting the old same-name version could
// fail and return without restoring it: no patch at all until the next check.
TEST_F(EngineTest, ASameNameUpgradeNeverLeavesTheKernelWithoutAPatchWhenTheStateCannotBeSaved) {
    enableAndApply("1");
    loader.onUnload = [&](const std::string&) {
        // From here on every state save fails (e.g. the disk filled up).
        fsys::remove(paths.stateFile());
        fsys::create_directories(fsys::path(paths.stateFile()) / "blocked");
    };
    server.offers = {offer("2")};
    (void)engine->runCycle(nullptr, nullptr);
    EXPECT_FALSE(loader.loaded.empty()) << "reverted 1 and left the kernel with nothing";
    fsys::remove_all(paths.stateFile());
}

// 20.5: interrupted cycles left cache/work-* and downloads/*.part behind.
TEST_F(EngineTest, LeftoversOfInterruptedCyclesAreCleanedKeepingOnlyTheCurrentOffersPart) {
    enableAndApply("1");
    const fsys::path cache(paths.cacheDir);
    fsys::create_directories(cache / "work-0123456789ab" / "x");
    fsys::create_directories(cache / "downloads");
    std::ofstream(cache / "downloads/lp_test-0.tar.gz.part") << "old offer";
    std::ofstream(cache / kKernel / "lp_test-9.tar.gz") << "moved before a load that was never recorded";
    server.offers = {offer("2")};
    server.cancelDuringDownload = true;
    CancelToken cancel;
    ASSERT_FALSE(engine->runCycle(nullptr, &cancel));
    EXPECT_FALSE(fsys::exists(cache / "work-0123456789ab"));
    EXPECT_FALSE(fsys::exists(cache / "downloads/lp_test-0.tar.gz.part"));
    EXPECT_FALSE(fsys::exists(cache / kKernel / "lp_test-9.tar.gz"));
    EXPECT_TRUE(fsys::exists(cache / "downloads/lp_test-2.tar.gz.part"))
        << "the current offer's part is kept to resume";
    EXPECT_TRUE(fsys::exists(state().applied->cachePath));
}

TEST_F(EngineTest, CorruptStateIsReportedNotReset) {
    ASSERT_TRUE(engine->enable(kToken));
    std::ofstream(paths.stateFile(), std::ios::trunc) << "garbage";
    auto r = engine->runCycle(nullptr, nullptr);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code(), ErrorCode::StateCorrupt);
    std::ifstream in(paths.stateFile());
    std::string text((std::istreambuf_iterator<char>(in)), {});
    EXPECT_EQ(text, "garbage");
}

}  // namespace
