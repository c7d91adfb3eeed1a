// Admin login through a site's single sign-on: POST /admin/login with
// "Authorization: Bearer <assertion>" (whatever the site's IdP gives: an
// OIDC ID/access token, a SAML artefact; opaque to the server) is decided by
// a program the site provides, `--admin-sso-hook PATH`.
//
// The hook is run without a shell: argv is its path alone, the environment
// only PATH and LC_ALL, the assertion and a newline on its standard input
// (never on its command line or in its environment, which /proc shows to
// every user), stderr to /dev/null (it could echo the assertion). It runs in
// its own process group, which is killed when the hook exits, times out or
// prints too much, so nothing it started outlives it. Exit 0 with one line
// naming the admin user (the admin-password file's user-name rule) and
// optionally a second line "expires=<seconds>" accepts; anything else is
// refused and the reason (never the assertion or the output) is logged.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <optional>
#include <string>

#include "admin_client.h"
#include "livepatch/error.h"

namespace lpserver {

// What an accepting hook printed.
struct SsoHookAnswer {
    std::string user;
    std::optional<std::chrono::seconds> lifetime;  // "expires=N": at most this long
};

// The hook's standard output. The error says what is wrong without quoting
// it (a hook may echo the assertion).
livepatch::Result<SsoHookAnswer> parseSsoHookOutput(const std::string& out);

// Only an assertion that passes lpadmin::validSsoAssertion (admin_client.h:
// the client's own check) is given to a hook.
using lpadmin::kMaxSsoAssertionBytes;
using lpadmin::validSsoAssertion;

// Checked at start and before every run: an absolute path to a regular,
// executable file that it and every directory above it are owned by root or
// by the server's own user and not group/world-writable (livepatch's
// trusted_files.h rule), so nobody else can swap what the server runs.
livepatch::Status checkSsoHook(const std::string& path);

class SsoHook {
public:
    struct Options {
        std::string path;
        std::chrono::milliseconds timeout{10000};  // then the process group is killed
        std::size_t maxOutput = 4096;              // more: killed and refused
        int maxRunning = 4;                        // more at once: Busy (a flood must not fork-bomb the server)
    };
    explicit SsoHook(Options o) : opt_(std::move(o)) {}

    enum class Outcome { Accepted, Refused, Busy };
    struct Verdict {
        Outcome outcome = Outcome::Refused;
        SsoHookAnswer answer;  // when Accepted
        std::string why;       // when Refused: for the log, without the assertion or the output
    };
    // assertion: already checked with validSsoAssertion.
    Verdict run(const std::string& assertion);

private:
    Verdict runHook(const std::string& assertion);
    Options opt_;
    std::atomic<int> running_{0};
};

}  // namespace lpserver
