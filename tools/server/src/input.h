// Shapes of the strings the server accepts from the network (admin input,
// and what an upstream lists to a mirror): bounded, no path separators or
// control characters. One table for the admin API and upstream sync.
#pragma once

#include <regex>

namespace lpserver {

inline const std::regex kFileRe("^[A-Za-z0-9][A-Za-z0-9._+-]{0,199}$");
inline const std::regex kTokenRe("^[A-Za-z0-9-]{8,128}$");
inline const std::regex kVersionRe("^[0-9][0-9.]{0,31}$");
inline const std::regex kPatchNameRe("^[a-z0-9_]{1,55}$");
inline const std::regex kKernelRe("^[A-Za-z0-9][A-Za-z0-9._+~-]{0,127}$");
inline const std::regex kLimitRe("^[0-9]{1,4}$");
inline const std::regex kRfc3339Re("^[0-9T:.Z+-]{10,40}$");

}  // namespace lpserver
