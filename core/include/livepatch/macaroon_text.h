// livepatch-agent plugin SDK: what may be handed to libmacaroons.
//
// Debian's libmacaroons 0.3.0 leaks its decoding buffer in
// macaroon_deserialize() whenever the decoded bytes begin with '{' (the JSON
// form, which Debian's build does not include). Any base64 text starting
// with 'e' and a character of index 48-63 decodes that way: 1 random auth
// token UUID in 26 does, and a server that deserializes what clients send
// would lose memory on every such request. Text that passes this check
// cannot reach that path; anything else is not a macaroon we accept.
// Header-only; used by auth-resource-token and the reference server.
#pragma once

#include <cstddef>
#include <string_view>

namespace livepatch {

// Every serialized macaroon carries a 32-byte signature: at least 43 base64
// characters.
inline constexpr std::size_t kShortestMacaroonText = 43;

// The base64 index of c (standard or URL-safe alphabet), -1 if none.
inline int base64Index(char c) noexcept {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+' || c == '-') return 62;
    if (c == '/' || c == '_') return 63;
    return -1;
}

// Base64 text (no whitespace: libmacaroons would skip it), long enough for a
// signature, at most maxLength, whose first decoded byte is not '{'.
inline bool deserializableMacaroonText(std::string_view text, std::size_t maxLength) noexcept {
    if (text.size() < kShortestMacaroonText || text.size() > maxLength) return false;
    for (char c : text)
        if (c != '=' && base64Index(c) < 0) return false;
    const int first = (base64Index(text[0]) << 2) | (base64Index(text[1]) >> 4);
    return first != '{';
}

}  // namespace livepatch
