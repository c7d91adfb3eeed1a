// auth-token: a UUIDv4 auth token exchanged at registration for a machine
// token, which is the credential for every later call.
#pragma once

#include <livepatch/auth.h>

namespace livepatch::plugins {

// Canonical lowercase/uppercase UUIDv4 form: 8-4-4-4-12 hex, version 4, variant 8-b.
bool isUuidV4(const std::string& s) noexcept;

class AuthTokenPlugin : public Auth {
public:
    PluginInfo info() const noexcept override;
    Result<TokenInspection> inspect(const std::string& token) const noexcept override;
    Result<std::string> registrationAuthorization(const std::string& token) const noexcept override;
    Result<Credential> credentialFromRegistration(const std::string& token,
                                                  const RegistrationResponse& response) const noexcept override;
    Result<std::string> requestAuthorization(const Credential& credential) const noexcept override;
};

}  // namespace livepatch::plugins
