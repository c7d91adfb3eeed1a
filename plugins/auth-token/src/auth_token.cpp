#include "auth_token.h"

#include <cctype>

namespace livepatch::plugins {

bool isUuidV4(const std::string& s) noexcept {
    if (s.size() != 36) return false;
    for (size_t i = 0; i < s.size(); ++i) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-') return false;
        } else if (!std::isxdigit(static_cast<unsigned char>(s[i]))) {
            return false;
        }
    }
    const char variant = static_cast<char>(std::tolower(static_cast<unsigned char>(s[19])));
    return s[14] == '4' && (variant == '8' || variant == '9' || variant == 'a' || variant == 'b');
}

PluginInfo AuthTokenPlugin::info() const noexcept {
    return {"auth-token", PluginRole::Auth, "1.0.0", LIVEPATCH_SDK_ABI_VERSION,
            "auth token (UUIDv4) exchanged for a machine token"};
}

Result<TokenInspection> AuthTokenPlugin::inspect(const std::string& token) const noexcept {
    if (!isUuidV4(token)) return TokenInspection::notMine();
    return TokenInspection::mine(TokenInfo{"auth-token", std::nullopt, "auth token (UUIDv4)"});
}

Result<std::string> AuthTokenPlugin::registrationAuthorization(const std::string& token) const noexcept {
    if (!isUuidV4(token)) return Error(ErrorCode::TokenInvalid, "not an auth token");
    return "Bearer " + token;
}

Result<Credential> AuthTokenPlugin::credentialFromRegistration(const std::string&,
                                                               const RegistrationResponse& response) const noexcept {
    if (!response.machineToken || response.machineToken->empty())
        return Error(ErrorCode::Protocol, "the server accepted the auth token but returned no machine token");
    for (char c : *response.machineToken)
        if (c <= ' ' || c > '~') return Error(ErrorCode::Protocol, "the server returned a malformed machine token");
    return Credential{"auth-token", *response.machineToken, std::nullopt};
}

Result<std::string> AuthTokenPlugin::requestAuthorization(const Credential& credential) const noexcept {
    if (credential.secret.empty()) return Error(ErrorCode::NotEnabled, "no machine token stored");
    return "Bearer " + credential.secret;
}

}  // namespace livepatch::plugins
