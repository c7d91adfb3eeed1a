// Time parsing/formatting used by config, state and the protocol.
#pragma once

#include <chrono>
#include <string>

#include "livepatch/error.h"

namespace livepatch::timeutil {

using TimePoint = std::chrono::system_clock::time_point;

// RFC 3339 ("2024-01-31T12:00:00Z", "2024-01-31T12:00:00.5+02:00").
Result<TimePoint> parseRfc3339(const std::string& text);
// Always UTC, second precision: "2024-01-31T12:00:00Z".
std::string formatRfc3339(TimePoint t);

// Durations with unit s|m|h|d|w ("90s", "15m", "3d", "2w"); "0" allowed.
Result<std::chrono::seconds> parseDuration(const std::string& text);

}  // namespace livepatch::timeutil
