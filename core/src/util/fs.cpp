#include "util/fs.h"

#include "livepatch/trusted_files.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>

namespace livepatch::fs {
namespace {

Error sysError(const std::string& what, const std::string& path, int err) {
    ErrorCode code = ErrorCode::Io;
    if (err == EACCES || err == EPERM || err == ELOOP) code = ErrorCode::Permission;
    if (err == ENOENT) code = ErrorCode::NotFound;
    std::string reason = err == ELOOP ? "is a symlink (refused)" : std::strerror(err);
    return Error(code, what + " " + path + ": " + reason);
}

std::string dirName(const std::string& path) {
    auto pos = path.find_last_of('/');
    if (pos == std::string::npos) return ".";
    if (pos == 0) return "/";
    return path.substr(0, pos);
}

std::string baseName(const std::string& path) {
    auto pos = path.find_last_of('/');
    return pos == std::string::npos ? path : path.substr(pos + 1);
}

using Fd = UniqueFd;

std::string randomSuffix() {
    static thread_local std::mt19937_64 rng{std::random_device{}()};
    static const char* hex = "0123456789abcdef";
    std::string s;
    auto v = rng();
    for (int i = 0; i < 12; ++i) {
        s += hex[v & 15];
        v >>= 4;
    }
    return s;
}

}  // namespace

std::string join(const std::string& a, const std::string& b) {
    if (a.empty()) return b;
    if (b.empty()) return a;
    std::string l = a;
    while (l.size() > 1 && l.back() == '/') l.pop_back();
    std::string r = b;
    while (!r.empty() && r.front() == '/') r.erase(r.begin());
    return l == "/" ? "/" + r : l + "/" + r;
}

bool exists(const std::string& path) noexcept {
    struct stat st;
    return ::lstat(path.c_str(), &st) == 0;
}

Status writeFileAtomic(const std::string& path, std::string_view data, mode_t mode) {
    struct stat st;
    if (::lstat(path.c_str(), &st) == 0 && S_ISLNK(st.st_mode))
        return Error(ErrorCode::Permission, "refusing to write " + path + ": it is a symlink");
    const std::string dir = dirName(path);
    Fd dirFd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (dirFd.get() < 0) return sysError("cannot open directory", dir, errno);

    const std::string tmpName = "." + baseName(path) + ".tmp-" + randomSuffix();
    Fd fd(::openat(dirFd.get(), tmpName.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode));
    if (fd.get() < 0) return sysError("cannot create temporary file in", dir, errno);
    auto fail = [&](const std::string& what, int err) {
        ::unlinkat(dirFd.get(), tmpName.c_str(), 0);
        return sysError(what, path, err);
    };
    if (::fchmod(fd.get(), mode) != 0) return fail("cannot set mode of", errno);
    const char* p = data.data();
    size_t left = data.size();
    while (left > 0) {
        ssize_t n = ::write(fd.get(), p, left);
        if (n < 0) {
            if (errno == EINTR) continue;
            return fail("cannot write", errno);
        }
        p += n;
        left -= static_cast<size_t>(n);
    }
    if (::fsync(fd.get()) != 0) return fail("cannot fsync", errno);
    if (::close(fd.release()) != 0) return fail("cannot close", errno);
    if (::renameat(dirFd.get(), tmpName.c_str(), dirFd.get(), baseName(path).c_str()) != 0)
        return fail("cannot rename into", errno);
    if (::fsync(dirFd.get()) != 0) return sysError("cannot fsync directory", dir, errno);
    return {};
}

Result<std::string> readFile(const std::string& path, std::uint64_t maxBytes) {
    Fd fd(::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK));
    if (fd.get() < 0) return sysError("cannot read", path, errno);
    struct stat st;
    if (::fstat(fd.get(), &st) != 0) return sysError("cannot stat", path, errno);
    if (!S_ISREG(st.st_mode)) return Error(ErrorCode::Io, "cannot read " + path + ": not a regular file");
    // Read straight into the string, sized from fstat when it knows (not
    // for /proc files). A 64 KiB stack buffer here cost every process 16
    // page faults (stack-clash protection probes each page of the frame),
    // a tenth of `status`'s whole run on a VM where a fault costs 13 us.
    const std::uint64_t limit = maxBytes < UINT64_MAX ? maxBytes + 1 : maxBytes;  // one more tells "too large"
    size_t chunk = static_cast<size_t>(std::min<std::uint64_t>(st.st_size > 0 ? st.st_size + 1 : 4096, limit));
    std::string out;
    for (;;) {
        const size_t had = out.size();
        out.resize(had + chunk);
        ssize_t n = ::read(fd.get(), out.data() + had, chunk);
        out.resize(had + (n > 0 ? static_cast<size_t>(n) : 0));
        if (n < 0) {
            if (errno == EINTR) continue;
            return sysError("cannot read", path, errno);
        }
        if (n == 0) break;
        if (out.size() > maxBytes)
            return Error(ErrorCode::TooLarge, path + " is larger than " + std::to_string(maxBytes) + " bytes");
        chunk = static_cast<size_t>(std::min<std::uint64_t>({std::max<size_t>(chunk, 4096) * 2, 1u << 20, limit}));
    }
    return out;
}

