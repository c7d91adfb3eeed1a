#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "crypto/sha256.h"

using namespace livepatch;

TEST(Sha256, KnownVectors) {
    EXPECT_EQ(sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    EXPECT_EQ(sha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST(Sha256, FilesAreStreamedAndSymlinksRefused) {
    const auto dir = std::filesystem::temp_directory_path() / ("lp-sha-" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    std::string big(3 << 20, 'a');  // more than one 1 MiB read
    std::ofstream(dir / "f", std::ios::binary) << big;
    auto h = sha256FileHex((dir / "f").string());
    ASSERT_TRUE(h) << h.error().message();
    EXPECT_EQ(*h, sha256Hex(big));
    std::filesystem::create_symlink(dir / "f", dir / "link");
    EXPECT_FALSE(sha256FileHex((dir / "link").string()));
    std::filesystem::remove_all(dir);
}
