#include <cstddef>
#include <cstdint>

#include "package/patch_package.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    (void)livepatch::parsePatchMetadata(std::string_view(reinterpret_cast<const char*>(data), size));
    return 0;
}
