// Google Benchmark: the agent's SHA-256 and the full verify step
// (SHA-256 of the module + PKCS#7 signature check) on a signed module.
//   bench-micro --module FILE --keyring DIR [benchmark flags]
#include <benchmark/benchmark.h>

#include <livepatch/testing/fakes.h>

#include <cstring>
#include <string>

#include "module_signature.h"
#include "util/fs.h"
#include "crypto/sha256.h"

namespace {
std::string gModule, gKeyring;

void BM_Sha256(benchmark::State& state) {
    for (auto _ : state) benchmark::DoNotOptimize(livepatch::sha256Hex(gModule));
    state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(gModule.size()));
}

void BM_VerifyPipeline(benchmark::State& state) {
    livepatch::testing::MapConfigView cfg({{"keyring-dir", gKeyring}, {"signature-hashes", "sha512"}});
    livepatch::testing::CapturingLogger log;
    livepatch::testing::ManualClock clock;
    livepatch::PluginContext ctx;
    ctx.config = &cfg;
    ctx.logger = &log;
    ctx.clock = &clock;
    livepatch::plugins::ModuleSignatureVerifier v;
    (void)v.configure(ctx);
    for (auto _ : state) {
        benchmark::DoNotOptimize(livepatch::sha256Hex(gModule));
        auto r = v.verify(livepatch::ModuleImage{"m", "", gModule});
        if (!r) state.SkipWithError(r.error().message().c_str());
    }
    state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(gModule.size()));
}
}  // namespace

BENCHMARK(BM_Sha256)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_VerifyPipeline)->Unit(benchmark::kMillisecond);

int main(int argc, char** argv) {
    std::vector<char*> rest;
    for (int i = 0; i < argc; ++i) {
        if (!std::strcmp(argv[i], "--module") && i + 1 < argc) gModule = *livepatch::fs::readFile(argv[++i], 1u << 30);
        else if (!std::strcmp(argv[i], "--keyring") && i + 1 < argc) gKeyring = argv[++i];
        else rest.push_back(argv[i]);
    }
    int n = static_cast<int>(rest.size());
    benchmark::Initialize(&n, rest.data());
    benchmark::RunSpecifiedBenchmarks();
    return 0;
}
