// JSON for TUF metadata: a strict, bounded parser for bytes from a mirror,
// and the OLPC canonical encoding that TUF signatures cover.
//
// Why not Poco::JSON: TUF signs the canonical form of the "signed" object as
// received, unknown fields included, so the parser must keep every field,
// refuse what canonical JSON cannot represent (floats, duplicate keys,
// invalid UTF-8) and stay within a fixed depth on hostile input.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "livepatch/error.h"

namespace livepatch::tuf {

class Json {
public:
    enum class Kind { Null, Bool, Integer, String, Array, Object };
    using Array = std::vector<Json>;
    // std::string orders by unsigned bytes: the order canonical JSON sorts keys in.
    using Object = std::map<std::string, Json>;

    Json() = default;
    Json(bool b) : kind_(Kind::Bool), int_(b ? 1 : 0) {}              // NOLINT(implicit)
    Json(std::int64_t i) : kind_(Kind::Integer), int_(i) {}           // NOLINT(implicit)
    Json(int i) : kind_(Kind::Integer), int_(i) {}                    // NOLINT(implicit)
    Json(std::string s) : kind_(Kind::String), str_(std::move(s)) {}  // NOLINT(implicit)
    Json(const char* s) : kind_(Kind::String), str_(s) {}             // NOLINT(implicit)
    Json(Array a) : kind_(Kind::Array), arr_(std::move(a)) {}         // NOLINT(implicit)
    Json(Object o) : kind_(Kind::Object), obj_(std::move(o)) {}       // NOLINT(implicit)

    Kind kind() const noexcept { return kind_; }
    bool isObject() const noexcept { return kind_ == Kind::Object; }
    bool isArray() const noexcept { return kind_ == Kind::Array; }
    bool isString() const noexcept { return kind_ == Kind::String; }
    bool isInteger() const noexcept { return kind_ == Kind::Integer; }
    bool isBool() const noexcept { return kind_ == Kind::Bool; }

    bool asBool() const noexcept { return int_ != 0; }
    std::int64_t asInteger() const noexcept { return int_; }
    const std::string& asString() const noexcept { return str_; }
    const Array& asArray() const noexcept { return arr_; }
    Array& asArray() noexcept { return arr_; }
    const Object& asObject() const noexcept { return obj_; }
    Object& asObject() noexcept { return obj_; }

    // Object member or nullptr (also nullptr if this is not an object).
    const Json* find(const std::string& key) const;
    // Object member, created as null if absent (this must be an object).
    Json& operator[](const std::string& key) { return obj_[key]; }

    bool operator==(const Json& other) const;
    bool operator!=(const Json& other) const { return !(*this == other); }

private:
    Kind kind_ = Kind::Null;
    std::int64_t int_ = 0;
    std::string str_;
    Array arr_;
    Object obj_;
};

struct JsonLimits {
    std::size_t maxBytes = 16u << 20;  // callers pass the role's length limit
    int maxDepth = 32;                 // TUF metadata nests 6 deep; a bomb nests 10^6
};

// Strict RFC 8259 with canonical-JSON restrictions: integers only (int64,
// no fraction/exponent, no leading zeros), UTF-8 validated, duplicate object
// keys refused, nothing after the value. Protocol error naming the offset.
Result<Json> parseJson(std::string_view text, const JsonLimits& limits = {});

// OLPC canonical JSON (what securesystemslib and TUF sign): no whitespace,
// keys sorted bytewise, integers in decimal, strings with only '"' and '\\'
// escaped and every other byte verbatim.
std::string canonicalJson(const Json& value);

// Human-friendly form for files people read (indent 1, sorted keys). Still
// valid input to parseJson; signatures never cover this form.
std::string prettyJson(const Json& value);

}  // namespace livepatch::tuf
