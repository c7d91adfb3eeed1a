#include <cstddef>
#include <cstdint>

#include "module_signature.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    auto r = livepatch::plugins::parseAppendedSignature(std::string_view(reinterpret_cast<const char*>(data), size));
    if (r) {
        // Invariants: body + signature + 12-byte info + 28-byte magic == input.
        if (r->body.size() + r->pkcs7.size() + 40 != size) __builtin_trap();
    }
    return 0;
}
