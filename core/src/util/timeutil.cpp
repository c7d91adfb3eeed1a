#include "util/timeutil.h"

#include <ctime>
#include <regex>

namespace livepatch::timeutil {

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
