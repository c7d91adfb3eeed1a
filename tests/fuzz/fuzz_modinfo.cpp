#include <cstddef>
#include <cstdint>
#include <string_view>

#include "livepatch/modinfo.h"

// livepatch::parseModInfo reads module bytes the engine has only just
// verified and livepatch-pack reads any file it is given: any input must
// give fields or an error, never a crash or an out-of-bounds read.
extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string_view image(reinterpret_cast<const char*>(data), size);
    auto info = livepatch::parseModInfo(image);
    if (info) {
        std::size_t total = 0;
        for (const auto& f : info->fields) {
            if (f.first.empty() || f.first.find('=') != std::string::npos) __builtin_trap();
            total += f.first.size() + f.second.size() + 2;
        }
        if (total > size) __builtin_trap();  // every field comes from the input
        (void)info->unique("version");
    }
    return 0;
}
