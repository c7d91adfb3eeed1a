// The whole verify() of verify-module-signature on arbitrary bytes: the
// trailer split, the PKCS#7 decode, digest and algorithm policy, the signer
// lookup in a keyring and CMS_verify. The keyring holds the test-only
// certificate the seeds in module-verify/corpus are signed with
// (tests/fuzz/make-seeds.py), so mutations start past the signer check.
#include <livepatch/testing/fakes.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "module_signature.h"

namespace {
livepatch::testing::MapConfigView gConfig;
livepatch::testing::CapturingLogger gLog;
livepatch::testing::ManualClock gClock;
livepatch::plugins::ModuleSignatureVerifier gVerifier;
std::filesystem::path gKeyringDir;
void removeKeyring() { std::filesystem::remove_all(gKeyringDir); }
}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    // A private copy (0700/0600) so the root-owned, not-writable keyring rule
    // holds however the source tree is owned.
    namespace fsys = std::filesystem;
    const fsys::path dir = fsys::temp_directory_path() / ("lp-fuzz-keyring-" + std::to_string(::getpid()));
    fsys::remove_all(dir);
    fsys::create_directory(dir);
    gKeyringDir = dir;
    std::atexit(removeKeyring);
    ::chmod(dir.c_str(), 0700);
    fsys::copy_file(LIVEPATCH_FUZZ_KEYRING "/signing.pem", dir / "signing.pem");
    ::chmod((dir / "signing.pem").c_str(), 0600);
    gConfig.set("keyring-dir", dir.string());
    gConfig.set("signature-hashes", "sha512");
    livepatch::PluginContext ctx;
    ctx.config = &gConfig;
    ctx.logger = &gLog;
    ctx.clock = &gClock;
    if (!gVerifier.configure(ctx)) std::abort();
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string bytes(reinterpret_cast<const char*>(data), size);
    auto r = gVerifier.verify(livepatch::ModuleImage{"fuzz", "", bytes});
    // Accepted only if the image really carries a trailer (never on a
    // parse shortcut), and never with an internal error.
    if (r && !livepatch::plugins::parseAppendedSignature(bytes)) __builtin_trap();
    if (!r && r.error().code() == livepatch::ErrorCode::Internal) __builtin_trap();
    return 0;
}
