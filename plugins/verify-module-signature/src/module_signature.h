// verify-module-signature: the Linux appended module signature.
//
//   [module body][PKCS#7 DER, sig_len bytes][struct module_signature, 12 bytes]["~Module signature appended~\n"]
//   struct module_signature { u8 algo, hash, id_type, signer_len, key_id_len; u8 pad[3]; __be32 sig_len; }
//   id_type must be PKEY_ID_PKCS7 (2); the CMS SignedData is detached over the body.
//
// Trust works like the kernel's: the signer must be one of the certificates
// in `keyring-dir` (root-owned, not group/world-writable; *.pem, *.crt, *.der);
// no chain building. Digest must be in `signature-hashes` (default sha512);
// RSA only.
#pragma once

#include <livepatch/verifier.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace livepatch::plugins {

struct AppendedSignature {
    std::string_view body;   // signed content
    std::string_view pkcs7;  // DER
    std::uint8_t idType = 0;
};

// Split a module image; Unsigned / SignatureInvalid with a precise reason.
Result<AppendedSignature> parseAppendedSignature(std::string_view image);

class ModuleSignatureVerifier : public Verifier {
public:
    PluginInfo info() const noexcept override;
    std::vector<ConfigKey> configKeys() const noexcept override;
    Status configure(const PluginContext& ctx) noexcept override;
    Result<VerifyReport> verify(const ModuleImage& image) noexcept override;

private:
    std::string keyringDir_;
    std::vector<std::string> allowedHashes_;
    bool enforceOwnership_ = true;
};

}  // namespace livepatch::plugins
