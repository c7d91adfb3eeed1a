#include "tuf/json.h"

#include <cstdio>
#include <limits>

namespace livepatch::tuf {

const Json* Json::find(const std::string& key) const {
    if (kind_ != Kind::Object) return nullptr;
    auto it = obj_.find(key);
    return it == obj_.end() ? nullptr : &it->second;
}

bool Json::operator==(const Json& other) const {
    if (kind_ != other.kind_) return false;
    switch (kind_) {
    case Kind::Null: return true;
    case Kind::Bool:
    case Kind::Integer: return int_ == other.int_;
    case Kind::String: return str_ == other.str_;
    case Kind::Array: return arr_ == other.arr_;
    case Kind::Object: return obj_ == other.obj_;
    }
    return false;
}

namespace {

class Parser {
public:
    Parser(std::string_view text, const JsonLimits& limits) : s_(text), limits_(limits) {}

    Result<Json> parseDocument() {
        if (s_.size() > limits_.maxBytes)
            return Error(ErrorCode::TooLarge, "JSON document of " + std::to_string(s_.size()) +
                                                  " bytes is over the limit of " + std::to_string(limits_.maxBytes));
        Json out;
        if (!value(out, 0)) return error();
        skipSpace();
        if (pos_ != s_.size()) {
            fail("unexpected data after the JSON value");
            return error();
        }
        return out;
    }

private:
    Error error() const {
        return Error(ErrorCode::Protocol, "invalid JSON at byte " + std::to_string(errPos_) + ": " + err_);
    }
    bool fail(const char* why) {
        if (err_.empty()) {
            err_ = why;
            errPos_ = pos_;
        }
        return false;
    }
    void skipSpace() {
        while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\n' || s_[pos_] == '\r'))
            ++pos_;
    }
    bool literal(std::string_view word) {
        if (s_.substr(pos_, word.size()) != word) return fail("unknown literal");
        pos_ += word.size();
        return true;
    }

    bool value(Json& out, int depth) {
        if (depth > limits_.maxDepth) return fail("nested too deeply");
        skipSpace();
        if (pos_ >= s_.size()) return fail("unexpected end of input");
        switch (s_[pos_]) {
        case '{': return object(out, depth);
        case '[': return array(out, depth);
        case '"': {
            std::string str;
            if (!string(str)) return false;
            out = Json(std::move(str));
            return true;
        }
        case 't': out = Json(true); return literal("true");
        case 'f': out = Json(false); return literal("false");
        case 'n': out = Json(); return literal("null");
        default: return number(out);
        }
    }

    bool object(Json& out, int depth) {
        ++pos_;  // '{'
        Json::Object obj;
        skipSpace();
        if (pos_ < s_.size() && s_[pos_] == '}') {
            ++pos_;
            out = Json(std::move(obj));
            return true;
        }
        for (;;) {
            skipSpace();
            if (pos_ >= s_.size() || s_[pos_] != '"') return fail("expected a string key");
            std::size_t keyPos = pos_;
            std::string key;
            if (!string(key)) return false;
            skipSpace();
            if (pos_ >= s_.size() || s_[pos_] != ':') return fail("expected ':'");
            ++pos_;
            Json member;
            if (!value(member, depth + 1)) return false;
            // Two parsers could pick different duplicates: refuse instead.
            if (!obj.emplace(std::move(key), std::move(member)).second) {
                pos_ = keyPos;
                return fail("duplicate object key");
            }
            skipSpace();
            if (pos_ >= s_.size()) return fail("unexpected end of input in object");
            if (s_[pos_] == ',') {
                ++pos_;
                continue;
            }
            if (s_[pos_] == '}') {
                ++pos_;
                out = Json(std::move(obj));
                return true;
            }
            return fail("expected ',' or '}'");
        }
    }

    bool array(Json& out, int depth) {
        ++pos_;  // '['
        Json::Array arr;
        skipSpace();
        if (pos_ < s_.size() && s_[pos_] == ']') {
            ++pos_;
            out = Json(std::move(arr));
            return true;
        }
        for (;;) {
            Json element;
            if (!value(element, depth + 1)) return false;
            arr.push_back(std::move(element));
            skipSpace();
            if (pos_ >= s_.size()) return fail("unexpected end of input in array");
            if (s_[pos_] == ',') {
                ++pos_;
                continue;
            }
            if (s_[pos_] == ']') {
                ++pos_;
                out = Json(std::move(arr));
                return true;
            }
            return fail("expected ',' or ']'");
        }
    }

