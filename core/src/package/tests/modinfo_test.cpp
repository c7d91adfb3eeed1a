// livepatch::parseModInfo (SDK, core/include/livepatch/modinfo.h): the
// module identity the engine checks comes from these bytes.
#include <gtest/gtest.h>

#include <cstring>

#include "livepatch/modinfo.h"
#include "livepatch/testing/module_image.h"

using namespace livepatch;
using namespace livepatch::testing;
using namespace std::string_literals;

namespace {

const std::vector<std::pair<std::string, std::string>> kFields{
    {"version", "7"}, {"livepatch", "Y"}, {"alias", "a"},
    {"alias", "b"},   {"name", "lp_x"},   {"vermagic", "6.1.0-18-amd64 SMP mod_unload "}};

}  // namespace

TEST(ModInfo, ReadsEveryClassAndByteOrder) {
    for (auto cls : {ElfClass::Elf32, ElfClass::Elf64})
        for (auto end : {Endian::Little, Endian::Big}) {
            auto info = parseModInfo(makeModuleImage(kFields, {cls, end}));
            ASSERT_TRUE(info) << info.error().describe();
            EXPECT_EQ(info->fields, kFields);
            EXPECT_EQ(*info->unique("name").value(), "lp_x");
            EXPECT_EQ(*info->unique("version").value(), "7");
            EXPECT_FALSE(info->unique("license").value().has_value());
            EXPECT_EQ(info->values("alias"), (std::vector<std::string>{"a", "b"}));
            EXPECT_FALSE(info->unique("alias"));  // ambiguous
        }
}

TEST(ModInfo, IgnoresAnAppendedSignatureAndAlignmentPadding) {
    std::string body = modinfoSection(kFields);
    body.insert(body.find("livepatch="), std::string(3, '\0'));
    auto image = makeModuleImageRaw(body) + std::string(600, '\x30') + "~Module signature appended~\n";
    auto info = parseModInfo(image);
    ASSERT_TRUE(info) << info.error().describe();
    EXPECT_EQ(info->fields, kFields);
}

TEST(ModInfo, ReadsARealCompilerObject) {
    // A .ko is an ET_REL object: what `cc -c` writes, with MODULE_INFO-style strings.
    const std::string dir = ::testing::TempDir();
    const std::string src = dir + "/modinfo_obj.c", obj = dir + "/modinfo_obj.o";
    FILE* f = std::fopen(src.c_str(), "w");
    ASSERT_TRUE(f);
    std::fputs(
        "__attribute__((section(\".modinfo\"), used, aligned(1))) static const char a[] = \"version=3\";\n"
        "__attribute__((section(\".modinfo\"), used, aligned(1))) static const char b[] = \"name=lp_obj\";\n"
        "int lp_obj_fn(void) { return 1; }\n",
        f);
    std::fclose(f);
    ASSERT_EQ(std::system(("cc -c -o " + obj + " " + src).c_str()), 0);
    FILE* in = std::fopen(obj.c_str(), "rb");
    ASSERT_TRUE(in);
    std::string bytes;
    char buf[4096];
    for (size_t n; (n = std::fread(buf, 1, sizeof buf, in)) > 0;) bytes.append(buf, n);
    std::fclose(in);
    auto info = parseModInfo(bytes);
    ASSERT_TRUE(info) << info.error().describe();
    EXPECT_EQ(*info->unique("version").value(), "3");
    EXPECT_EQ(*info->unique("name").value(), "lp_obj");
}

TEST(ModInfo, RefusesMalformedImagesWithAReason) {
    const std::string good = makeModuleImage(kFields);
    auto reason = [](const std::string& image) {
        auto r = parseModInfo(image);
        EXPECT_FALSE(r);
        if (r) return std::string();
        EXPECT_EQ(r.error().code(), ErrorCode::SignatureInvalid);
        return r.error().message();
    };
    EXPECT_NE(reason("").find("not an ELF"), std::string::npos);
    EXPECT_NE(reason(good.substr(0, 40)).find("truncated ELF header"), std::string::npos);
    // Every truncation of a valid image fails cleanly (section table at the end).
    for (size_t n = 0; n < good.size(); ++n) EXPECT_FALSE(parseModInfo(good.substr(0, n))) << n;
    EXPECT_NE(reason(makeModuleImageRaw(std::string("name=x\0noequals\0", 16))).find("without key=value"),
              std::string::npos);
    EXPECT_NE(reason(makeModuleImageRaw("name=x")).find("not NUL-terminated"), std::string::npos);
    std::string renamed = good;
    renamed.replace(renamed.find(".modinfo"), 8, ".modinfX");
    EXPECT_NE(reason(renamed).find("no .modinfo section"), std::string::npos);
    EXPECT_NE(reason(makeElfImage({{".modinfo", 1, "a=b"s + '\0'}, {".modinfo", 1, "c=d"s + '\0'}}))
                  .find("more than one .modinfo"),
              std::string::npos);
    EXPECT_NE(reason(makeElfImage({{".modinfo", 8 /* NOBITS */, "a=b"s + '\0'}})).find("no contents"),
              std::string::npos);
}

TEST(ModInfo, SectionBoundsAreCheckedAgainstTheFile) {
    std::string image = makeModuleImage(kFields);
    std::uint64_t shoff;
    std::memcpy(&shoff, image.data() + 0x28, 8);
    // .modinfo's sh_size (section 1, offset 0x20 in its header) past the end of file.
    std::uint64_t huge = 0xfffffffffffffff0ull;
    std::string bad = image;
    std::memcpy(bad.data() + shoff + 64 + 0x20, &huge, 8);
    EXPECT_FALSE(parseModInfo(bad));
    // Section table offset that wraps around.
    bad = image;
    std::memcpy(bad.data() + 0x28, &huge, 8);
    EXPECT_FALSE(parseModInfo(bad));
    // Section count beyond the file, and extended numbering pointing nowhere.
    bad = image;
    bad[0x3c] = '\xff', bad[0x3d] = '\x7f';
    EXPECT_FALSE(parseModInfo(bad));
    bad = image;
    bad[0x3e] = '\xff', bad[0x3f] = '\xff';  // SHN_XINDEX: index in section 0's sh_link (0 = the null section)
    EXPECT_FALSE(parseModInfo(bad));
}
