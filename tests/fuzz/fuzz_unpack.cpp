// Unpack arbitrary bytes as a patch archive into a scratch dir with small
// limits; nothing may escape the directory.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>

#include "package/patch_package.h"
#include "util/fs.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static const std::string base = "/tmp/lp-fuzz-unpack-" + std::to_string(::getpid());
    const std::string archive = base + ".tar", dest = base + ".d";
    std::filesystem::remove_all(dest);
    std::filesystem::create_directories(dest);
    std::ofstream(archive, std::ios::binary | std::ios::trunc).write(reinterpret_cast<const char*>(data), static_cast<long>(size));
    livepatch::UnpackLimits limits;
    limits.maxEntries = 16;
    limits.maxTotalBytes = 1u << 20;
    (void)livepatch::safeUnpack(archive, dest, limits);
    for (auto& e : std::filesystem::recursive_directory_iterator(dest))
        if (e.is_symlink() || (!e.is_regular_file() && !e.is_directory())) __builtin_trap();
    return 0;
}
