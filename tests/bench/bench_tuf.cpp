// CPU of TUF metadata verification (issue 15): what the agent does per
// check once the files are in memory, for a catalogue of N targets:
//   timestamp (parse + threshold) -> snapshot (hashes vs timestamp, parse,
//   threshold, version) -> targets (hashes vs snapshot, parse, threshold).
// Baseline in the same run: the bare ed25519 verifications of the same
// three signatures with OpenSSL EVP (the cryptographic floor).
// Also: an idle refresh (unchanged timestamp) through the Updater with a
// directory mirror, trusted files on disk included.
//   bench-tuf [--targets N] [benchmark flags]
#include <benchmark/benchmark.h>
#include <openssl/evp.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <string>

#include "tuf/repository.h"
#include "tuf/updater.h"
#include "util/fs.h"

using namespace livepatch;
using namespace livepatch::tuf;

namespace {
int gTargets = 100;
std::string gDir, gRoot, gTimestamp, gSnapshot, gTargetsBytes;
std::int64_t gNow = 0;

void fail(benchmark::State& state, const Error& e) { state.SkipWithError(e.describe().c_str()); }

void BM_TufVerifyTopLevel(benchmark::State& state) {
    auto root = parseRoot(gRoot, MetadataLimits{}.rootMaxLength);
    if (!root) return fail(state, root.error());
    for (auto _ : state) {
        auto ts = parseTimestamp(gTimestamp, 16384);
        if (!ts) return fail(state, ts.error());
        auto s = verifyThreshold(*ts, root->keys, root->roles.at("timestamp"), "timestamp");
        if (s) s = checkHashes(gSnapshot, ts->snapshot.hashes, "snapshot");
        auto sn = parseSnapshot(gSnapshot, *ts->snapshot.length);
        if (!s || !sn) return fail(state, s ? sn.error() : s.error());
        s = verifyThreshold(*sn, root->keys, root->roles.at("snapshot"), "snapshot");
        if (s) s = checkHashes(gTargetsBytes, sn->meta.at("targets.json").hashes, "targets");
        auto tg = parseTargets(gTargetsBytes, *sn->meta.at("targets.json").length);
        if (!s || !tg) return fail(state, s ? tg.error() : s.error());
        s = verifyThreshold(*tg, root->keys, root->roles.at("targets"), "targets");
        if (!s || static_cast<int>(tg->targets.size()) != gTargets)
            return fail(state, s ? Error(ErrorCode::Internal, "count") : s.error());
        benchmark::DoNotOptimize(tg);
    }
}

// The floor: three raw ed25519 verifications over the signed bytes.
void BM_Ed25519Floor(benchmark::State& state) {
    auto root = parseRoot(gRoot, MetadataLimits{}.rootMaxLength);
    auto ts = parseTimestamp(gTimestamp, 16384);
    auto sn = parseSnapshot(gSnapshot, 1 << 20);
    auto tg = parseTargets(gTargetsBytes, 8 << 20);
    struct Item {
        std::string data;
        std::vector<unsigned char> sig;
        EVP_PKEY* key;
    };
    std::vector<Item> items;
    for (const Common* md :
         {static_cast<const Common*>(&*ts), static_cast<const Common*>(&*sn), static_cast<const Common*>(&*tg)}) {
        const std::string& keyid = md->signatures[0].keyid;
        std::string hex = root->keys.at(keyid).json().find("keyval")->find("public")->asString();
        unsigned char pub[32];
        for (int i = 0; i < 32; ++i) pub[i] = static_cast<unsigned char>(std::stoi(hex.substr(i * 2, 2), nullptr, 16));
        std::vector<unsigned char> sig;
        for (std::size_t i = 0; i < md->signatures[0].sig.size(); i += 2)
            sig.push_back(static_cast<unsigned char>(std::stoi(md->signatures[0].sig.substr(i, 2), nullptr, 16)));
        items.push_back(
            {canonicalJson(md->signedJson), sig, EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, pub, 32)});
    }
    for (auto _ : state) {
        for (auto& it : items) {
            EVP_MD_CTX* ctx = EVP_MD_CTX_new();
            EVP_DigestVerifyInit(ctx, nullptr, nullptr, nullptr, it.key);
            int ok = EVP_DigestVerify(ctx, it.sig.data(), it.sig.size(),
                                      reinterpret_cast<const unsigned char*>(it.data.data()), it.data.size());
            EVP_MD_CTX_free(ctx);
            if (ok != 1) return fail(state, Error(ErrorCode::SignatureInvalid, "floor"));
        }
    }
    for (auto& it : items) EVP_PKEY_free(it.key);
}

