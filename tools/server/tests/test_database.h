// The database a store test runs on: a fresh PostgreSQL database named
// after the test when the binary runs under with-postgres.sh, else a SQLite
// file in the test's directory. One helper for every suite that runs on both.
#pragma once

#include <gtest/gtest.h>

#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>

#include "store.h"

namespace lpserver::testing {

inline std::string freshTestDatabase(const std::string& prefix, const std::filesystem::path& dir) {
    const char* pg = std::getenv("LP_TEST_POSTGRES_URL");
    if (!pg) return "sqlite:" + (dir / "shared.db").string();
    std::string name = prefix;
    for (char c : std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()))
        name += std::isalnum(static_cast<unsigned char>(c)) ? static_cast<char>(std::tolower(c)) : '_';
    const std::string psql = std::getenv("LP_TEST_POSTGRES_PSQL");
    EXPECT_EQ(std::system((psql + " -q -d postgres -c 'DROP DATABASE IF EXISTS " + name + "' -c 'CREATE DATABASE " +
                           name + "' > /dev/null")
                              .c_str()),
              0);
    return pg + name;
}

// A replica's Store: its own data dir (made by the test) and two
// connections, on the shared database.
inline std::unique_ptr<Store> openReplicaStore(const std::filesystem::path& dataDir, const std::string& database) {
    StoreOptions o;
    o.dataDir = dataDir.string();
    o.database = database;
    o.connections = 2;
    auto s = Store::open(o);
    EXPECT_TRUE(s) << s.error().message();
    return s ? std::move(*s) : nullptr;
}

}  // namespace lpserver::testing
