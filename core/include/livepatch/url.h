// livepatch-agent plugin SDK: URLs that are safe to use and to show.
#pragma once

#include <arpa/inet.h>

#include <string>
#include <string_view>

#include <Poco/URI.h>

#include "livepatch/text.h"

namespace livepatch {

// The URL without userinfo, query string or fragment, for messages and logs
// (tokens and proxy passwords live there), escaped for a terminal.
inline std::string displayUrl(const std::string& url) {
    try {
        Poco::URI u(url);
        u.setUserInfo("");
        u.setRawQuery("");
        u.setFragment("");
        return terminalSafe(u.toString());
    } catch (...) {
        return "<invalid URL>";
    }
}

// True if host (as Poco::URI::getHost() gives it: IPv6 without brackets) is
// an IP literal or a DNS name: dot-separated labels of letters, digits, '-'
// and '_', 1-63 bytes each, 253 in all. That is the part of RFC 3986's
// reg-name a resolver can use; the rest (percent-encoding, sub-delims such
// as '&' or ';') and any control character is refused, because Poco::URI
// accepts CR/LF in a host and the host goes verbatim into the CONNECT line,
// the Host header and the TLS name check. Every transport and the protocol
// check URLs with this one function.
inline bool isValidHost(std::string_view host) {
    if (host.empty() || host.size() > 253) return false;
    if (host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
    const std::string h(host);
    unsigned char addr[16];
    if (h.find(':') != std::string::npos) return ::inet_pton(AF_INET6, h.c_str(), addr) == 1;
    std::size_t label = 0;
    for (char c : h) {
        if (c == '.') {
            if (label == 0) return false;
            label = 0;
            continue;
        }
        const bool ok =
            (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
        if (!ok || ++label > 63) return false;
    }
    return label > 0 || h.back() == '.';  // a trailing dot (fully qualified) is fine, an empty label is not
}

// The reason a URL's host is refused, for an error message ("" = valid).
inline std::string hostProblem(const std::string& url) {
    try {
        const Poco::URI u(url);
        if (isValidHost(u.getHost())) return "";
        return "the host \"" + terminalSafe(u.getHost(), 80) + "\" of " + displayUrl(url) +
               " is not a valid host name or IP address";
    } catch (...) {
        return "not a valid URL";
    }
}

// The reason a proxy URL cannot be used ("" = usable). Only http:// proxies:
// the agent would speak to an https:// proxy in plain text (CONNECT line and
// Basic credentials included). Through an http:// proxy the connection to
// the server is still a TLS tunnel, verified end to end.
inline std::string proxyProblem(const std::string& proxyUrl) {
    try {
        const Poco::URI u(proxyUrl);
        if (u.getScheme() == "https")
            return "an https:// proxy is not supported (the CONNECT request and proxy credentials would go out "
                   "unencrypted); "
                   "give the proxy as http://host:port: the tunnel to the server is TLS end to end";
        if (u.getScheme() != "http") return "expected a proxy URL like http://proxy:3128";
        return hostProblem(proxyUrl);
    } catch (...) {
        return "expected a proxy URL like http://proxy:3128";
    }
}

}  // namespace livepatch
