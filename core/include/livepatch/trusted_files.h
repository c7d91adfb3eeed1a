// livepatch-agent plugin SDK: the one rule for what the agent trusts on disk.
//
// What the agent loads, runs or trusts as root (plugins, the engine binary,
// keyrings) must not be replaceable by anyone else: it is owned by root and
// not group/world-writable, and so is every directory above it up to "/" (a
// writable ancestor would let someone rename the directory below it away and
// put their own in its place), except a root-owned sticky directory such as
// /tmp, where only root may rename root's entries. It is opened once, walking
// down from "/" by descriptor with O_NOFOLLOW, so what was checked is what is
// used. The core (fs::openRootOnly) and the plugins (readTrustedFiles) use
// this same code.
#pragma once

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "livepatch/error.h"

namespace livepatch {

// "<what> is owned by uid N, not root" / "<what> is group/world-writable
// (mode 0775)", with `code`; ok if neither. alsoOwner: a second owner that
// may be trusted (a service's own user, e.g. livepatch-server's hook); 0 = root only.
inline Status checkRootOnlyStat(const struct stat& st, const std::string& what, ErrorCode code, uid_t alsoOwner = 0) {
    if (st.st_uid != 0 && st.st_uid != alsoOwner)
        return Error(code, what + " is owned by uid " + std::to_string(st.st_uid) + ", not root" +
                               (alsoOwner ? " or uid " + std::to_string(alsoOwner) : ""));
    if (st.st_mode & (S_IWGRP | S_IWOTH)) {
        char mode[8];
        std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
        return Error(code, what + " is group/world-writable (mode " + mode + ")");
    }
    return {};
}

// A descriptor closed on destruction.
class TrustedFd {
public:
    explicit TrustedFd(int fd = -1) noexcept : fd_(fd) {}
    ~TrustedFd() {
        if (fd_ >= 0) ::close(fd_);
    }
    TrustedFd(TrustedFd&& o) noexcept : fd_(o.release()) {}
    TrustedFd& operator=(TrustedFd&& o) noexcept {
        if (this != &o) {
            if (fd_ >= 0) ::close(fd_);
            fd_ = o.release();
        }
        return *this;
    }
    TrustedFd(const TrustedFd&) = delete;
    TrustedFd& operator=(const TrustedFd&) = delete;
    int get() const noexcept { return fd_; }
    int release() noexcept {
        int f = fd_;
        fd_ = -1;
        return f;
    }

private:
    int fd_;
};

enum class TrustedKind { File, Directory };

// Opens the absolute `given` under the rule above (a regular file, or a
// directory). Use the descriptor, never the path again. Errors name `what`
// and carry `code`. alsoOwner: as for checkRootOnlyStat, for the file and
// every directory above it.
inline Result<TrustedFd> openRootOnly(const std::string& given, const std::string& what, ErrorCode code,
                                      TrustedKind kind = TrustedKind::File, uid_t alsoOwner = 0) {
    if (given.empty() || given[0] != '/') return Error(code, what + " " + given + " is not an absolute path");
    // Directory symlinks on the way (merged /usr, a snap's revision link) are
    // resolved first; they can only be changed by whoever may write the
    // directory holding them, which the walk below checks. The last
    // component itself must not be a symlink.
    std::string path = given;
    while (path.size() > 1 && path.back() == '/') path.pop_back();
    const auto slash = path.find_last_of('/');
    if (slash > 0) {
        char buf[PATH_MAX];
        if (!::realpath(path.substr(0, slash).c_str(), buf))
            return Error(code, "cannot resolve the directory of " + what + " " + given + ": " + std::strerror(errno));
        path = std::string(buf) + path.substr(slash);
    }
    TrustedFd dir(::open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (dir.get() < 0) return Error(code, std::string("cannot open /: ") + std::strerror(errno));
    std::string walked;
    std::size_t pos = 1;
    for (;;) {
        struct stat st;
        if (::fstat(dir.get(), &st) != 0)
            return Error(code, "cannot stat " + (walked.empty() ? "/" : walked) + ": " + std::strerror(errno));
        const std::size_t next = path.find('/', pos);
        const std::string name = path.substr(pos, next == std::string::npos ? std::string::npos : next - pos);
        pos = next == std::string::npos ? path.size() : next + 1;
        if (name.empty() && kind == TrustedKind::Directory && pos >= path.size()) {  // "/" itself
            LP_TRY(checkRootOnlyStat(st, what, code, alsoOwner));
            return dir;
        }
        // A root-owned sticky directory (/tmp) is safe above us although
        // anyone may write it: only an entry's owner or root may rename or
        // remove an entry there, and the entry below is checked to be root's.
        const bool rootSticky = st.st_uid == 0 && (st.st_mode & S_ISVTX);
        if (!rootSticky)
            LP_TRY(checkRootOnlyStat(st, "directory " + (walked.empty() ? std::string("/") : walked) + " above " + what,
                                     code, alsoOwner));
        if (name.empty() || name == ".") {
            if (pos >= path.size()) return Error(code, what + " " + path + " names a directory");
            continue;
        }
        if (name == "..") return Error(code, what + " " + path + " contains \"..\"");
        walked += "/" + name;
        if (pos >= path.size()) {
            const int flags =
                O_RDONLY | O_NOFOLLOW | O_CLOEXEC | (kind == TrustedKind::Directory ? O_DIRECTORY : O_NONBLOCK);
            TrustedFd last(::openat(dir.get(), name.c_str(), flags));
            if (last.get() < 0) {
                if (errno == ELOOP) return Error(code, what + " " + path + " is a symlink");
                if (errno == ENOTDIR) return Error(code, what + " " + path + " is not a directory");
                return Error(code, "cannot open " + what + " " + path + ": " + std::strerror(errno));
            }
            if (::fstat(last.get(), &st) != 0) return Error(code, "cannot stat " + path + ": " + std::strerror(errno));
            if (kind == TrustedKind::File && !S_ISREG(st.st_mode))
                return Error(code, what + " " + path + " is not a regular file");
            LP_TRY(checkRootOnlyStat(st, what, code, alsoOwner));
            return last;
        }
        TrustedFd sub(::openat(dir.get(), name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
        if (sub.get() < 0) {
            if (errno == ELOOP || errno == ENOTDIR)
                return Error(code, "directory " + walked + " above " + what + " is a symlink or not a directory");
            return Error(code, "cannot open directory " + walked + ": " + std::strerror(errno));
        }
        dir = std::move(sub);
    }
}

struct TrustedFile {
    std::string path;
    std::string bytes;
};

// The regular files in keyring directory `dir` whose names end in one of
// `suffixes`, sorted by name, read through the descriptors that were checked.
// enforce (= geteuid() == 0): the directory and each file under the rule
// above (Permission otherwise); symlinks and other non-regular entries are
// skipped either way. Each file is read up to maxBytes (TooLarge beyond).
inline Result<std::vector<TrustedFile>> readTrustedFiles(const std::string& dir,
                                                         const std::vector<std::string>& suffixes, bool enforce,
                                                         std::size_t maxBytes = 1u << 20) {
    if (dir.empty()) return Error(ErrorCode::ConfigInvalid, "no keyring-dir configured");
    TrustedFd dirFd;
    if (enforce) {
        auto opened = openRootOnly(dir, "keyring directory", ErrorCode::Permission, TrustedKind::Directory);
        if (!opened) return opened.error();
        dirFd = std::move(*opened);
    } else {
        dirFd = TrustedFd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
        if (dirFd.get() < 0) return Error(ErrorCode::ConfigInvalid, "keyring-dir " + dir + " is not a directory");
    }
    DIR* d = ::fdopendir(::dup(dirFd.get()));
    if (!d) return Error(ErrorCode::Io, "cannot list keyring " + dir);
    std::vector<std::string> names;
    while (auto* e = ::readdir(d)) {
        const std::string name = e->d_name;
        for (const auto& s : suffixes)
            if (name.size() > s.size() && name.compare(name.size() - s.size(), s.size(), s) == 0) {
                names.push_back(name);
                break;
            }
    }
    ::closedir(d);
    std::sort(names.begin(), names.end());
    std::vector<TrustedFile> files;
    for (const auto& name : names) {
        TrustedFd f(::openat(dirFd.get(), name.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
        struct stat st;
        if (f.get() < 0 || ::fstat(f.get(), &st) != 0 || !S_ISREG(st.st_mode)) continue;  // symlinks and others skipped
        const std::string path = dir + "/" + name;
        if (enforce) LP_TRY(checkRootOnlyStat(st, "keyring file " + path, ErrorCode::Permission));
        if (static_cast<std::size_t>(st.st_size) > maxBytes)
            return Error(ErrorCode::TooLarge,
                         "keyring file " + path + " is larger than " + std::to_string(maxBytes) + " bytes");
        std::string bytes(static_cast<std::size_t>(st.st_size), '\0');
        std::size_t got = 0;
        while (got < bytes.size()) {
            const ssize_t n = ::read(f.get(), &bytes[got], bytes.size() - got);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) break;
            got += static_cast<std::size_t>(n);
        }
        bytes.resize(got);
        files.push_back({path, std::move(bytes)});
    }
    return files;
}

}  // namespace livepatch
