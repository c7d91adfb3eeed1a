// livepatch-agent plugin SDK: the module's own identity, from its .modinfo.
//
// A kernel module carries "key=value" strings, NUL-separated, in its
// .modinfo section (name=, vermagic=, livepatch=Y, version= from
// MODULE_VERSION, ...). These bytes are inside what the module signature
// covers, so unlike a patch's livepatch.json they cannot be changed by
// whoever serves the patch. The engine checks them against the metadata and
// the running kernel before loading; loaders read the version back.
//
// One parser for every caller (engine, loaders, livepatch-pack): ELF32 and
// ELF64, little and big endian; every offset and length is checked against
// the input before it is used, so any byte string is safe input (fuzzed by
// tests/fuzz/fuzz_modinfo.cpp). An appended module signature after the ELF
// data is ignored (it is outside every section).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "livepatch/error.h"

namespace livepatch {

struct ModInfo {
    // In section order; a key may repeat (alias=, parm=, depends= do).
    std::vector<std::pair<std::string, std::string>> fields;

    // Every value of `key`, in order.
    std::vector<std::string> values(std::string_view key) const {
        std::vector<std::string> out;
        for (const auto& f : fields)
            if (f.first == key) out.push_back(f.second);
        return out;
    }
    // The value of a key that must appear at most once: nullopt when absent;
    // an error when it appears twice (which copy the kernel shows would then
    // be a guess, so identity keys must be unambiguous).
    Result<std::optional<std::string>> unique(std::string_view key) const {
        auto v = values(key);
        if (v.size() > 1)
            return Error(ErrorCode::SignatureInvalid, ".modinfo lists \"" + std::string(key) + "=\" more than once");
        if (v.empty()) return std::optional<std::string>();
        return std::optional<std::string>(v.front());
    }
};

namespace modinfo_detail {

// Bounds-checked reader of one ELF file's header fields.
class ElfReader {
public:
    explicit ElfReader(std::string_view data) : d_(data) {}
    bool init() {
        if (d_.size() < 16 || d_.compare(0, 4,
                                         "\x7f"
                                         "ELF") != 0)
            return false;
        const auto cls = static_cast<unsigned char>(d_[4]), enc = static_cast<unsigned char>(d_[5]);
        if ((cls != 1 && cls != 2) || (enc != 1 && enc != 2)) return false;
        is64_ = cls == 2;
        bigEndian_ = enc == 2;
        return true;
    }
    bool is64() const { return is64_; }
    // Unsigned little/big endian integer of `width` bytes at `off`; false when out of bounds.
    bool uint(std::uint64_t off, unsigned width, std::uint64_t& out) const {
        if (off > d_.size() || d_.size() - off < width) return false;
        out = 0;
        for (unsigned i = 0; i < width; ++i) {
            const auto byte =
                static_cast<unsigned char>(d_[static_cast<std::size_t>(off) + (bigEndian_ ? i : width - 1 - i)]);
            out = (out << 8) | byte;
        }
        return true;
    }
    // Field of the natural word size (4 bytes on ELF32, 8 on ELF64).
    bool word(std::uint64_t off, std::uint64_t& out) const { return uint(off, is64_ ? 8 : 4, out); }
    std::string_view data() const { return d_; }

private:
    std::string_view d_;
    bool is64_ = false, bigEndian_ = false;
};

struct Section {
    std::uint64_t name = 0, type = 0, offset = 0, size = 0, link = 0;
};

inline Error malformed(const std::string& why) {
    return Error(ErrorCode::SignatureInvalid, "malformed module: " + why);
}

}  // namespace modinfo_detail

// The .modinfo fields of a module image. Errors (SignatureInvalid, since the
// bytes have no valid structure) name what is wrong; a module without a
// .modinfo section is an error too: every kernel module has one.
inline Result<ModInfo> parseModInfo(std::string_view image) noexcept {
    using namespace modinfo_detail;
    try {
        ElfReader r(image);
        if (!r.init()) return malformed("not an ELF file");
        // Offsets of the header fields that differ between ELF32 and ELF64.
        const bool w = r.is64();
        std::uint64_t shoff = 0, shentsize = 0, shnum = 0, shstrndx = 0;
        if (!r.word(w ? 0x28 : 0x20, shoff) || !r.uint(w ? 0x3a : 0x2e, 2, shentsize) ||
            !r.uint(w ? 0x3c : 0x30, 2, shnum) || !r.uint(w ? 0x3e : 0x32, 2, shstrndx))
            return malformed("truncated ELF header");
        const std::uint64_t minEntry = w ? 64 : 40;
        if (shoff == 0 || shentsize < minEntry) return malformed("no section header table");
        auto section = [&](std::uint64_t i, Section& s) {
            if (i >= image.size() / shentsize) return false;  // i * shentsize cannot overflow past this
            const std::uint64_t at = i * shentsize;
            if (shoff > image.size() || image.size() - shoff < at + minEntry) return false;
            const std::uint64_t b = shoff + at;
            return r.uint(b, 4, s.name) && r.uint(b + 4, 4, s.type) && r.word(b + (w ? 0x18 : 0x10), s.offset) &&
                   r.word(b + (w ? 0x20 : 0x14), s.size) && r.uint(b + (w ? 0x28 : 0x18), 4, s.link);
        };
        // Extended numbering: more than 0xff00 sections keep the real count
        // and string table index in section 0.
        Section first;
        if (!section(0, first)) return malformed("section header table outside the file");
        if (shnum == 0) shnum = first.size;
        if (shstrndx == 0xffff) shstrndx = first.link;
        if (shnum == 0 || shnum > image.size() / shentsize) return malformed("section count out of bounds");
        Section strtab;
        if (shstrndx >= shnum || !section(shstrndx, strtab)) return malformed("no section name table");
        if (strtab.offset > image.size() || strtab.size > image.size() - strtab.offset)
            return malformed("section name table outside the file");
        const std::string_view names =
            image.substr(static_cast<std::size_t>(strtab.offset), static_cast<std::size_t>(strtab.size));
        std::optional<Section> modinfo;
        for (std::uint64_t i = 0; i < shnum; ++i) {
            Section s;
            if (!section(i, s)) return malformed("section header table outside the file");
            if (s.name >= names.size()) continue;
            const auto name = names.substr(static_cast<std::size_t>(s.name));
            const auto end = name.find('\0');
            if (end == std::string_view::npos || name.substr(0, end) != ".modinfo") continue;
            if (modinfo) return malformed("more than one .modinfo section");
            modinfo = s;
        }
        if (!modinfo) return malformed("no .modinfo section");
        if (modinfo->type == 8 /* SHT_NOBITS */) return malformed(".modinfo section has no contents");
        if (modinfo->offset > image.size() || modinfo->size > image.size() - modinfo->offset)
            return malformed(".modinfo section outside the file");
        const std::string_view body =
            image.substr(static_cast<std::size_t>(modinfo->offset), static_cast<std::size_t>(modinfo->size));
        ModInfo out;
        std::size_t pos = 0;
        while (pos < body.size()) {
            std::size_t end = body.find('\0', pos);
            // The kernel refuses an unterminated .modinfo too.
            if (end == std::string_view::npos) return malformed("last .modinfo string is not NUL-terminated");
            const auto entry = body.substr(pos, end - pos);
            pos = end + 1;
            if (entry.empty()) continue;  // alignment padding between strings
            const auto eq = entry.find('=');
            if (eq == std::string_view::npos || eq == 0) return malformed(".modinfo entry without key=value");
            out.fields.emplace_back(std::string(entry.substr(0, eq)), std::string(entry.substr(eq + 1)));
        }
        return out;
    } catch (const std::exception& e) {  // std::bad_alloc only
        return Error(ErrorCode::Internal, std::string("reading .modinfo: ") + e.what());
    }
}

}  // namespace livepatch
