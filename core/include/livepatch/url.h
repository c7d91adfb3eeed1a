// livepatch-agent plugin SDK: URLs that are safe to show.
#pragma once

#include <string>

#include <Poco/URI.h>

namespace livepatch {

// The URL without userinfo, query string or fragment, for messages and logs
// (tokens and proxy passwords live there).
inline std::string displayUrl(const std::string& url) {
    try {
        Poco::URI u(url);
        u.setUserInfo("");
        u.setRawQuery("");
        u.setFragment("");
        return u.toString();
    } catch (...) {
        return "<invalid URL>";
    }
}

}  // namespace livepatch
