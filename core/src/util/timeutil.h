// Time parsing/formatting used by config, state and the protocol.
#pragma once

#include <chrono>
#include <string>

#include "livepatch/error.h"
#include "livepatch/rfc3339.h"

namespace livepatch::timeutil {

using TimePoint = std::chrono::system_clock::time_point;

// RFC 3339: the SDK's one parser (livepatch/rfc3339.h), which plugins use too.
using livepatch::parseRfc3339;
// Always UTC, second precision: "2024-01-31T12:00:00Z".
std::string formatRfc3339(TimePoint t);

// Durations with unit s|m|h|d|w ("90s", "15m", "3d", "2w"); "0" allowed.
Result<std::chrono::seconds> parseDuration(const std::string& text);

}  // namespace livepatch::timeutil
