#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "identity/host_facts.h"
#include "identity/machine_id.h"

using namespace livepatch;
namespace fsys = std::filesystem;

TEST(MachineId, AppSpecificIdIsStableUuidV4AndPerServer) {
    std::array<std::uint8_t, 16> raw{};
    for (int i = 0; i < 16; ++i) raw[i] = static_cast<std::uint8_t>(i * 17);
    auto a = appSpecificMachineId(raw, "https://one.example");
    auto b = appSpecificMachineId(raw, "https://two.example");
    EXPECT_EQ(a, appSpecificMachineId(raw, "https://one.example"));
    EXPECT_NE(a, b) << "two servers must not be able to correlate a machine";
    ASSERT_EQ(a.size(), 32u);
    EXPECT_EQ(a[12], '4') << "UUIDv4 version nibble";
    EXPECT_NE(std::string("89ab").find(a[16]), std::string::npos) << "RFC 4122 variant";
    EXPECT_EQ(a.find("00112233445566778899aabbccddeeff"), std::string::npos);
}

TEST(MachineId, KnownAnswerFromAnIndependentHmac) {
    // Computed with Python's hmac module from the definition in
    // schemas/api/README.md (key = machine id bytes 0x00,0x11,..,0xff).
    std::array<std::uint8_t, 16> raw{};
    for (int i = 0; i < 16; ++i) raw[i] = static_cast<std::uint8_t>(i * 17);
    EXPECT_EQ(appSpecificMachineId(raw, "https://one.example"), "d73472fe8f6f4d87a190041c072a77cc");
}

TEST(MachineId, ReadsAndValidatesEtcMachineId) {
    fsys::path root = fsys::temp_directory_path() / ("lpmid-" + std::to_string(::getpid()));
    fsys::create_directories(root / "etc");
    std::ofstream(root / "etc/machine-id") << "00112233445566778899aabbccddeeff\n";
    auto id = appSpecificMachineId(root.string(), "https://one.example");
    ASSERT_TRUE(id);
    EXPECT_NE(*id, "00112233445566778899aabbccddeeff");
    std::ofstream(root / "etc/machine-id", std::ios::trunc) << "not-hex\n";
    EXPECT_FALSE(appSpecificMachineId(root.string(), "https://one.example"));
    fsys::remove_all(root);
}

TEST(HostFacts, UptimeAndCpu) {
    fsys::path root = fsys::temp_directory_path() / ("lpfacts-" + std::to_string(::getpid()));
    fsys::create_directories(root / "proc");
    std::ofstream(root / "proc/uptime") << "3600.5 100.0\n";
    std::ofstream(root / "proc/cpuinfo") << "processor\t: 0\nmodel name\t: Test CPU @ 1GHz\n";
    auto f = readHostFacts(root.string(), 1700003600);
    EXPECT_EQ(f.uptimeSeconds, 3600);
    EXPECT_EQ(f.bootTime, "2023-11-14T22:13:20Z");
    EXPECT_EQ(f.cpuModel, "Test CPU @ 1GHz");
    fsys::remove_all(root);
}
