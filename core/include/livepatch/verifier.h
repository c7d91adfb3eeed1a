// livepatch-agent plugin SDK: verification role.
//
// A verifier decides whether a kernel module image is authentic. The core
// reads the module once into memory, passes the same bytes to every
// configured verifier, and hands exactly those bytes to the loader, so what
// is verified is what is loaded.
#pragma once

#include <string>
#include <string_view>

#include "livepatch/plugin.h"

namespace livepatch {

struct ModuleImage {
    std::string name;        // module name (livepatch sysfs name)
    std::string path;        // where the bytes came from (root-only dir)
    std::string_view bytes;  // the whole .ko, signature included
};

struct VerifyReport {
    std::string verifier;   // plugin name
    std::string signer;     // subject/issuer of the trusted signer
    std::string algorithm;  // "rsa-sha512"
    std::string detail;     // one line, safe to print
};

class Verifier : public Plugin {
public:
    // Success only if the image carries a valid signature from a trusted
    // key under the configured policy. Distinct codes for unsigned,
    // truncated/malformed (SignatureInvalid), untrusted signer, bad hash.
    virtual Result<VerifyReport> verify(const ModuleImage& image) noexcept = 0;
};

}  // namespace livepatch
