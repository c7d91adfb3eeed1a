// Patch tarballs: safe unpacking (libarchive) and the livepatch.json
// metadata inside them.
//
// Tarball layout (tar, tar.gz, tar.xz or tar.bz2):
//   livepatch.json   metadata (see PatchMetadata, schemas/api/patch-metadata.schema.json)
//   <module>.ko      the signed kernel module named by metadata "module"
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "livepatch/error.h"

namespace livepatch {

struct UnpackLimits {
    std::uint64_t maxEntries = 64;
    std::uint64_t maxTotalBytes = 256u << 20;  // sum of extracted sizes
};

// Extract archivePath into destDir (an existing, empty 0700 directory).
// Only regular files and directories are created (files 0600, dirs 0700).
// Refused with UnsafeArchive (naming the entry): absolute paths, "..",
// symlinks, hardlinks, device/fifo/socket entries, duplicate entries;
// TooLarge for more than maxEntries or maxTotalBytes (counted as data is
// written, not trusted from headers). On error destDir is emptied again.
Status safeUnpack(const std::string& archivePath, const std::string& destDir, const UnpackLimits& limits);

struct PatchFix {
    std::string name;  // lowercase "cve-2023-6270"
    std::string description;
    std::string bug;
    bool patched = true;
};

struct PatchMetadata {
    int format = 1;
    std::string name;          // livepatch name, [a-z0-9_]{1,55}
    std::string version;       // dotted numeric "3" / "95.1"
    std::string module;        // file name of the .ko inside the archive
    std::string kernel;        // version signature it targets
    std::string architecture;  // "x86_64"
    bool replace = true;
    std::vector<PatchFix> fixes;
};

// A patch version: 1 to 4 dotted numbers ("3", "95.1").
bool isPatchVersion(const std::string& v);

// Strict JSON parse + validation; Protocol error naming the bad field.
Result<PatchMetadata> parsePatchMetadata(std::string_view json);

struct PatchPackage {
    PatchMetadata metadata;
    std::string modulePath;  // inside workDir
    std::string workDir;
};

// safeUnpack + read livepatch.json + check the module file is present,
// regular and the only .ko. workDir is created 0700 (must not exist).
Result<PatchPackage> openPatchPackage(const std::string& archivePath, const std::string& workDir,
                                      const UnpackLimits& limits);

// Compare dotted numeric versions ("10" > "9", "95.2" > "95.1").
// Returns <0, 0, >0. Non-numeric parts compare as strings.
int compareVersions(const std::string& a, const std::string& b);

}  // namespace livepatch
