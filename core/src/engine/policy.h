// The operator's policy over what the server offers: the run mode, and which
// offer may be applied now (cutoff-date, patch-delay). Pure functions of the
// configuration and the time, so the cycle only asks and tests need no server.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "config/config.h"
#include "livepatch/error.h"
#include "protocol/api_client.h"
#include "util/spelling.h"

namespace livepatch {

// `run-mode`: normal | no-apply (check only) | no-refresh (apply cached
// only) | stop.
enum class RunMode { Normal, NoApply, NoRefresh, Stop };

template <>
struct Spellings<RunMode> {
    static constexpr std::pair<RunMode, const char*> table[] = {{RunMode::Normal, "normal"},
                                                                {RunMode::NoApply, "no-apply"},
                                                                {RunMode::NoRefresh, "no-refresh"},
                                                                {RunMode::Stop, "stop"}};
};

// The configured run mode (config validated the word; normal if unset).
RunMode runModeOf(const Config& config);

// May this offer be applied at `now`? PolicyRefused says why not.
Status policyAllows(const PatchOffer& offer, const Config& config, std::chrono::system_clock::time_point now);

// The newest offer that passes the policy (none if no offer does), and the
// reason the last refused one was refused (for the state and the summary).
struct OfferChoice {
    const PatchOffer* best = nullptr;  // points into the offers passed in
    std::string refusal;
};
OfferChoice chooseOffer(const std::vector<PatchOffer>& offers, const Config& config,
                        std::chrono::system_clock::time_point now);
// `best` would dangle once a temporary list is gone (ASan caught a test doing it).
OfferChoice chooseOffer(std::vector<PatchOffer>&& offers, const Config& config,
                        std::chrono::system_clock::time_point now) = delete;

// A 304 is only meaningful if we would decide the same way as when the ETag
// was taken: any change to a key that steers the decision changes this.
std::string policyFingerprint(const Config& config);

}  // namespace livepatch
