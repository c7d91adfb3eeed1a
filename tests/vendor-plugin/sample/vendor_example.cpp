// Example vendor verifier: accepts only ELF64 images of at most
// `vendor-max-bytes`, a config key this plugin declares and so owns: the agent
// validates `livepatch-agent config vendor-max-bytes=...` with the declaration
// below, lists it under "# vendor-example", and hands configure() the value
// (or the declared default). Real vendors would check their own signature
// scheme here. The plugin author's guide walks through this file:
// docs/plugins.md.
#include <livepatch/verifier.h>

#include <string>

namespace vendor {

class ElfSanityVerifier : public livepatch::Verifier {
public:
    livepatch::PluginInfo info() const noexcept override {
        return {"vendor-example", livepatch::PluginRole::Verifier, "0.1.0", LIVEPATCH_SDK_ABI_VERSION,
                "example out-of-tree verifier (ELF64 sanity)"};
    }
    std::vector<livepatch::ConfigKey> configKeys() const noexcept override {
        return {livepatch::integerKey("vendor-max-bytes", "67108864", 64, 1LL << 30, "bytes from 64 to 1073741824",
                                      "vendor-example: largest module it accepts, bytes")};
    }
    livepatch::Status configure(const livepatch::PluginContext& ctx) noexcept override {
        maxBytes_ = static_cast<unsigned long long>(ctx.config->integer("vendor-max-bytes"));  // validated, defaulted
        return {};
    }
    livepatch::Result<livepatch::VerifyReport> verify(const livepatch::ModuleImage& image) noexcept override {
        if (image.bytes.size() < 64 || image.bytes.compare(0, 4, "\177ELF") != 0 || image.bytes[4] != 2)
            return livepatch::Error(livepatch::ErrorCode::SignatureInvalid, "not an ELF64 module");
        if (image.bytes.size() > maxBytes_)
            return livepatch::Error(livepatch::ErrorCode::PolicyRefused,
                                    "module of " + std::to_string(image.bytes.size()) +
                                        " bytes is larger than vendor-max-bytes " + std::to_string(maxBytes_));
        return livepatch::VerifyReport{"vendor-example", "", "none", "ELF64 header ok"};
    }

private:
    unsigned long long maxBytes_ = 0;
};

}  // namespace vendor

LIVEPATCH_PLUGIN(vendor::ElfSanityVerifier)
