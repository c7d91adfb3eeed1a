#pragma once

#include <string_view>

namespace livepatch {

// Constant-time comparison of two hex digests (case-insensitive).
bool digestEquals(std::string_view a, std::string_view b) noexcept;

}  // namespace livepatch
