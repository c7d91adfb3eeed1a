// livepatch-agent plugin SDK: auth role.
//
// An auth plugin understands one kind of token (an auth token that is
// exchanged for a machine token, or a resource token that is itself the
// credential). It never touches the network: the core makes the calls and
// hands the plugin what the server answered.
#pragma once

#include <optional>
#include <string>

#include "livepatch/plugin.h"

namespace livepatch {

struct TokenInfo {
    std::string kind;                    // "auth-token" | "resource-token"
    std::optional<std::string> expires;  // RFC 3339, if the token says
    std::string summary;                 // safe to print: never the token
};

// What the server answered to POST /v1/client/{id} (already parsed by core).
struct RegistrationResponse {
    std::optional<std::string> machineToken;
    std::string tier;
};

// Persisted by the core in a 0600 file. `secret` is never printed unless
// the operator asks (`status --show-secrets`).
struct Credential {
    std::string kind;    // = TokenInfo::kind
    std::string secret;  // machine token or resource token
    std::optional<std::string> expires;
};

// What an auth plugin makes of a token (Auth::inspect).
struct TokenInspection {
    enum class Verdict {
        NotMine,  // not this plugin's kind of token: the core asks the next plugin
        Mine,     // this plugin's kind, and acceptable: `info` describes it
    };
    Verdict verdict = Verdict::NotMine;
    TokenInfo info;

    static TokenInspection notMine() { return {}; }
    static TokenInspection mine(TokenInfo info) { return {Verdict::Mine, std::move(info)}; }
};

class Auth : public Plugin {
public:
    // Local validation of the token's form; no network. NotMine if the
    // token is not this plugin's kind; an Error (TokenInvalid, the message
    // must not echo the token) if it is, but cannot be used (expired,
    // unreadable): that message is what the operator sees.
    virtual Result<TokenInspection> inspect(const std::string& token) const noexcept = 0;

    // Value of the Authorization header for the registration call.
    virtual Result<std::string> registrationAuthorization(const std::string& token) const noexcept = 0;

    // Credential to persist after a successful registration.
    virtual Result<Credential> credentialFromRegistration(const std::string& token,
                                                          const RegistrationResponse& response) const noexcept = 0;

    // Value of the Authorization header for every later call.
    virtual Result<std::string> requestAuthorization(const Credential& credential) const noexcept = 0;
};

}  // namespace livepatch
