#include "resource_token.h"

#include <macaroons.h>

#include <memory>
#include <sstream>

#include "livepatch/macaroon_text.h"
#include "livepatch/rfc3339.h"

namespace livepatch::plugins {

Result<std::optional<MacaroonFacts>> parseMacaroon(const std::string& token) {
    // Not a macaroon (an auth token's UUID, say), or text on which Debian's
    // libmacaroons 0.3.0 leaks (livepatch/macaroon_text.h).
    if (!deserializableMacaroonText(token, 16384)) return std::optional<MacaroonFacts>();
    macaroon_returncode err = MACAROON_SUCCESS;
    std::unique_ptr<macaroon, decltype(&macaroon_destroy)> m(macaroon_deserialize(token.c_str(), &err),
                                                             &macaroon_destroy);
    if (!m || err != MACAROON_SUCCESS || macaroon_validate(m.get()) != 0) return std::optional<MacaroonFacts>();
    MacaroonFacts facts;
    const unsigned char* loc = nullptr;
    size_t locSz = 0;
    macaroon_location(m.get(), &loc, &locSz);
    facts.location.assign(reinterpret_cast<const char*>(loc), locSz);
    // libmacaroons 0.3 has no caveat accessor; macaroon_inspect lists the
    // first-party caveats as "cid <predicate>" lines.
    std::string text(macaroon_inspect_size_hint(m.get()), '\0');
    if (macaroon_inspect(m.get(), text.data(), text.size(), &err) < 0)
        return Error(ErrorCode::TokenInvalid, "the resource token's caveats cannot be read");
    text.resize(text.find('\0') == std::string::npos ? text.size() : text.find('\0'));
    // A third-party caveat is printed as "cid", then "vid" and "cl"; only
    // first-party caveats (a "cid" not followed by "vid") are predicates.
    std::vector<std::string> lines;
    {
        std::istringstream in(text);
        std::string line;
        while (std::getline(in, line)) lines.push_back(line);
    }
    for (size_t i = 0; i < lines.size(); ++i) {
        if (lines[i].rfind("cid ", 0) != 0) continue;
        if (i + 1 < lines.size() && lines[i + 1].rfind("vid ", 0) == 0) continue;
        std::string caveat = lines[i].substr(4);
        facts.caveats.push_back(caveat);
        for (const char* prefix : {"time < ", "expires = "}) {
            if (caveat.rfind(prefix, 0) == 0) {
                std::string when = caveat.substr(std::string(prefix).size());
                auto whenTime = parseRfc3339(when);
                if (!whenTime) return Error(ErrorCode::TokenInvalid, "resource token has an unreadable expiry caveat");
                if (!facts.expires || *whenTime < *parseRfc3339(*facts.expires)) facts.expires = when;
            }
        }
    }
    return std::optional<MacaroonFacts>(std::move(facts));
}

PluginInfo ResourceTokenPlugin::info() const noexcept {
    return {"auth-resource-token", PluginRole::Auth, "1.0.0", LIVEPATCH_SDK_ABI_VERSION,
            "resource token (macaroon) sent as the credential"};
}

Status ResourceTokenPlugin::configure(const PluginContext& ctx) noexcept {
    clock_ = ctx.clock;
    return {};
}

Result<TokenInspection> ResourceTokenPlugin::inspect(const std::string& token) const noexcept {
    try {
        auto facts = parseMacaroon(token);
        if (!facts) return facts.error();
        if (!*facts) return TokenInspection::notMine();
        const MacaroonFacts& f = **facts;
        TokenInfo info{"resource-token", f.expires, "resource token (macaroon)"};
        if (f.expires) {
            auto when = parseRfc3339(*f.expires);
            auto now = clock_ ? clock_->now() : std::chrono::system_clock::now();
            if (when && *when <= now)
                return Error(ErrorCode::TokenInvalid,
                             "the resource token expired at " + *f.expires + "; ask for a new one");
            info.summary += ", expires " + *f.expires;
        }
        return TokenInspection::mine(std::move(info));
    } catch (...) {
        return Error(ErrorCode::TokenInvalid, "the resource token cannot be read");
    }
}

// The token as this plugin accepts it; TokenInvalid if it is not its kind.
Result<TokenInfo> ResourceTokenPlugin::accepted(const std::string& token) const noexcept {
    auto i = inspect(token);
    if (!i) return i.error();
    if (i->verdict != TokenInspection::Verdict::Mine) return Error(ErrorCode::TokenInvalid, "not a resource token");
    return i->info;
}

Result<std::string> ResourceTokenPlugin::registrationAuthorization(const std::string& token) const noexcept {
    auto i = accepted(token);
    if (!i) return i.error();
    return "Macaroon " + token;
}

Result<Credential> ResourceTokenPlugin::credentialFromRegistration(const std::string& token,
                                                                   const RegistrationResponse&) const noexcept {
    auto i = accepted(token);
    if (!i) return i.error();
    return Credential{"resource-token", token, i->expires};
}

Result<std::string> ResourceTokenPlugin::requestAuthorization(const Credential& credential) const noexcept {
    if (credential.secret.empty()) return Error(ErrorCode::NotEnabled, "no resource token stored");
    return "Macaroon " + credential.secret;
}

}  // namespace livepatch::plugins