Status ensurePrivateDir(const std::string& path, mode_t mode) {
    if (path.empty() || path[0] != '/') return Error(ErrorCode::InvalidArgument, "directory must be absolute: " + path);
    std::string cur;
    size_t pos = 1;
    while (pos <= path.size()) {
        size_t next = path.find('/', pos);
        if (next == std::string::npos) next = path.size();
        std::string comp = path.substr(pos, next - pos);
        pos = next + 1;
        if (comp.empty() || comp == ".") continue;
        if (comp == "..") return Error(ErrorCode::InvalidArgument, "directory must not contain '..': " + path);
        cur += "/" + comp;
        const bool last = next >= path.size() || path.find_first_not_of('/', next) == std::string::npos;
        struct stat st;
        if (::lstat(cur.c_str(), &st) == 0) {
            if (S_ISLNK(st.st_mode)) {
                // Symlinks high up the tree (e.g. /var/run -> /run) are the system's;
                // within the directories we create/own they are refused.
                if (last) return Error(ErrorCode::Permission, "refusing directory " + cur + ": it is a symlink");
                continue;
            }
            if (!S_ISDIR(st.st_mode)) return Error(ErrorCode::Io, cur + " exists and is not a directory");
            if (last && (st.st_mode & 07777 & ~mode) != 0 && st.st_uid == ::geteuid()) {
                if (::chmod(cur.c_str(), mode) != 0) return sysError("cannot tighten mode of", cur, errno);
            }
            continue;
        }
        if (errno != ENOENT) return sysError("cannot stat", cur, errno);
        if (::mkdir(cur.c_str(), mode) != 0 && errno != EEXIST) return sysError("cannot create directory", cur, errno);
        if (::lstat(cur.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
            return Error(ErrorCode::Permission, "refusing directory " + cur + ": replaced while creating it");
        if (::chmod(cur.c_str(), mode) != 0) return sysError("cannot set mode of", cur, errno);
    }
    return {};
}

Status removeFile(const std::string& path) {
    struct stat st;
    if (::lstat(path.c_str(), &st) != 0)
        return errno == ENOENT ? Status{} : Status(sysError("cannot stat", path, errno));
    if (S_ISDIR(st.st_mode)) return Error(ErrorCode::Io, "refusing to unlink directory " + path);
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) return sysError("cannot remove", path, errno);
    return {};
}

namespace {
Status removeTreeAt(int parentFd, const std::string& name, const std::string& display) {
    struct stat st;
    if (::fstatat(parentFd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0)
        return errno == ENOENT ? Status{} : Status(sysError("cannot stat", display, errno));
    if (!S_ISDIR(st.st_mode)) {
        if (::unlinkat(parentFd, name.c_str(), 0) != 0 && errno != ENOENT)
            return sysError("cannot remove", display, errno);
        return {};
    }
    int fd = ::openat(parentFd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) return sysError("cannot open", display, errno);
    DIR* d = ::fdopendir(fd);
    if (!d) {
        ::close(fd);
        return sysError("cannot list", display, errno);
    }
    std::vector<std::string> names;
    while (auto* e = ::readdir(d)) {
        std::string n = e->d_name;
        if (n != "." && n != "..") names.push_back(n);
    }
    Status result;
    for (const auto& n : names) {
        auto s = removeTreeAt(::dirfd(d), n, display + "/" + n);
        if (!s && result) result = s;
    }
    ::closedir(d);
    if (!result) return result;
    if (::unlinkat(parentFd, name.c_str(), AT_REMOVEDIR) != 0 && errno != ENOENT)
        return sysError("cannot remove", display, errno);
    return {};
}
}  // namespace

Status removeTree(const std::string& path) {
    const std::string dir = dirName(path);
    Fd dirFd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (dirFd.get() < 0) return errno == ENOENT ? Status{} : Status(sysError("cannot open", dir, errno));
    return removeTreeAt(dirFd.get(), baseName(path), path);
}

Result<std::vector<std::string>> listDir(const std::string& path) {
    DIR* d = ::opendir(path.c_str());
    if (!d) return sysError("cannot list", path, errno);
    std::vector<std::string> names;
    while (auto* e = ::readdir(d)) {
        std::string n = e->d_name;
        if (n != "." && n != "..") names.push_back(n);
    }
    ::closedir(d);
    std::sort(names.begin(), names.end());
    return names;
}

FileLock::~FileLock() {
    if (fd_ >= 0) ::close(fd_);
}
FileLock::FileLock(FileLock&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
FileLock& FileLock::operator=(FileLock&& o) noexcept {
    if (this != &o) {
        if (fd_ >= 0) ::close(fd_);
        fd_ = o.fd_;
        o.fd_ = -1;
    }
    return *this;
}

Result<FileLock> FileLock::acquire(const std::string& path, bool wait) {
    int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) return sysError("cannot open lock file", path, errno);
    while (::flock(fd, LOCK_EX | (wait ? 0 : LOCK_NB)) != 0) {
        if (errno == EINTR) continue;
        int err = errno;
        ::close(fd);
        if (err == EWOULDBLOCK)
            return Error(ErrorCode::Busy, "another livepatch-agent operation is in progress (" + path + ")");
        return sysError("cannot lock", path, err);
    }
    FileLock lock;
    lock.fd_ = fd;
    return lock;
}

Status checkRootOnly(const std::string& path, const std::string& what, ErrorCode code) {
    struct stat st;
    if (::lstat(path.c_str(), &st) != 0) return Error(code, "cannot stat " + path + ": " + std::strerror(errno));
    return checkRootOnlyStat(st, what, code);
}

UniqueFd::~UniqueFd() {
    if (fd_ >= 0) ::close(fd_);
}

UniqueFd& UniqueFd::operator=(UniqueFd&& other) noexcept {
    if (this != &other) {
        if (fd_ >= 0) ::close(fd_);
        fd_ = other.release();
    }
    return *this;
}

std::string procFdPath(int fd) { return "/proc/self/fd/" + std::to_string(fd); }

Result<UniqueFd> openRootOnly(const std::string& path, const std::string& what, ErrorCode code) {
    auto fd = livepatch::openRootOnly(path, what, code, TrustedKind::File);
    if (!fd) return fd.error();
    return UniqueFd(fd->release());
}

}  // namespace livepatch::fs
