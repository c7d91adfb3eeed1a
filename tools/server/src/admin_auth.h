// Who may administer the server, and the macaroons that prove it.
//
// <data-dir>/admin-password holds either one bare hash (user "admin", as
// written by `livepatch-server hash-password`) or htpasswd lines
// "user:hash". Hashes are argon2id ($argon2id$...) or bcrypt ($2y$/$2b$/$2a$,
// as `htpasswd -bnBC 10 user pass` prints them, verified by libxcrypt).
//
// POST /admin/login with HTTP Basic returns an admin macaroon: identifier
// random, caveats "admin = <user>" and "time < <RFC 3339>", signed with a
// key derived from <data-dir>/macaroon-key for admin use only, so that a
// resource token (same root key) is never an admin credential and an admin
// macaroon never a resource token.
#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "livepatch/error.h"

namespace lpserver {

// argon2id hash for the admin password file (<data-dir>/admin-password).
std::string hashAdminPassword(const std::string& password);
// argon2id or bcrypt; false for any other or malformed hash. Constant time
// in the password (the final comparison is CRYPTO_memcmp / argon2's own).
bool verifyAdminPassword(const std::string& encoded, const std::string& password);

// The one rule for an admin user name, from the admin-password file or an
// SSO hook (sso_hook.h): 1-64 of [A-Za-z0-9._@-], starting with a letter or
// digit. It goes into the macaroon's "admin = " caveat and the server's log.
bool isAdminUserName(const std::string& user);
inline const char* kAdminUserNameRule = "1-64 of [A-Za-z0-9._@-], starting with a letter or digit";

class AdminUsers {
public:
    // Empty file or no file: no admin at all (every admin call is 401).
    static livepatch::Result<AdminUsers> parse(const std::string& text);
    // Same work whether or not the user exists, so the timing does not say
    // which user names are valid.
    bool verify(const std::string& user, const std::string& password) const;
    bool empty() const { return hashes_.empty(); }

private:
    std::map<std::string, std::string> hashes_;
};

// A macaroon signed with key: identifier id, first-party caveats in order.
std::string mintMacaroon(const std::string& key, const std::string& id, const std::vector<std::string>& caveats);
// Verifies token against key; every caveat goes through check (0 = holds).
// idOut receives the identifier even when verification fails.
bool verifyMacaroon(const std::string& key, const std::string& token, int (*check)(void*, const unsigned char*, size_t),
                    void* ctx, std::string* idOut = nullptr);

// The key admin macaroons are signed with: HMAC-SHA256(root key, label).
std::string adminMacaroonKey(const std::string& rootKey);
std::string mintAdminMacaroon(const std::string& rootKey, const std::string& user,
                              std::chrono::system_clock::time_point expires);
// The admin user when the macaroon is valid, unexpired and carries exactly
// one admin and at least one expiry caveat (anything else: refused).
std::optional<std::string> verifyAdminMacaroon(const std::string& rootKey, const std::string& token);

}  // namespace lpserver
