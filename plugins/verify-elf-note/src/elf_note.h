// verify-elf-note: Xen-style live patch signatures in an ELF note.
//
// Exactly one note, in section ".note.Xen.signature", note name "Xen".
//  (a) final layout (xen-devel "live patch signing" v2/v3): note type =
//      version (bits 0-15, must be 1) | algorithm (bits 16-23, 0 = RSA) |
//      hash (bits 24-31, 0 = SHA-256); descriptor = the signature.
//  (b) first draft: note type 0; descriptor = {u16 version, u8 algo,
//      u8 hash, u32 sig_len} followed by the signature.
// Verification: copy the signature out, zero it in place (in a copy),
// verify RSA PKCS#1 v1.5 / SHA-256 over the whole file against the public
// keys (or certificates) in `keyring-dir`.
#pragma once

#include <livepatch/verifier.h>

#include <cstdint>
#include <string>
#include <string_view>

namespace livepatch::plugins::xen {

enum class Layout { Final, Draft };

struct SignatureNote {
    Layout layout = Layout::Final;
    std::uint16_t version = 0;
    std::uint8_t algorithm = 0, hash = 0;
    std::size_t signatureOffset = 0;  // file offset of the signature bytes
    std::size_t signatureSize = 0;
};

// Find and validate the single signature note; SignatureInvalid / Unsigned
// with a precise reason. Checks ELF64 LE structure and every bound.
Result<SignatureNote> findSignatureNote(std::string_view elf);

class ElfNoteVerifier : public Verifier {
public:
    PluginInfo info() const noexcept override;
    Status configure(const PluginContext& ctx) noexcept override;
    Result<VerifyReport> verify(const ModuleImage& image) noexcept override;

private:
    std::string keyringDir_;
    bool enforceOwnership_ = true;
};

}  // namespace livepatch::plugins::xen
