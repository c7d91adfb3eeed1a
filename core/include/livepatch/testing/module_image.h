// livepatch-agent plugin SDK: minimal kernel-module-shaped ELF images for tests.
// Header-only; vendors may use it in their own plugin tests.
//
// makeModuleImage({{"name","lp_x"},{"livepatch","Y"},...}) is an ET_REL ELF
// file whose only content sections are .modinfo (the given key=value strings,
// NUL-separated, as modpost writes them) and .shstrtab: enough for
// livepatch::parseModInfo and for the simulated kernel, not for a real one.
// makeElfImage builds any such file from named sections (parser tests).
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace livepatch::testing {

enum class ElfClass { Elf32, Elf64 };
enum class Endian { Little, Big };

struct ModuleImageOptions {
    ElfClass elfClass = ElfClass::Elf64;
    Endian endian = Endian::Little;
};

inline std::string modinfoSection(const std::vector<std::pair<std::string, std::string>>& fields) {
    std::string body;
    for (const auto& f : fields) body += f.first + "=" + f.second + '\0';
    return body;
}

// The .modinfo a livepatch module built for `release` declares.
inline std::vector<std::pair<std::string, std::string>> livepatchModinfo(const std::string& name,
                                                                         const std::string& version,
                                                                         const std::string& release) {
    std::vector<std::pair<std::string, std::string>> f{
        {"livepatch", "Y"}, {"name", name}, {"vermagic", release + " SMP preempt mod_unload modversions "}};
    if (!version.empty()) f.insert(f.begin(), {"version", version});
    return f;
}

struct ElfSection {
    std::string name;
    std::uint32_t type = 1;  // SHT_PROGBITS; 7 = SHT_NOTE
    std::string contents;
};

// An ET_REL ELF file: header, section header table (null section, `sections`,
// .shstrtab), .shstrtab, then each section's contents in order, so the last
// one ends exactly at the end of the file.
inline std::string makeElfImage(const std::vector<ElfSection>& sections, ModuleImageOptions o = {}) {
    const bool w = o.elfClass == ElfClass::Elf64;
    const bool be = o.endian == Endian::Big;
    const std::size_t ehsize = w ? 64 : 52, shentsize = w ? 64 : 40, count = sections.size() + 2;
    auto put = [&](std::string& s, std::size_t off, std::uint64_t v, unsigned width) {
        if (s.size() < off + width) s.resize(off + width, '\0');
        for (unsigned i = 0; i < width; ++i)
            s[off + (be ? width - 1 - i : i)] = static_cast<char>((v >> (8 * i)) & 0xff);
    };
    std::string shstrtab(1, '\0');
    std::vector<std::size_t> nameOffsets;
    for (const auto& sec : sections) {
        nameOffsets.push_back(shstrtab.size());
        shstrtab += sec.name + '\0';
    }
    const std::size_t strtabName = shstrtab.size();
    shstrtab += std::string(".shstrtab") + '\0';
    const std::size_t shoff = ehsize, strOff = shoff + count * shentsize;
    std::string out(strOff, '\0');
    out += shstrtab;
    out[0] = 0x7f, out[1] = 'E', out[2] = 'L', out[3] = 'F';
    out[4] = static_cast<char>(w ? 2 : 1);
    out[5] = static_cast<char>(be ? 2 : 1);
    out[6] = 1;                   // EV_CURRENT
    put(out, 16, 1, 2);           // ET_REL
    put(out, 18, w ? 62 : 3, 2);  // x86-64 / i386
    put(out, 20, 1, 4);
    put(out, w ? 0x28 : 0x20, shoff, w ? 8 : 4);
    put(out, w ? 0x34 : 0x28, ehsize, 2);
    put(out, w ? 0x3a : 0x2e, shentsize, 2);
    put(out, w ? 0x3c : 0x30, count, 2);
    put(out, w ? 0x3e : 0x32, count - 1, 2);
    auto header = [&](std::size_t i, std::uint64_t name, std::uint32_t type, std::uint64_t off, std::uint64_t size) {
        const std::size_t b = shoff + i * shentsize;
        put(out, b, name, 4);
        put(out, b + 4, type, 4);
        put(out, b + (w ? 0x18 : 0x10), off, w ? 8 : 4);
        put(out, b + (w ? 0x20 : 0x14), size, w ? 8 : 4);
        put(out, b + (w ? 0x30 : 0x20), 1, w ? 8 : 4);  // sh_addralign
    };
    for (std::size_t i = 0; i < sections.size(); ++i) {
        header(i + 1, nameOffsets[i], sections[i].type, out.size(), sections[i].contents.size());
        out += sections[i].contents;
    }
    header(count - 1, strtabName, 3 /* SHT_STRTAB */, strOff, shstrtab.size());
    return out;
}

inline std::string makeModuleImageRaw(const std::string& modinfoBody, ModuleImageOptions o = {}) {
    return makeElfImage({{".modinfo", 1, modinfoBody}}, o);
}

inline std::string makeModuleImage(const std::vector<std::pair<std::string, std::string>>& fields,
                                   ModuleImageOptions o = {}) {
    return makeModuleImageRaw(modinfoSection(fields), o);
}

}  // namespace livepatch::testing
