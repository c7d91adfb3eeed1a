#include <cstddef>
#include <cstdint>
#include <string>

#include "config/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    auto c = livepatch::Config::parse(std::string(reinterpret_cast<const char*>(data), size), "fuzz");
    if (c) {
        // Whatever parses must round-trip through save format.
        auto again = livepatch::Config::parse(c->toYaml(), "fuzz-roundtrip");
        if (!again) __builtin_trap();
    }
    return 0;
}
