// Root-only file primitives. Every state file the agent keeps goes through
// these: atomic replace (temp + fsync + rename + dir fsync), 0600 files,
// 0700 directories, symlinks never followed.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "livepatch/error.h"

namespace livepatch::fs {

// Atomically replace `path` with `data`. The temp file is created in the
// same directory with O_CREAT|O_EXCL|O_NOFOLLOW and `mode`, written fully,
// fsync'ed, renamed over `path`, then the directory is fsync'ed. A crash at
// any point leaves either the old or the new content. Refuses if `path`
// itself is a symlink.
Status writeFileAtomic(const std::string& path, std::string_view data, mode_t mode = 0600);

// Read a regular file with O_NOFOLLOW; refuses symlinks, non-regular files
// and files over maxBytes (TooLarge). NotFound if absent.
Result<std::string> readFile(const std::string& path, std::uint64_t maxBytes = 64u << 20);

// What the agent runs or loads as root (plugins, the engine binary) must not
// be replaceable by anyone else: `path` itself (not followed if a symlink)
// owned by root and not group/world-writable. The error, with `code`, reads
// "<what> is owned by uid N, not root" or "<what> is group/world-writable
// (mode 0775)"; "cannot stat <path>" if it does not exist.
Status checkRootOnly(const std::string& path, const std::string& what, ErrorCode code);

// An owned file descriptor, closed on destruction.
class UniqueFd {
public:
    explicit UniqueFd(int fd = -1) noexcept : fd_(fd) {}
    ~UniqueFd();
    UniqueFd(UniqueFd&& other) noexcept : fd_(other.release()) {}
    UniqueFd& operator=(UniqueFd&& other) noexcept;
    UniqueFd(const UniqueFd&) = delete;
    UniqueFd& operator=(const UniqueFd&) = delete;
    int get() const noexcept { return fd_; }
    int release() noexcept {
        int f = fd_;
        fd_ = -1;
        return f;
    }

private:
    int fd_;
};

// The same rule for something the agent is about to load or run, closed
// against swaps: the SDK's livepatch::openRootOnly (trusted_files.h), the one
// implementation plugins use for keyrings too. `path` (absolute) is opened
// once, O_NOFOLLOW; it and every directory above it up to "/" must be owned
// by root and not group/world-writable (a root-owned sticky directory such
// as /tmp excepted). Use the returned descriptor (e.g. as /proc/self/fd/N),
// never the path again. Errors name `what` and carry `code`.
Result<UniqueFd> openRootOnly(const std::string& path, const std::string& what, ErrorCode code);

// The /proc path through which a descriptor from openRootOnly is loaded or
// executed, so that exactly the checked file is used.
std::string procFdPath(int fd);

// Create `path` and missing parents with `mode` (0700). Refuses if any
// existing component we create into is a symlink; tightens the mode of an
// existing final directory if it is looser than `mode`.
Status ensurePrivateDir(const std::string& path, mode_t mode = 0700);

// True if something (anything, even a dangling symlink) exists at path.
bool exists(const std::string& path) noexcept;

// Unlink a file; absent is fine. Refuses directories.
Status removeFile(const std::string& path);

// Remove a directory tree without following symlinks; absent is fine.
Status removeTree(const std::string& path);

// Names in a directory (no "." / ".."), sorted.
Result<std::vector<std::string>> listDir(const std::string& path);

// Join path components with exactly one '/'.
std::string join(const std::string& a, const std::string& b);

// Exclusive advisory lock on a file (flock), released on destruction.
class FileLock {
public:
    FileLock() = default;
    ~FileLock();
    FileLock(FileLock&& other) noexcept;
    FileLock& operator=(FileLock&& other) noexcept;
    FileLock(const FileLock&) = delete;
    FileLock& operator=(const FileLock&) = delete;

    // Busy if held by another process and `wait` is false.
    static Result<FileLock> acquire(const std::string& path, bool wait);
    bool held() const noexcept { return fd_ >= 0; }

private:
    int fd_ = -1;
};

}  // namespace livepatch::fs
