// Unpack arbitrary bytes as a patch archive with small limits. Nothing may
// escape the destination: the destination's parent directory must hold only
// the destination afterwards (a `..`, symlink or hard link target lands
// there first), no absolute-path seed target may appear, and inside the
// destination there are only plain regular files (one link, no set-id bits,
// 0600) and directories (0700).
#include <sys/stat.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "package/patch_package.h"

namespace {

namespace fsys = std::filesystem;

// A structural finding is a crash, so libFuzzer keeps the input.
void require(bool ok) {
    if (!ok) __builtin_trap();
}

bool onlyPlainEntries(const fsys::path& dest) {
    for (auto it = fsys::recursive_directory_iterator(dest); it != fsys::recursive_directory_iterator(); ++it) {
        struct stat st;
        if (::lstat(it->path().c_str(), &st) != 0) return false;
        if (S_ISDIR(st.st_mode)) {
            if ((st.st_mode & 07777) != 0700) return false;
        } else if (!S_ISREG(st.st_mode) || st.st_nlink != 1 || (st.st_mode & 07777) != 0600) {
            return false;
        }
    }
    return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    // <tmp>/lp-fuzz-unpack-PID/            parent: must end up holding only d/
    // <tmp>/lp-fuzz-unpack-PID/d/          the destination
    // <tmp>/lp-fuzz-unpack-PID.tar         the archive, outside the parent
    static const fsys::path parent = fsys::temp_directory_path() / ("lp-fuzz-unpack-" + std::to_string(::getpid()));
    static const fsys::path dest = parent / "d";
    static const fsys::path archive = parent.string() + ".tar";
    static const int cleanupAtExit = std::atexit([] {
        fsys::remove_all(parent);
        fsys::remove(archive);
    });
    (void)cleanupAtExit;
    fsys::remove_all(parent);
    fsys::create_directories(dest);
    std::ofstream(archive, std::ios::binary | std::ios::trunc)
        .write(reinterpret_cast<const char*>(data), static_cast<long>(size));
    livepatch::UnpackLimits limits;
    limits.maxEntries = 16;
    limits.maxTotalBytes = 1u << 20;
    (void)livepatch::safeUnpack(archive.string(), dest.string(), limits);

    std::size_t inParent = 0;
    for (const auto& e : fsys::directory_iterator(parent)) {
        (void)e;
        ++inParent;
    }
    require(inParent == 1);                                                // only d/: nothing went up with .. or a link
    require(!fsys::exists(fsys::symlink_status("/tmp/lp-fuzz-escaped")));  // the absolute-path seeds' target
    require(onlyPlainEntries(dest));
    return 0;
}
