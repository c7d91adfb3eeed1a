#include "session_store.h"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <ctime>
#include <vector>

#include <livepatch/trusted_files.h>

namespace livepatch::plugins::https {

namespace {

std::string sha256(const std::string& data) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    EVP_Digest(data.data(), data.size(), md, &n, EVP_sha256(), nullptr);
    return std::string(reinterpret_cast<char*>(md), n);
}

// Poco::Net::Session's constructor is for Poco's sockets only; this is the
// one way to hand it a session read back from disk (it takes ownership).
struct StoredSession : Poco::Net::Session {
    explicit StoredSession(SSL_SESSION* s) : Poco::Net::Session(s) {}
};

// Ours alone: owned by this user, no group or other access.
bool private_(const struct stat& st) { return st.st_uid == ::geteuid() && (st.st_mode & 077) == 0; }

bool writeAll(int fd, const std::string& data) {
    std::size_t done = 0;
    while (done < data.size()) {
        const ssize_t n = ::write(fd, data.data() + done, data.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        done += static_cast<std::size_t>(n);
    }
    return true;
}

}  // namespace

SessionStore::SessionStore(std::string dir, const std::string& trust) : dir_(std::move(dir)), trust_(sha256(trust)) {}

// Hashed: a host name never becomes a path, whatever it holds.
std::string SessionStore::fileName(const std::string& host, unsigned port) const {
    static const char* hex = "0123456789abcdef";
    const std::string h = sha256(host + ":" + std::to_string(port));
    std::string name = "session-";
    for (std::size_t i = 0; i < 16; ++i) {
        name += hex[static_cast<unsigned char>(h[i]) >> 4];
        name += hex[static_cast<unsigned char>(h[i]) & 15];
    }
    return name;
}

Poco::Net::Session::Ptr SessionStore::load(const std::string& host, unsigned port) const {
    if (dir_.empty()) return nullptr;
    TrustedFd dir(::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    struct stat st {};
    if (dir.get() < 0 || ::fstat(dir.get(), &st) != 0 || !private_(st)) return nullptr;
    TrustedFd fd(::openat(dir.get(), fileName(host, port).c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
    if (fd.get() < 0 || ::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode) || !private_(st)) return nullptr;
    if (st.st_size <= static_cast<off_t>(trust_.size()) || st.st_size > static_cast<off_t>(kMaxFileBytes))
        return nullptr;
    std::string data(static_cast<std::size_t>(st.st_size), '\0');
    std::size_t got = 0;
    while (got < data.size()) {
        const ssize_t n = ::read(fd.get(), &data[got], data.size() - got);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return nullptr;
        got += static_cast<std::size_t>(n);
    }
    // Verified under other trust settings: not offered.
    if (CRYPTO_memcmp(data.data(), trust_.data(), trust_.size()) != 0) return nullptr;
    const auto* der = reinterpret_cast<const unsigned char*>(data.data() + trust_.size());
    SSL_SESSION* s = d2i_SSL_SESSION(nullptr, &der, static_cast<long>(data.size() - trust_.size()));
    if (!s) return nullptr;
    const long now = static_cast<long>(std::time(nullptr));
    const long born = static_cast<long>(SSL_SESSION_get_time(s));
    const long lifetime = std::min<long>(static_cast<long>(SSL_SESSION_get_timeout(s)),
                                         std::chrono::duration_cast<std::chrono::seconds>(kMaxAge).count());
    if (!SSL_SESSION_is_resumable(s) || now < born || now - born >= lifetime) {
        SSL_SESSION_free(s);
        return nullptr;
    }
    return new StoredSession(s);
}

void SessionStore::save(const std::string& host, unsigned port, const Poco::Net::Session::Ptr& session) const {
    if (dir_.empty() || !session || !session->sslSession() || !SSL_SESSION_is_resumable(session->sslSession())) return;
    const int len = i2d_SSL_SESSION(session->sslSession(), nullptr);
    if (len <= 0 || trust_.size() + static_cast<std::size_t>(len) > kMaxFileBytes) return;
    std::string data = trust_;
    data.resize(trust_.size() + static_cast<std::size_t>(len));
    auto* out = reinterpret_cast<unsigned char*>(&data[trust_.size()]);
    if (i2d_SSL_SESSION(session->sslSession(), &out) != len) return;

    if (::mkdir(dir_.c_str(), 0700) != 0 && errno != EEXIST) return;
    TrustedFd dir(::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    struct stat st {};
    if (dir.get() < 0 || ::fstat(dir.get(), &st) != 0 || !private_(st)) return;
    // Temp, fsync, rename, fsync the directory: a crash leaves the old
    // session or the new one, never a torn file.
    const std::string name = fileName(host, port), tmp = name + ".tmp";
    ::unlinkat(dir.get(), tmp.c_str(), 0);
    bool ok = false;
    {
        TrustedFd fd(::openat(dir.get(), tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
        ok = fd.get() >= 0 && writeAll(fd.get(), data) && ::fsync(fd.get()) == 0;
    }
    if (!ok || ::renameat(dir.get(), tmp.c_str(), dir.get(), name.c_str()) != 0) {
        ::unlinkat(dir.get(), tmp.c_str(), 0);
        return;
    }
    ::fsync(dir.get());
}

}  // namespace livepatch::plugins::https
