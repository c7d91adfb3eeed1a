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

// Parse the serialized (base64url) macaroon; TokenInvalid if malformed.
Result<MacaroonFacts> parseMacaroon(const std::string& token);

class ResourceTokenPlugin : public Auth {
public:
    PluginInfo info() const noexcept override;
    Status configure(const PluginContext& ctx) noexcept override;
    Result<TokenInfo> inspect(const std::string& token) const noexcept override;
    Result<std::string> registrationAuthorization(const std::string& token) const noexcept override;
    Result<Credential> credentialFromRegistration(const std::string& token,
                                                  const RegistrationResponse& response) const noexcept override;
    Result<std::string> requestAuthorization(const Credential& credential) const noexcept override;

private:
    Clock* clock_ = nullptr;
};

}  // namespace livepatch::plugins
