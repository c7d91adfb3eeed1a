#include "util/digest.h"

#include <cctype>
#include <cstddef>

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
