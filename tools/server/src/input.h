// Shapes of the strings the server accepts from the network (admin input,
// and what an upstream lists to a mirror): bounded, no path separators or
// control characters. One table for the admin API and upstream sync.
#pragma once

#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>

#include <regex>
#include <stdexcept>
#include <string>

namespace lpserver {

inline const std::regex kFileRe("^[A-Za-z0-9][A-Za-z0-9._+-]{0,199}$");
inline const std::regex kTokenRe("^[A-Za-z0-9-]{8,128}$");
inline const std::regex kVersionRe("^[0-9][0-9.]{0,31}$");
inline const std::regex kPatchNameRe("^[a-z0-9_]{1,55}$");
inline const std::regex kKernelRe("^[A-Za-z0-9][A-Za-z0-9._+~-]{0,127}$");
inline const std::regex kLimitRe("^[0-9]{1,4}$");
inline const std::regex kRfc3339Re("^[0-9T:.Z+-]{10,40}$");
inline const std::regex kSha256Re("^[0-9a-f]{64}$");  // a hex SHA-256, as listed or stored

// Admin input that fails validation: 400 with this message (which names the
// field and what it expects, never echoes the value).
struct BadInput : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// An admin request's body: a JSON object, or an empty one for no body.
inline Poco::JSON::Object::Ptr parseJsonObject(const std::string& body) {
    if (body.empty()) return new Poco::JSON::Object;
    try {
        return Poco::JSON::Parser().parse(body).extract<Poco::JSON::Object::Ptr>();
    } catch (...) {
        throw BadInput("the request body is not a JSON object");
    }
}

}  // namespace lpserver
