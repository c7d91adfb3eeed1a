// livepatch-agent plugin SDK: files for GoogleTest tests (the agent's own
// and vendors' plugin tests). Header-only; needs <gtest/gtest.h>.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <sstream>
#include <string>

namespace livepatch::testing {

// An empty directory for the running test: <tmp>/<prefix>-<pid>-<test name>,
// with the given subdirectories. Named after the process and the test, so
// tests that ctest runs in parallel (each in its own process) never share
// one, and a directory left by a crashed run is emptied first.
inline std::filesystem::path freshTestDir(const std::string& prefix, std::initializer_list<const char*> subdirs = {}) {
    const auto* test = ::testing::UnitTest::GetInstance()->current_test_info();
    const auto dir = std::filesystem::temp_directory_path() /
                     (prefix + "-" + std::to_string(::getpid()) + "-" + (test ? test->name() : "no-test"));
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    for (const char* sub : subdirs) std::filesystem::create_directories(dir / sub);
    return dir;
}

// The whole file ("" if it cannot be read: the test's expectation fails).
inline std::string readWholeFile(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

}  // namespace livepatch::testing
