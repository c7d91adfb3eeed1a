#include <gtest/gtest.h>

#include "tuf/json.h"

using namespace livepatch;
using namespace livepatch::tuf;

TEST(TufJson, CanonicalFormSortsKeysAndEscapesOnlyQuoteAndBackslash) {
    auto v = parseJson("{ \"b\": [1, -2, true, null],\n \"a\": \"x\\\"y\\\\z\\n\", \"\\u00e9\": {} }");
    ASSERT_TRUE(v) << v.error().describe();
    EXPECT_EQ(canonicalJson(*v), "{\"a\":\"x\\\"y\\\\z\n\",\"b\":[1,-2,true,null],\"\xc3\xa9\":{}}");
}

TEST(TufJson, KeysSortByUnsignedBytes) {
    auto v = parseJson("{\"\xc3\xa9\":1,\"z\":2,\"Z\":3}");
    ASSERT_TRUE(v);
    EXPECT_EQ(canonicalJson(*v), "{\"Z\":3,\"z\":2,\"\xc3\xa9\":1}");
}

TEST(TufJson, PrettyFormParsesBackToTheSameValue) {
    auto v = parseJson("{\"s\":\"tab\\tnl\\n\\u0001\",\"a\":[{\"k\":[]}],\"n\":-9223372036854775808}");
    ASSERT_TRUE(v) << v.error().describe();
    auto again = parseJson(prettyJson(*v));
    ASSERT_TRUE(again) << again.error().describe();
    EXPECT_EQ(*again, *v);
    EXPECT_EQ(canonicalJson(*again), canonicalJson(*v));
}

TEST(TufJson, SurrogatePairsDecodeToUtf8) {
    auto v = parseJson("\"\\ud83d\\ude00\"");
    ASSERT_TRUE(v);
    EXPECT_EQ(v->asString(), "\xf0\x9f\x98\x80");
}

TEST(TufJson, RefusesWhatCanonicalJsonCannotRepresent) {
    for (const char* bad : {"1.5",
                            "1e3",
                            "01",
                            "-",
                            "9223372036854775808",
                            "{\"a\":1,\"a\":2}",
                            "[1,]",
                            "{\"a\" 1}",
                            "\"\\ud800\"",
                            "\"\\udc00x\"",
                            "\"\xc0\xaf\"",
                            "\"\xed\xa0\x80\"",
                            "\"\xff\"",
                            "\"a\nb\"",
                            "\"\\x\"",
                            "tru",
                            "[1] 2",
                            "",
                            "{",
                            "\"unterminated",
                            "nul"}) {
        auto v = parseJson(bad);
        EXPECT_FALSE(v) << "accepted: " << bad;
        if (!v) {
            EXPECT_EQ(v.error().code(), ErrorCode::Protocol) << bad;
        }
    }
}

TEST(TufJson, DepthAndSizeAreBounded) {
    std::string deep(100, '[');
    deep += std::string(100, ']');
    auto v = parseJson(deep);
    ASSERT_FALSE(v);
    EXPECT_NE(v.error().message().find("nested too deeply"), std::string::npos);
    JsonLimits small;
    small.maxBytes = 4;
    auto big = parseJson("[1,2,3]", small);
    ASSERT_FALSE(big);
    EXPECT_EQ(big.error().code(), ErrorCode::TooLarge);
}

TEST(TufJson, IntegerRangeEdges) {
    auto max = parseJson("9223372036854775807");
    ASSERT_TRUE(max);
    EXPECT_EQ(max->asInteger(), INT64_MAX);
    auto min = parseJson("-9223372036854775808");
    ASSERT_TRUE(min);
    EXPECT_EQ(min->asInteger(), INT64_MIN);
    EXPECT_FALSE(parseJson("-9223372036854775809"));
}
