// livepatch-agent plugin SDK: text from outside that is safe for a terminal.
//
// A server, a mirror or a proxy controls strings the agent prints to root's
// terminal (tier, fix names, error reasons, URLs). An ESC or OSC sequence in
// them could rewrite the screen, set the window title or worse, and a
// newline could forge a line of output. These are the one check and the one
// escaping every component uses; isSafeEntityTag is the one check of a
// validator that is sent back to a server in a header.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace livepatch {

namespace text_detail {
// Length of the well-formed UTF-8 sequence at s[i] (1-4), or 0 if it is not
// one (overlong forms, surrogates and code points above U+10FFFF refused).
inline std::size_t utf8Length(std::string_view s, std::size_t i, std::uint32_t& cp) {
    const auto b = [&](std::size_t k) { return static_cast<unsigned char>(s[i + k]); };
    const unsigned char c = b(0);
    std::size_t n;
    std::uint32_t min;
    if (c < 0x80) {
        cp = c;
        return 1;
    } else if ((c & 0xE0) == 0xC0) {
        n = 2, cp = c & 0x1F, min = 0x80;
    } else if ((c & 0xF0) == 0xE0) {
        n = 3, cp = c & 0x0F, min = 0x800;
    } else if ((c & 0xF8) == 0xF0) {
        n = 4, cp = c & 0x07, min = 0x10000;
    } else {
        return 0;
    }
    if (i + n > s.size()) return 0;
    for (std::size_t k = 1; k < n; ++k) {
        if ((b(k) & 0xC0) != 0x80) return 0;
        cp = (cp << 6) | (b(k) & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
    return n;
}

// C0 controls, DEL, C1 controls (U+0080-U+009F: 8-bit CSI/OSC on some
// terminals) and the bidi overrides/isolates that reorder what is shown.
inline bool isControl(std::uint32_t cp) {
    return cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp <= 0x9F) || (cp >= 0x202A && cp <= 0x202E) ||
           (cp >= 0x2066 && cp <= 0x2069);
}
}  // namespace text_detail

// True if s is well-formed UTF-8 of at most maxBytes bytes with no control
// character (see above): what the protocol accepts from a server.
inline bool isPrintableText(std::string_view s, std::size_t maxBytes) {
    if (s.size() > maxBytes) return false;
    for (std::size_t i = 0; i < s.size();) {
        std::uint32_t cp = 0;
        const std::size_t n = text_detail::utf8Length(s, i, cp);
        if (n == 0 || text_detail::isControl(cp)) return false;
        i += n;
    }
    return true;
}

// Like isPrintableText, for a multi-line document shown or edited as it is:
// line feeds and tabs are allowed too, and carriage returns only if
// allowCarriageReturn (one on its own moves a terminal's cursor back over
// what the line showed).
inline bool isPrintableLines(std::string_view s, std::size_t maxBytes, bool allowCarriageReturn) {
    if (s.size() > maxBytes) return false;
    for (std::size_t i = 0; i < s.size();) {
        if (s[i] == '\n' || s[i] == '\t' || (allowCarriageReturn && s[i] == '\r')) {
            ++i;
            continue;
        }
        std::uint32_t cp = 0;
        const std::size_t n = text_detail::utf8Length(s, i, cp);
        if (n == 0 || text_detail::isControl(cp)) return false;
        i += n;
    }
    return true;
}

// s as one line a terminal shows literally: control characters and bytes
// that are not UTF-8 become visible escapes (\n, \x1b, \u202e), and the
// result is cut at about maxBytes with "...". For every string that did not
// come from the agent itself, at the point it is printed.
inline std::string terminalSafe(std::string_view s, std::size_t maxBytes = 300) {
    static const char hex[] = "0123456789abcdef";
    std::string out;
    for (std::size_t i = 0; i < s.size();) {
        if (out.size() >= maxBytes) {
            out += "...";
            break;
        }
        std::uint32_t cp = 0;
        const std::size_t n = text_detail::utf8Length(s, i, cp);
        if (n == 0) {
            const auto c = static_cast<unsigned char>(s[i]);
            out += "\\x";
            out += hex[c >> 4];
            out += hex[c & 0xF];
            i += 1;
            continue;
        }
        if (cp == '\\') {
            out += "\\\\";
        } else if (cp == '\n') {
            out += "\\n";
        } else if (cp == '\r') {
            out += "\\r";
        } else if (cp == '\t') {
            out += "\\t";
        } else if (text_detail::isControl(cp)) {
            out += cp <= 0xFF ? "\\x" : "\\u";
            for (int shift = cp <= 0xFF ? 4 : 12; shift >= 0; shift -= 4) out += hex[(cp >> shift) & 0xF];
        } else {
            out.append(s.substr(i, n));
        }
        i += n;
    }
    return out;
}

// How much of an outside string (a server's reason, a TLS library's text) an
// error message quotes, through terminalSafe.
constexpr std::size_t kQuotedBytes = 200;

// A message of the agent's own (which quotes outside text only through
// terminalSafe) as one line for the state file, a log or the service
// manager: line breaks become spaces, and a longer one is cut to maxBytes
// with "..." (std::string::npos: never cut, for a line of a protocol). It
// does not escape: what it quotes is escaped already.
inline std::string oneLine(std::string_view s, std::size_t maxBytes = 300) {
    std::string out(s.size() > maxBytes ? s.substr(0, maxBytes >= 3 ? maxBytes - 3 : 0) : s);
    for (auto& c : out)
        if (c == '\n' || c == '\r') c = ' ';
    if (s.size() > maxBytes) out += "...";
    return out;
}

// An entity tag fit to store and send back in If-None-Match: "..." or
// W/"..." of printable ASCII without quotes inside, at most 128 bytes.
// A tag from the network that is not is dropped, never echoed in a header.
inline bool isSafeEntityTag(std::string_view tag) {
    const std::size_t open = tag.substr(0, 2) == "W/" ? 2 : 0;
    if (tag.size() > 128 || tag.size() < open + 2 || tag[open] != '"' || tag.back() != '"') return false;
    for (std::size_t i = open + 1; i + 1 < tag.size(); ++i) {
        const auto c = static_cast<unsigned char>(tag[i]);
        if (c <= 0x20 || c >= 0x7F || c == '"') return false;
    }
    return true;
}

}  // namespace livepatch
