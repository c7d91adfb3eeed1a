// One source, several deliberately different plugins (see CMakeLists.txt).
#include <livepatch/verifier.h>

namespace fixture {

class Plugin : public livepatch::Verifier {
public:
    livepatch::PluginInfo info() const noexcept override {
        livepatch::PluginInfo i{"fixture-good", livepatch::PluginRole::Verifier, "9.9.9", LIVEPATCH_SDK_ABI_VERSION, "test fixture"};
#if defined(FIXTURE_INFO_ABI)
        i.name = "fixture-info-abi";
        i.abiVersion = LIVEPATCH_SDK_ABI_VERSION + 1;
#elif defined(FIXTURE_WRONG_ROLE)
        i.name = "fixture-wrong-role";
        i.role = livepatch::PluginRole::Loader;
#elif defined(FIXTURE_BAD_ABI)
        i.name = "fixture-bad-abi";
#endif
        return i;
    }
    livepatch::Result<livepatch::VerifyReport> verify(const livepatch::ModuleImage& image) noexcept override {
        if (image.bytes.empty()) return livepatch::Error(livepatch::ErrorCode::Unsigned, "empty module");
        return livepatch::VerifyReport{"fixture-good", "nobody", "none", "fixture"};
    }
};

}  // namespace fixture

#if defined(FIXTURE_BAD_ABI)
// Built against "another" SDK: a different ABI number.
extern "C" __attribute__((visibility("default"))) int livepatch_sdk_abi_version() { return 999; }
POCO_BEGIN_MANIFEST(livepatch::Plugin)
    POCO_EXPORT_CLASS(fixture::Plugin)
POCO_END_MANIFEST
#else
LIVEPATCH_PLUGIN(fixture::Plugin)
#endif
