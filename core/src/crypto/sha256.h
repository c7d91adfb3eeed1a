// SHA-256 with OpenSSL EVP (hardware-accelerated where available), for
// downloads, modules and tokens. Its own component so that code which only
// compares digests (util/digest.h) does not link libcrypto.
#pragma once

#include <string>
#include <string_view>

#include "livepatch/error.h"
#include "util/digest.h"

namespace livepatch {

// Lowercase hex digest of data.
std::string sha256Hex(std::string_view data);

// Stream a file (O_NOFOLLOW) through SHA-256; lowercase hex.
Result<std::string> sha256FileHex(const std::string& path);

// The same for an open file, from offset 0 (pread: the descriptor's offset
// is left alone, so the caller can check a file and then use the same
// descriptor). `what` names it in errors.
Result<std::string> sha256FdHex(int fd, const std::string& what);

}  // namespace livepatch
