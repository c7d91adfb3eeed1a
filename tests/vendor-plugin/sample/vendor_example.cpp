// Example vendor verifier: accepts only ELF64 images of at most `vendor-max-bytes`
// (default 64 MiB). Real vendors would check their own signature scheme here.
#include <livepatch/verifier.h>

#include <string>

namespace vendor {

class ElfSanityVerifier : public livepatch::Verifier {
public:
    livepatch::PluginInfo info() const noexcept override {
        return {"vendor-example", livepatch::PluginRole::Verifier, "0.1.0", LIVEPATCH_SDK_ABI_VERSION,
                "example out-of-tree verifier (ELF64 sanity)"};
    }
    livepatch::Status configure(const livepatch::PluginContext& ctx) noexcept override {
        try {
            maxBytes_ = std::stoull(ctx.config->getOr("vendor-max-bytes", "67108864"));
        } catch (...) {
            maxBytes_ = 64u << 20;
        }
        return {};
    }
    livepatch::Result<livepatch::VerifyReport> verify(const livepatch::ModuleImage& image) noexcept override {
        if (image.bytes.size() < 64 || image.bytes.compare(0, 4, "\x7f" "ELF") != 0 || image.bytes[4] != 2)
            return livepatch::Error(livepatch::ErrorCode::SignatureInvalid, "not an ELF64 module");
        if (image.bytes.size() > maxBytes_) return livepatch::Error(livepatch::ErrorCode::TooLarge, "module too large");
        return livepatch::VerifyReport{"vendor-example", "", "none", "ELF64 header ok"};
    }

private:
    unsigned long long maxBytes_ = 64u << 20;
};

}  // namespace vendor

LIVEPATCH_PLUGIN(vendor::ElfSanityVerifier)