    bool number(Json& out) {
        std::size_t start = pos_;
        bool negative = false;
        if (s_[pos_] == '-') {
            negative = true;
            ++pos_;
        }
        if (pos_ >= s_.size() || s_[pos_] < '0' || s_[pos_] > '9') return fail("unexpected character");
        if (s_[pos_] == '0' && pos_ + 1 < s_.size() && s_[pos_ + 1] >= '0' && s_[pos_ + 1] <= '9')
            return fail("leading zero in number");
        // Accumulate as a negative value so INT64_MIN is representable.
        std::int64_t v = 0;
        while (pos_ < s_.size() && s_[pos_] >= '0' && s_[pos_] <= '9') {
            int digit = s_[pos_] - '0';
            if (v < (std::numeric_limits<std::int64_t>::min() + digit) / 10) return fail("integer out of range");
            v = v * 10 - digit;
            ++pos_;
        }
        if (pos_ < s_.size() && (s_[pos_] == '.' || s_[pos_] == 'e' || s_[pos_] == 'E'))
            return fail("non-integer number (canonical JSON has integers only)");
        if (!negative) {
            if (v == std::numeric_limits<std::int64_t>::min()) {
                pos_ = start;
                return fail("integer out of range");
            }
            v = -v;
        }
        out = Json(v);
        return true;
    }

    bool hex4(unsigned& out) {
        if (pos_ + 4 > s_.size()) return fail("truncated \\u escape");
        out = 0;
        for (int i = 0; i < 4; ++i) {
            char c = s_[pos_++];
            out <<= 4;
            if (c >= '0' && c <= '9') out |= unsigned(c - '0');
            else if (c >= 'a' && c <= 'f') out |= unsigned(c - 'a' + 10);
            else if (c >= 'A' && c <= 'F') out |= unsigned(c - 'A' + 10);
            else return fail("bad hex digit in \\u escape");
        }
        return true;
    }

    static void appendUtf8(std::string& out, unsigned cp) {
        if (cp < 0x80) {
            out += char(cp);
        } else if (cp < 0x800) {
            out += char(0xC0 | (cp >> 6));
            out += char(0x80 | (cp & 0x3F));
        } else if (cp < 0x10000) {
            out += char(0xE0 | (cp >> 12));
            out += char(0x80 | ((cp >> 6) & 0x3F));
            out += char(0x80 | (cp & 0x3F));
        } else {
            out += char(0xF0 | (cp >> 18));
            out += char(0x80 | ((cp >> 12) & 0x3F));
            out += char(0x80 | ((cp >> 6) & 0x3F));
            out += char(0x80 | (cp & 0x3F));
        }
    }

    // One UTF-8 sequence starting at pos_, copied verbatim; refuses overlong
    // forms, surrogates and code points over U+10FFFF.
    bool utf8Sequence(std::string& out) {
        auto b0 = static_cast<unsigned char>(s_[pos_]);
        int len;
        unsigned cp;
        if (b0 >= 0xC2 && b0 <= 0xDF) len = 2, cp = b0 & 0x1F;
        else if (b0 >= 0xE0 && b0 <= 0xEF) len = 3, cp = b0 & 0x0F;
        else if (b0 >= 0xF0 && b0 <= 0xF4) len = 4, cp = b0 & 0x07;
        else return fail("invalid UTF-8");
        if (pos_ + len > s_.size()) return fail("truncated UTF-8");
        for (int i = 1; i < len; ++i) {
            auto b = static_cast<unsigned char>(s_[pos_ + i]);
            if ((b & 0xC0) != 0x80) return fail("invalid UTF-8");
            cp = (cp << 6) | (b & 0x3F);
        }
        if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) || (cp >= 0xD800 && cp <= 0xDFFF))
            return fail("invalid UTF-8");
        out.append(s_.substr(pos_, len));
        pos_ += len;
        return true;
    }

