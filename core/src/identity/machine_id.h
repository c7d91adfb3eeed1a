// Application-specific machine id (see schemas/api/README.md): the raw
// /etc/machine-id never leaves the machine, and two servers see different ids.
#pragma once

#include <array>
#include <cstdint>
#include <string>

#include "livepatch/error.h"

namespace livepatch {

// 16-byte machine id from <hostRoot>/etc/machine-id (32 hex digits).
Result<std::array<std::uint8_t, 16>> readMachineId(const std::string& hostRoot);

// HMAC-SHA256(key = machine id, data = APP_ID || serverUrl), first 16 bytes,
// UUIDv4 version/variant bits set, 32 lowercase hex digits.
std::string appSpecificMachineId(const std::array<std::uint8_t, 16>& machineId, const std::string& serverUrl);

// Convenience: read + derive.
Result<std::string> appSpecificMachineId(const std::string& hostRoot, const std::string& serverUrl);

}  // namespace livepatch
