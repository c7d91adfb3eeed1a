#include "crypto/sha256.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>

namespace livepatch {
namespace {

std::string toHex(const unsigned char* d, unsigned n) {
    static const char* hex = "0123456789abcdef";
    std::string s;
    s.reserve(n * 2);
    for (unsigned i = 0; i < n; ++i) {
        s += hex[d[i] >> 4];
        s += hex[d[i] & 15];
    }
    return s;
}

using MdCtx = std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)>;

}  // namespace

std::string sha256Hex(std::string_view data) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr);
    return toHex(md, len);
}

Result<std::string> sha256FdHex(int fd, const std::string& what) {
    MdCtx ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
    EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr);
    std::unique_ptr<char[]> buf(new char[1 << 20]);
    for (off_t at = 0;;) {
        ssize_t n = ::pread(fd, buf.get(), 1 << 20, at);
        if (n < 0) {
            if (errno == EINTR) continue;
            return Error(ErrorCode::Io, "cannot read " + what + ": " + std::strerror(errno));
        }
        if (n == 0) break;
        EVP_DigestUpdate(ctx.get(), buf.get(), static_cast<size_t>(n));
        at += n;
    }
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_DigestFinal_ex(ctx.get(), md, &len);
    return toHex(md, len);
}

Result<std::string> sha256FileHex(const std::string& path) {
    int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) return Error(ErrorCode::Io, "cannot read " + path + ": " + std::strerror(errno));
    auto d = sha256FdHex(fd, path);
    ::close(fd);
    return d;
}

}  // namespace livepatch
