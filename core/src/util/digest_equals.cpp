// Kept apart from sha256.cpp (OpenSSL) so that code comparing small digests,
// like the state file, does not pull libcrypto into the front-end binary.
#include <cctype>

#include "util/sha256.h"

namespace livepatch {

bool digestEquals(std::string_view a, std::string_view b) noexcept {
    if (a.size() != b.size()) return false;
    // Constant time in the contents: every byte is looked at, no early exit.
    unsigned char diff = 0;
    for (size_t i = 0; i < a.size(); ++i) {
        diff |= static_cast<unsigned char>(std::tolower(static_cast<unsigned char>(a[i])) ^
                                           std::tolower(static_cast<unsigned char>(b[i])));
    }
    return diff == 0;
}

}  // namespace livepatch
