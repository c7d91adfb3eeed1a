// livepatch-agent plugin SDK: the one RFC 3339 time parser.
//
// Times come from a server (publish dates, upgrade dates), the operator
// (cutoff-date) and tokens (a resource token's expiry caveat); all of them
// are read here, so a time the agent accepts in one place it accepts in all.
#pragma once

#include <chrono>
#include <ctime>
#include <regex>
#include <string>

#include "livepatch/error.h"

namespace livepatch {

// "2024-01-31T12:00:00Z", "2024-01-31t12:00:00.5+02:00", "2024-01-31 12:00:00Z".
// InvalidArgument for anything else, for a date that does not exist, and
// for a time std::chrono::system_clock cannot hold (years 1678 to 2261).
inline Result<std::chrono::system_clock::time_point> parseRfc3339(const std::string& text) {
    static const std::regex re(
        R"(^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|([+-])(\d{2}):(\d{2}))$)");
    std::smatch m;
    if (!std::regex_match(text, m, re))
        return Error(ErrorCode::InvalidArgument, "expected an RFC 3339 time like 2024-01-31T12:00:00Z");
    struct tm tm = {};
    tm.tm_year = std::stoi(m[1]) - 1900;
    tm.tm_mon = std::stoi(m[2]) - 1;
    tm.tm_mday = std::stoi(m[3]);
    tm.tm_hour = std::stoi(m[4]);
    tm.tm_min = std::stoi(m[5]);
    tm.tm_sec = std::stoi(m[6]);
    if (tm.tm_mon > 11 || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 60)
        return Error(ErrorCode::InvalidArgument, "time field out of range");
    struct tm check = tm;
    time_t t = timegm(&check);
    if (check.tm_mday != tm.tm_mday) return Error(ErrorCode::InvalidArgument, "no such date");
    if (m[9].matched) {
        int off = std::stoi(m[10]) * 3600 + std::stoi(m[11]) * 60;
        t += (m[9] == "+") ? -off : off;
    }
    // system_clock counts nanoseconds in 64 bits (years 1678-2261 here):
    // a time outside that would overflow in from_time_t (undefined
    // behaviour, found by fuzz-config with cutoff-date 2999-01-01).
    const auto limit = std::chrono::duration_cast<std::chrono::seconds>(
                           std::chrono::system_clock::time_point::max().time_since_epoch())
                           .count() -
                       1;
    if (t > limit || t < -limit) return Error(ErrorCode::InvalidArgument, "time out of range (years 1678 to 2261)");
    auto tp = std::chrono::system_clock::from_time_t(t);
    if (m[7].matched) {
        double frac = std::stod("0" + m[7].str());
        tp += std::chrono::duration_cast<std::chrono::system_clock::duration>(std::chrono::duration<double>(frac));
    }
    return tp;
}

}  // namespace livepatch