    bool string(std::string& out) {
        ++pos_;  // opening quote
        for (;;) {
            if (pos_ >= s_.size()) return fail("unterminated string");
            auto c = static_cast<unsigned char>(s_[pos_]);
            if (c == '"') {
                ++pos_;
                return true;
            }
            if (c < 0x20) return fail("control character in string");
            if (c >= 0x80) {
                if (!utf8Sequence(out)) return false;
                continue;
            }
            if (c != '\\') {
                out += char(c);
                ++pos_;
                continue;
            }
            ++pos_;
            if (pos_ >= s_.size()) return fail("unterminated escape");
            char e = s_[pos_++];
            switch (e) {
            case '"': out += '"'; break;
            case '\\': out += '\\'; break;
            case '/': out += '/'; break;
            case 'b': out += '\b'; break;
            case 'f': out += '\f'; break;
            case 'n': out += '\n'; break;
            case 'r': out += '\r'; break;
            case 't': out += '\t'; break;
            case 'u': {
                unsigned cp;
                if (!hex4(cp)) return false;
                if (cp >= 0xDC00 && cp <= 0xDFFF) return fail("unpaired low surrogate");
                if (cp >= 0xD800 && cp <= 0xDBFF) {
                    unsigned low;
                    if (s_.substr(pos_, 2) != "\\u") return fail("unpaired high surrogate");
                    pos_ += 2;
                    if (!hex4(low)) return false;
                    if (low < 0xDC00 || low > 0xDFFF) return fail("unpaired high surrogate");
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
                }
                appendUtf8(out, cp);
                break;
            }
            default: --pos_; return fail("unknown escape");
            }
        }
    }

    std::string_view s_;
    JsonLimits limits_;
    std::size_t pos_ = 0;
    std::string err_;
    std::size_t errPos_ = 0;
};

void canonicalString(std::string& out, const std::string& s) {
    out += '"';
    for (char c : s) {
        if (c == '"' || c == '\\') out += '\\';
        out += c;
    }
    out += '"';
}

void canonical(std::string& out, const Json& v) {
    switch (v.kind()) {
    case Json::Kind::Null: out += "null"; return;
    case Json::Kind::Bool: out += v.asBool() ? "true" : "false"; return;
    case Json::Kind::Integer: out += std::to_string(v.asInteger()); return;
    case Json::Kind::String: canonicalString(out, v.asString()); return;
    case Json::Kind::Array: {
        out += '[';
        bool first = true;
        for (const auto& e : v.asArray()) {
            if (!first) out += ',';
            first = false;
            canonical(out, e);
        }
        out += ']';
        return;
    }
    case Json::Kind::Object: {
        out += '{';
        bool first = true;
        for (const auto& [k, e] : v.asObject()) {
            if (!first) out += ',';
            first = false;
            canonicalString(out, k);
            out += ':';
            canonical(out, e);
        }
        out += '}';
        return;
    }
    }
}

// RFC 8259 string: control characters escaped so any JSON reader accepts it.
void jsonString(std::string& out, const std::string& s) {
    out += '"';
    for (char c : s) {
        auto u = static_cast<unsigned char>(c);
        if (c == '"' || c == '\\') {
            out += '\\';
            out += c;
        } else if (u < 0x20) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\u%04x", u);
            out += buf;
        } else {
            out += c;
        }
    }
    out += '"';
}

void pretty(std::string& out, const Json& v, int indent) {
    auto newline = [&](int level) {
        out += '\n';
        out.append(std::size_t(level), ' ');
    };
    switch (v.kind()) {
    case Json::Kind::String: jsonString(out, v.asString()); return;
    case Json::Kind::Array:
        if (v.asArray().empty()) {
            out += "[]";
            return;
        }
        out += '[';
        for (std::size_t i = 0; i < v.asArray().size(); ++i) {
            if (i) out += ',';
            newline(indent + 1);
            pretty(out, v.asArray()[i], indent + 1);
        }
        newline(indent);
        out += ']';
        return;
    case Json::Kind::Object: {
        if (v.asObject().empty()) {
            out += "{}";
            return;
        }
        out += '{';
        bool first = true;
        for (const auto& [k, e] : v.asObject()) {
            if (!first) out += ',';
            first = false;
            newline(indent + 1);
            jsonString(out, k);
            out += ": ";
            pretty(out, e, indent + 1);
        }
        newline(indent);
        out += '}';
        return;
    }
    default: canonical(out, v); return;
    }
}

}  // namespace

Result<Json> parseJson(std::string_view text, const JsonLimits& limits) { return Parser(text, limits).parseDocument(); }

std::string canonicalJson(const Json& value) {
    std::string out;
    canonical(out, value);
    return out;
}

std::string prettyJson(const Json& value) {
    std::string out;
    pretty(out, value, 0);
    out += '\n';
    return out;
}

}  // namespace livepatch::tuf
