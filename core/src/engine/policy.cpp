#include "engine/policy.h"

#include "crypto/sha256.h"
#include "package/patch_package.h"
#include "util/timeutil.h"

namespace livepatch {

RunMode runModeOf(const Config& config) {
    return parseSpelling<RunMode>(config.getOr("run-mode", "normal")).value_or(RunMode::Normal);
}

Status policyAllows(const PatchOffer& offer, const Config& config, std::chrono::system_clock::time_point now) {
    auto cutoff = config.getOr("cutoff-date", "");
    auto delay = config.getOr("patch-delay", "");
    if (cutoff.empty() && delay.empty()) return {};
    auto published = timeutil::parseRfc3339(offer.published);
    if (!published)
        return Error(
            ErrorCode::PolicyRefused,
            "patch " + offer.version + " has no valid publish date; cutoff-date/patch-delay cannot be checked");
    if (!cutoff.empty()) {
        auto c = timeutil::parseRfc3339(cutoff);
        if (c && *published > *c)
            return Error(ErrorCode::PolicyRefused,
                         "patch " + offer.version + " was published after cutoff-date " + cutoff);
    }
    if (!delay.empty()) {
        auto d = timeutil::parseDuration(delay);
        if (d && *published + *d > now)
            return Error(ErrorCode::PolicyRefused, "patch " + offer.version + " is newer than patch-delay " + delay);
    }
    return {};
}

OfferChoice chooseOffer(const std::vector<PatchOffer>& offers, const Config& config,
                        std::chrono::system_clock::time_point now) {
    OfferChoice choice;
    for (const auto& offer : offers) {
        auto ok = policyAllows(offer, config, now);
        if (!ok) {
            choice.refusal = ok.error().message();
            continue;
        }
        if (!choice.best || compareVersions(offer.version, choice.best->version) > 0) choice.best = &offer;
    }
    return choice;
}

std::string policyFingerprint(const Config& config) {
    std::string f;
    for (const char* k : {"cutoff-date", "patch-delay", "run-mode", "verifiers", "signature-hashes", "loader",
                          "keyring-dir", "remote-server", "allow-unversioned-modules",
                          // A 304 taken while the signed catalogue decided says nothing of the server's own offer.
                          "trust-root", "source-type"})
        f += std::string(k) + "=" + config.getOr(k, "") + "\n";
    return sha256Hex(f).substr(0, 16);
}

}  // namespace livepatch
