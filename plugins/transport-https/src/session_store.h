// TLS session resumption across worker processes.
//
// Every check runs in a fresh engine worker, so without this every idle
// check pays a full TLS handshake: 3.3 KB on the wire, most of it the
// server's certificate chain, for a 722-byte HTTP exchange. The session
// (TLS 1.3 ticket or TLS 1.2 session) of the last exchange with an origin
// is kept in the plugin's root-only state directory and offered on the next
// connection; a server that refuses it gets a full handshake, as before.
//
// What a stored session may skip is the certificate chain check, so:
//  - it is stored with a fingerprint of the trust settings it was verified
//    under (ca-certs, server-pins); after any change it is not offered;
//  - it is offered for at most kMaxAge, whatever lifetime the server gave;
//  - the host name and pin checks still run on the session's certificate;
//  - the file is a secret (the resumption secret): 0600 in a 0700
//    directory owned by this user, written atomically, never through a
//    symlink; anything else found there is ignored (full handshake).
#pragma once

#include <Poco/Net/Session.h>

#include <chrono>
#include <string>

namespace livepatch::plugins::https {

class SessionStore {
public:
    static constexpr std::chrono::hours kMaxAge{24};
    static constexpr std::size_t kMaxFileBytes = 16 * 1024;

    // dir: created 0700 on the first save; "" disables the store.
    // trust: the settings a stored session must have been verified under.
    SessionStore(std::string dir, const std::string& trust);

    // The stored session for host:port, or null (none, stale, foreign,
    // unsafe file, other trust settings). Never fails the exchange.
    Poco::Net::Session::Ptr load(const std::string& host, unsigned port) const;
    // Keeps `session` for host:port if it can be resumed; errors are
    // ignored (the next check then does a full handshake).
    void save(const std::string& host, unsigned port, const Poco::Net::Session::Ptr& session) const;

private:
    std::string fileName(const std::string& host, unsigned port) const;
    std::string dir_;
    std::string trust_;  // SHA-256 of the trust settings, raw bytes
};

}  // namespace livepatch::plugins::https
