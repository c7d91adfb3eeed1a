#include <cstddef>
#include <cstdint>

#include "elf_note.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    auto r = livepatch::plugins::xen::findSignatureNote(std::string_view(reinterpret_cast<const char*>(data), size));
    if (r && (r->signatureOffset > size || r->signatureSize > size - r->signatureOffset)) __builtin_trap();
    return 0;
}
