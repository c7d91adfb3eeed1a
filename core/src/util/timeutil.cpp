#include "util/timeutil.h"

#include <ctime>
#include <regex>

namespace livepatch::timeutil {

Result<TimePoint> parseRfc3339(const std::string& text) {
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
                           std::chrono::system_clock::time_point::max().time_since_epoch()).count() - 1;
    if (t > limit || t < -limit) return Error(ErrorCode::InvalidArgument, "time out of range (years 1678 to 2261)");
    auto tp = std::chrono::system_clock::from_time_t(t);
    if (m[7].matched) {
        double frac = std::stod("0" + m[7].str());
        tp += std::chrono::duration_cast<std::chrono::system_clock::duration>(std::chrono::duration<double>(frac));
    }
    return tp;
}

std::string formatRfc3339(TimePoint t) {
    time_t tt = std::chrono::system_clock::to_time_t(t);
    struct tm tm;
    gmtime_r(&tt, &tm);
    char buf[32];
    strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

Result<std::chrono::seconds> parseDuration(const std::string& text) {
    static const std::regex re(R"(^(\d{1,9})([smhdw]?)$)");
    std::smatch m;
    if (!std::regex_match(text, m, re))
        return Error(ErrorCode::InvalidArgument, "expected a duration like 30s, 15m, 6h, 3d or 2w");
    long long n = std::stoll(m[1]);
    const std::string unit = m[2];
    if (unit.empty() && n != 0)
        return Error(ErrorCode::InvalidArgument, "expected a duration with a unit (s, m, h, d or w)");
    long long mult = unit == "m" ? 60 : unit == "h" ? 3600 : unit == "d" ? 86400 : unit == "w" ? 604800 : 1;
    return std::chrono::seconds(n * mult);
}

}  // namespace livepatch::timeutil
