// auth-resource-token: a macaroon that is itself the credential. It is
// parsed locally (libmacaroons) so a malformed or expired token is refused
// before any network call. Expiry is the first-party caveat
// "time < <RFC 3339>" (also accepted: "expires = <RFC 3339>").
#pragma once

#include <livepatch/auth.h>

#include <optional>
#include <string>
#include <vector>

namespace livepatch::plugins {

struct MacaroonFacts {
    std::string location;
    std::vector<std::string> caveats;
    std::optional<std::string> expires;
};

// Parse the serialized (base64url) macaroon: nullopt if it is no macaroon at
// all (not this plugin's kind of token); TokenInvalid if it is one whose
// caveats cannot be read.
Result<std::optional<MacaroonFacts>> parseMacaroon(const std::string& token);

class ResourceTokenPlugin : public Auth {
public:
    PluginInfo info() const noexcept override;
    Status configure(const PluginContext& ctx) noexcept override;
    Result<TokenInspection> inspect(const std::string& token) const noexcept override;
    Result<std::string> registrationAuthorization(const std::string& token) const noexcept override;
    Result<Credential> credentialFromRegistration(const std::string& token,
                                                  const RegistrationResponse& response) const noexcept override;
    Result<std::string> requestAuthorization(const Credential& credential) const noexcept override;

private:
    Result<TokenInfo> accepted(const std::string& token) const noexcept;
    Clock* clock_ = nullptr;
};

}  // namespace livepatch::plugins
