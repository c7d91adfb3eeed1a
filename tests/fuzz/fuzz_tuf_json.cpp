#include <cstddef>
#include <cstdint>
#include <string>

#include "tuf/json.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace livepatch::tuf;
    auto v = parseJson(std::string(reinterpret_cast<const char*>(data), size));
    if (v) {
        // What parses must survive the written form unchanged, and its
        // canonical form (what signatures cover) must not change with it.
        auto again = parseJson(prettyJson(*v));
        if (!again || !(*again == *v) || canonicalJson(*again) != canonicalJson(*v)) __builtin_trap();
    }
    return 0;
}
