// SHA-256 with OpenSSL EVP (hardware-accelerated where available).
#pragma once

#include <string>
#include <string_view>

#include "livepatch/error.h"

namespace livepatch {

// Lowercase hex digest of data.
std::string sha256Hex(std::string_view data);

// Stream a file (O_NOFOLLOW) through SHA-256; lowercase hex.
Result<std::string> sha256FileHex(const std::string& path);

// Constant-time comparison of two hex digests (case-insensitive).
bool digestEquals(std::string_view a, std::string_view b) noexcept;

}  // namespace livepatch
