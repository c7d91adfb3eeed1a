// livepatch-agent plugin SDK: the file a transport writes a download into.
//
// Every transport writes where the engine tells it (a root-only cache
// folder) and must do it the same safe way, so it is done here once:
//   - opened O_NOFOLLOW (a planted symlink is refused, never written
//     through) and O_NONBLOCK (a planted FIFO fails instead of blocking the
//     agent; no effect on a regular file), and refused unless it is a
//     regular file; mode 0600 whatever it had;
//   - every write complete: retried on EINTR and after a short write; a
//     write that makes no progress is ENOSPC (the file system is full);
//   - finish() fsyncs and closes and says if either failed, so a download
//     reported complete is on disk.
#pragma once

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string>
#include <utility>

#include "livepatch/error.h"

namespace livepatch {

class DownloadFile {
public:
    // Resume keeps what is already there (size() is where to continue);
    // Fresh starts empty.
    enum class Start { Resume, Fresh };

    static Result<DownloadFile> open(const std::string& path, Start start) {
        const int flags = O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK;
        DownloadFile f(path, ::open(path.c_str(), flags, 0600));
        if (f.fd_ < 0) return f.failure("cannot write");
        struct stat st;
        if (::fstat(f.fd_, &st) != 0 || !S_ISREG(st.st_mode))
            return Error(ErrorCode::Io, "cannot write " + path + ": not a regular file");
        if (::fchmod(f.fd_, 0600) != 0) return f.failure("cannot make private");
        f.size_ = static_cast<std::uint64_t>(st.st_size);
        if (start == Start::Fresh) LP_TRY(f.restart());
        else if (::lseek(f.fd_, 0, SEEK_END) < 0) return f.failure("cannot write");
        return f;
    }

    DownloadFile(DownloadFile&& other) noexcept
        : path_(std::move(other.path_)), fd_(std::exchange(other.fd_, -1)), size_(other.size_) {}
    DownloadFile& operator=(DownloadFile&&) = delete;
    DownloadFile(const DownloadFile&) = delete;
    DownloadFile& operator=(const DownloadFile&) = delete;
    ~DownloadFile() {
        if (fd_ >= 0) ::close(fd_);
    }

    // Bytes in the file (what a resume continues after).
    std::uint64_t size() const noexcept { return size_; }

    // Empty again, writing from the start.
    Status restart() {
        if (::ftruncate(fd_, 0) != 0 || ::lseek(fd_, 0, SEEK_SET) < 0) return failure("cannot truncate");
        size_ = 0;
        return {};
    }

    Status write(const char* data, std::size_t n) {
        while (n > 0) {
            const ssize_t w = ::write(fd_, data, n);
            if (w < 0 && errno == EINTR) continue;
            if (w < 0) return failure("cannot write");
            if (w == 0) return Error(ErrorCode::Io, "cannot write " + path_ + ": " + std::strerror(ENOSPC));
            data += w;
            n -= static_cast<std::size_t>(w);
            size_ += static_cast<std::uint64_t>(w);
        }
        return {};
    }

    // fsync + close: what was written is on disk, or the error says why not.
    Status finish() {
        if (fd_ < 0) return {};
        const bool synced = ::fsync(fd_) == 0;
        const int syncErr = errno;
        const bool closed = ::close(std::exchange(fd_, -1)) == 0;
        if (!synced) return Error(ErrorCode::Io, "cannot sync " + path_ + ": " + std::strerror(syncErr));
        if (!closed) return failure("cannot write");
        return {};
    }

private:
    DownloadFile(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}
    Error failure(const char* what) const {
        return Error(ErrorCode::Io, std::string(what) + " " + path_ + ": " + std::strerror(errno));
    }

    std::string path_;
    int fd_ = -1;
    std::uint64_t size_ = 0;
};

}  // namespace livepatch
