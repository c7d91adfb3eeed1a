// One source, several deliberately different plugins (see CMakeLists.txt).
#include <livepatch/verifier.h>

namespace fixture {

class Plugin : public livepatch::Verifier {
public:
    livepatch::PluginInfo info() const noexcept override {
        livepatch::PluginInfo i{"fixture-good", livepatch::PluginRole::Verifier, "9.9.9", LIVEPATCH_SDK_ABI_VERSION,
                                "test fixture"};
#if defined(FIXTURE_INFO_ABI)
        i.name = "fixture-info-abi";
        i.abiVersion = LIVEPATCH_SDK_ABI_VERSION + 1;
#elif defined(FIXTURE_WRONG_ROLE)
        i.name = "fixture-wrong-role";
        i.role = livepatch::PluginRole::Loader;
#elif defined(FIXTURE_BAD_ABI)
        i.name = "fixture-bad-abi";
#elif defined(FIXTURE_GXX_ABI)
        i.name = "fixture-gxx-abi";
#elif defined(FIXTURE_POCO_VERSION)
        i.name = "fixture-poco-version";
#endif
        return i;
    }
    livepatch::Result<livepatch::VerifyReport> verify(const livepatch::ModuleImage& image) noexcept override {
        if (image.bytes.empty()) return livepatch::Error(livepatch::ErrorCode::Unsigned, "empty module");
        return livepatch::VerifyReport{"fixture-good", "nobody", "none", "fixture"};
    }
};

}  // namespace fixture

// As if built with another SDK, compiler or Poco: the macros LIVEPATCH_PLUGIN
// reads where it is expanded, faked just before it.
#if defined(FIXTURE_BAD_ABI)
#undef LIVEPATCH_SDK_ABI_VERSION
#define LIVEPATCH_SDK_ABI_VERSION 999
#elif defined(FIXTURE_GXX_ABI)
// Another compiler's value than the one building this: 1002 is g++ 3.4 to 9
// and clang, 1017 g++ 12.
#if __GXX_ABI_VERSION == 1002
#define FIXTURE_OTHER_GXX_ABI 1017
#else
#define FIXTURE_OTHER_GXX_ABI 1002
#endif
#undef __GXX_ABI_VERSION
#define __GXX_ABI_VERSION FIXTURE_OTHER_GXX_ABI
#elif defined(FIXTURE_POCO_VERSION)
#undef POCO_VERSION
#define POCO_VERSION 0x01090000  // Poco 1.9.0
#endif
#if defined(FIXTURE_OLD_SDK)
// What LIVEPATCH_PLUGIN exported up to SDK 2: an int, no build ABI.
extern "C" __attribute__((visibility("default"))) int livepatch_sdk_abi_version() { return 2; }
POCO_BEGIN_MANIFEST(livepatch::Plugin)
POCO_EXPORT_CLASS(fixture::Plugin)
POCO_END_MANIFEST
#else
LIVEPATCH_PLUGIN(fixture::Plugin)
#endif
