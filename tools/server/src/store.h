// Server state persisted in <data-dir>/state.json (atomic, 0600):
// auth tokens -> tier, registered machines, their last report. Secrets are
// kept only as SHA-256 digests: auth tokens, machine tokens, and for
// resource-token machines the digest of the macaroon identifier they
// registered with (their binding).
#pragma once

#include <map>
#include <mutex>
#include <optional>
#include <string>

#include "livepatch/error.h"

namespace lpserver {

struct Machine {
    std::string kind;          // auth-token | resource-token
    std::string tokenSha256;   // machine token digest (auth-token kind) or macaroon identifier digest (resource-token kind)
    std::string tier;
    std::string lastReport;    // JSON text
};

class Store {
public:
    explicit Store(std::string path);
    livepatch::Status load();
    livepatch::Status addAuthToken(const std::string& token, const std::string& tier);
    std::optional<std::string> tierForAuthToken(const std::string& token) const;
    // Returns the new machine token; AlreadyEnabled when the id is taken
    // (a registration never replaces another one: DELETE it first).
    livepatch::Result<std::string> registerWithAuthToken(const std::string& machineId, const std::string& tier);
    // Idempotent for the macaroon that registered the id, AlreadyEnabled for any other.
    livepatch::Status registerResource(const std::string& machineId, const std::string& tier, const std::string& macaroonIdSha256);
    std::optional<Machine> machineByToken(const std::string& machineId, const std::string& machineToken) const;
    // The machine whose machine token this is (downloads carry no machine id).
    std::optional<Machine> machineByTokenOnly(const std::string& machineToken) const;
    std::optional<Machine> machine(const std::string& machineId) const;
    livepatch::Status setReport(const std::string& machineId, const std::string& report);
    bool removeMachine(const std::string& machineId);

private:
    livepatch::Status save() const;
    std::string path_;
    mutable std::mutex mu_;
    std::map<std::string, std::string> authTokens_;
    std::map<std::string, Machine> machines_;
};

}  // namespace lpserver