void BM_TufRefreshIdle(benchmark::State& state) {
    DirectoryFetcher mirror(gDir + "/repo/metadata");
    UpdaterOptions o;
    o.now = [] { return gNow; };
    for (auto _ : state) {
        Updater u(gDir + "/client", mirror, o);
        auto s = u.refresh();
        if (!s) return fail(state, s.error());
    }
}

int setUp() {
    gDir = (std::filesystem::temp_directory_path() / ("bench-tuf-" + std::to_string(::getpid()))).string();
    std::filesystem::remove_all(gDir);
    gNow = 1'800'000'000;
    auto k = [] { return *SigningKey::generate(KeyScheme::Ed25519); };
    SigningKey root = k(), targets = k(), snapshot = k(), timestamp = k();
    auto repo = Repository::create(gDir + "/repo", {&root}, targets, snapshot, timestamp, gNow);
    if (!repo) return 1;
    for (int i = 0; i < gTargets; ++i) {
        std::string v = std::to_string(i + 1);
        Json custom(Json::Object{{"name", Json("lp_bench")},
                                 {"version", Json(v)},
                                 {"kernel", Json("6.1.0-18-amd64")},
                                 {"architecture", Json("x86_64")},
                                 {"published", Json("2026-11-01T00:00:00Z")},
                                 {"fixes", Json(Json::Array{Json(Json::Object{{"name", Json("cve-2026-" + v)}})})}});
        if (!repo->addTarget("6.1.0-18-amd64/x86_64/lp_bench-" + v + ".tar.xz", "patch " + v, custom, targets, gNow))
            return 1;
    }
    if (!repo->publishOnline(snapshot, timestamp, gNow)) return 1;
    const std::string meta = gDir + "/repo/metadata/";
    gRoot = *fs::readFile(meta + "root.json");
    gTimestamp = *fs::readFile(meta + "timestamp.json");
    gSnapshot = *fs::readFile(meta + std::to_string(repo->state().snapshot.version) + ".snapshot.json");
    gTargetsBytes = *fs::readFile(meta + std::to_string(repo->state().targets.version) + ".targets.json");
    if (!fs::ensurePrivateDir(gDir + "/client") || !fs::writeFileAtomic(gDir + "/client/root.json", gRoot)) return 1;
    DirectoryFetcher mirror(meta);
    UpdaterOptions o;
    o.now = [] { return gNow; };
    Updater first(gDir + "/client", mirror, o);  // trust everything once: later refreshes are idle
    if (!first.refresh()) return 1;
    std::fprintf(stderr, "targets=%d timestamp.json=%zu B snapshot.json=%zu B targets.json=%zu B\n", gTargets,
                 gTimestamp.size(), gSnapshot.size(), gTargetsBytes.size());
    return 0;
}
}  // namespace

BENCHMARK(BM_TufVerifyTopLevel)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_Ed25519Floor)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_TufRefreshIdle)->Unit(benchmark::kMicrosecond);

int main(int argc, char** argv) {
    std::vector<char*> rest;
    for (int i = 0; i < argc; ++i) {
        if (!std::strcmp(argv[i], "--targets") && i + 1 < argc) gTargets = std::atoi(argv[++i]);
        else rest.push_back(argv[i]);
    }
    if (setUp() != 0) {
        std::fprintf(stderr, "bench-tuf: setting up the repository failed\n");
        return 1;
    }
    int n = static_cast<int>(rest.size());
    benchmark::Initialize(&n, rest.data());
    benchmark::RunSpecifiedBenchmarks();
    std::filesystem::remove_all(gDir);
    return 0;
}
