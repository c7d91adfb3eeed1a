// Google Benchmark: the agent's SHA-256 and the full verify step
// (SHA-256 of the module + PKCS#7 signature check) on a signed module, and,
// like for like in the same process, the OpenSSL calls `sha256sum` +
// `openssl cms -verify -binary -nointern -noverify -certfile` make.
//   bench-micro --module FILE --keyring DIR --certfile PEM [benchmark flags]
// A setup problem (unreadable module, empty keyring, failed verification)
// is a benchmark error (error_occurred), never a fast number.
#include <benchmark/benchmark.h>
#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <livepatch/testing/fakes.h>

#include <cstdio>
#include <cstring>
#include <memory>
#include <string>

#include "crypto/sha256.h"
#include "module_signature.h"
#include "util/fs.h"

namespace {
std::string gModule, gKeyring, gCertFile;

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
    if (auto c = v.configure(ctx); !c) return state.SkipWithError(c.error().message().c_str());
    for (auto _ : state) {
        benchmark::DoNotOptimize(livepatch::sha256Hex(gModule));
        auto r = v.verify(livepatch::ModuleImage{"m", "", gModule});
        if (!r) {
            state.SkipWithError(r.error().message().c_str());
            break;
        }
    }
    state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(gModule.size()));
}

// The baseline tools' work without their process start: SHA-256 of the
// module (EVP), then what `openssl cms -verify -binary -inform DER -certfile
// PEM -nointern -noverify` does: read the certificate file, decode the
// PKCS#7 and verify it over the detached body. Same trailer split as the
// agent (the tools are handed pre-split files).
void BM_OpensslCallsInProcess(benchmark::State& state) {
    auto sig = livepatch::plugins::parseAppendedSignature(gModule);
    if (!sig) return state.SkipWithError(sig.error().message().c_str());
    for (auto _ : state) {
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned int mdLen = 0;
        if (EVP_Digest(gModule.data(), gModule.size(), md, &mdLen, EVP_sha256(), nullptr) != 1)
            return state.SkipWithError("EVP_Digest failed");
        benchmark::DoNotOptimize(md);
        std::unique_ptr<BIO, decltype(&BIO_free)> certBio(BIO_new_file(gCertFile.c_str(), "r"), &BIO_free);
        if (!certBio) return state.SkipWithError(("cannot read " + gCertFile).c_str());
        std::unique_ptr<STACK_OF(X509), void (*)(STACK_OF(X509)*)> certs(
            sk_X509_new_null(), [](STACK_OF(X509) * s) { sk_X509_pop_free(s, X509_free); });
        while (X509* c = PEM_read_bio_X509(certBio.get(), nullptr, nullptr, nullptr)) sk_X509_push(certs.get(), c);
        ERR_clear_error();  // end of the PEM file
        const auto* der = reinterpret_cast<const unsigned char*>(sig->pkcs7.data());
        std::unique_ptr<CMS_ContentInfo, decltype(&CMS_ContentInfo_free)> cms(
            d2i_CMS_ContentInfo(nullptr, &der, static_cast<long>(sig->pkcs7.size())), &CMS_ContentInfo_free);
        std::unique_ptr<BIO, decltype(&BIO_free)> content(
            BIO_new_mem_buf(sig->body.data(), static_cast<int>(sig->body.size())), &BIO_free);
        std::unique_ptr<X509_STORE, decltype(&X509_STORE_free)> store(X509_STORE_new(), &X509_STORE_free);
        if (!cms || CMS_verify(cms.get(), certs.get(), store.get(), content.get(), nullptr,
                               CMS_BINARY | CMS_DETACHED | CMS_NO_SIGNER_CERT_VERIFY | CMS_NOINTERN) != 1)
            return state.SkipWithError("openssl CMS_verify refused the module");
    }
    state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(gModule.size()));
}
}  // namespace

BENCHMARK(BM_Sha256)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_VerifyPipeline)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_OpensslCallsInProcess)->Unit(benchmark::kMillisecond);

int main(int argc, char** argv) {
    std::vector<char*> rest;
    for (int i = 0; i < argc; ++i) {
        if (!std::strcmp(argv[i], "--module") && i + 1 < argc) {
            auto m = livepatch::fs::readFile(argv[++i], 1u << 30);
            if (!m) {
                std::fprintf(stderr, "bench-micro: %s\n", m.error().message().c_str());
                return 1;
            }
            gModule = *m;
        } else if (!std::strcmp(argv[i], "--keyring") && i + 1 < argc) {
            gKeyring = argv[++i];
        } else if (!std::strcmp(argv[i], "--certfile") && i + 1 < argc) {
            gCertFile = argv[++i];
        } else {
            rest.push_back(argv[i]);
        }
    }
    int n = static_cast<int>(rest.size());
    benchmark::Initialize(&n, rest.data());
    if (benchmark::RunSpecifiedBenchmarks() == 0) {
        std::fprintf(stderr, "bench-micro: no benchmark matched\n");
        return 1;
    }
    return 0;
}
