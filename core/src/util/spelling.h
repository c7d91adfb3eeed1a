// One table per enum of the words that stand for its values in files, on the
// wire and on screen, and the two conversions over it. A value's word is
// spelled in exactly one place, so what is written can always be read back.
//
//   template <> struct Spellings<Colour> {
//       static constexpr std::pair<Colour, const char*> table[] = {{Colour::Red, "red"}, ...};
//   };
#pragma once

#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <utility>

namespace livepatch {

template <typename E>
struct Spellings;  // specialised beside each enum

template <typename E>
const char* spelling(E value) {
    for (const auto& [v, word] : Spellings<E>::table)
        if (v == value) return word;
    return "invalid";  // unreachable while every value is in the table
}

template <typename E>
std::optional<E> parseSpelling(std::string_view word) {
    for (const auto& [v, w] : Spellings<E>::table)
        if (word == w) return v;
    return std::nullopt;
}

// "a|b|c": for messages that list what is accepted.
template <typename E>
std::string spellingsJoined(const char* separator = "|") {
    std::string out;
    for (const auto& entry : Spellings<E>::table) out += (out.empty() ? "" : separator) + std::string(entry.second);
    return out;
}

// Streams a value as its word (test failure messages, logs).
template <typename E, typename = decltype(Spellings<E>::table)>
std::ostream& operator<<(std::ostream& out, E value) {
    return out << spelling(value);
}

}  // namespace livepatch
