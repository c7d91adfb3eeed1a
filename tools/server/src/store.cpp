#include "store.h"

#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>
#include <openssl/rand.h>

#include <sstream>

#include "util/fs.h"
#include "crypto/sha256.h"

namespace lpserver {

using livepatch::Error;
using livepatch::ErrorCode;

Store::Store(std::string path) : path_(std::move(path)) {}

namespace {
Error alreadyRegistered(const std::string& machineId) {
    return Error(ErrorCode::AlreadyEnabled, "machine " + machineId + " is already registered; deregister it first");
}
}  // namespace

livepatch::Status Store::load() {
    std::lock_guard<std::mutex> l(mu_);
    auto text = livepatch::fs::readFile(path_);
    if (!text) return text.error().code() == ErrorCode::NotFound ? livepatch::Status{} : livepatch::Status(text.error());
    try {
        Poco::JSON::Parser p;
        auto o = p.parse(*text).extract<Poco::JSON::Object::Ptr>();
        // "auth-tokens" (plain, older files) is read once and kept hashed from then on.
        if (auto plain = o->getObject("auth-tokens"))
            for (const auto& k : plain->getNames()) authTokens_[livepatch::sha256Hex(k)] = plain->getValue<std::string>(k);
        if (auto hashed = o->getObject("auth-token-sha256"))
            for (const auto& k : hashed->getNames()) authTokens_[k] = hashed->getValue<std::string>(k);
        auto machines = o->getObject("machines");
        for (const auto& k : machines->getNames()) {
            auto m = machines->getObject(k);
            machines_[k] = Machine{m->getValue<std::string>("kind"), m->getValue<std::string>("token-sha256"),
                                   m->getValue<std::string>("tier"), m->optValue<std::string>("last-report", "")};
        }
        return {};
    } catch (...) {
        return Error(ErrorCode::StateCorrupt, path_ + " is not a valid server state file");
    }
}

livepatch::Status Store::save() const {
    Poco::JSON::Object o;
    Poco::JSON::Object::Ptr tokens(new Poco::JSON::Object);
    for (const auto& kv : authTokens_) tokens->set(kv.first, kv.second);
    Poco::JSON::Object::Ptr machines(new Poco::JSON::Object);
    for (const auto& kv : machines_) {
        Poco::JSON::Object::Ptr m(new Poco::JSON::Object);
        m->set("kind", kv.second.kind);
        m->set("token-sha256", kv.second.tokenSha256);
        m->set("tier", kv.second.tier);
        m->set("last-report", kv.second.lastReport);
        machines->set(kv.first, m);
    }
    o.set("auth-token-sha256", tokens);
    o.set("machines", machines);
    std::ostringstream out;
    o.stringify(out, 1);
    return livepatch::fs::writeFileAtomic(path_, out.str(), 0600);
}

livepatch::Status Store::addAuthToken(const std::string& token, const std::string& tier) {
    std::lock_guard<std::mutex> l(mu_);
    authTokens_[livepatch::sha256Hex(token)] = tier;
    return save();
}

std::optional<std::string> Store::tierForAuthToken(const std::string& token) const {
    std::lock_guard<std::mutex> l(mu_);
    // Looked up by digest: the lookup's timing says nothing about the token.
    const std::string digest = livepatch::sha256Hex(token);
    auto it = authTokens_.find(digest);
    if (it == authTokens_.end() || !livepatch::digestEquals(it->first, digest)) return std::nullopt;
    return it->second;
}

livepatch::Result<std::string> Store::registerWithAuthToken(const std::string& machineId, const std::string& tier) {
    unsigned char raw[32];
    RAND_bytes(raw, sizeof raw);
    static const char* hex = "0123456789abcdef";
    std::string token;
    for (unsigned char c : raw) {
        token += hex[c >> 4];
        token += hex[c & 15];
    }
    std::lock_guard<std::mutex> l(mu_);
    if (machines_.count(machineId)) return alreadyRegistered(machineId);
    machines_[machineId] = Machine{"auth-token", livepatch::sha256Hex(token), tier, ""};
    LP_TRY(save());
    return token;
}

livepatch::Status Store::registerResource(const std::string& machineId, const std::string& tier, const std::string& macaroonIdSha256) {
    std::lock_guard<std::mutex> l(mu_);
    auto it = machines_.find(machineId);
    if (it != machines_.end()) {
        if (it->second.kind == "resource-token" && livepatch::digestEquals(it->second.tokenSha256, macaroonIdSha256)) return {};
        return alreadyRegistered(machineId);
    }
    machines_[machineId] = Machine{"resource-token", macaroonIdSha256, tier, ""};
    return save();
}

std::optional<Machine> Store::machineByToken(const std::string& machineId, const std::string& machineToken) const {
    std::lock_guard<std::mutex> l(mu_);
    auto it = machines_.find(machineId);
    if (it == machines_.end() || it->second.kind != "auth-token") return std::nullopt;
    if (!livepatch::digestEquals(it->second.tokenSha256, livepatch::sha256Hex(machineToken))) return std::nullopt;
    return it->second;
}

std::optional<Machine> Store::machineByTokenOnly(const std::string& machineToken) const {
    const std::string digest = livepatch::sha256Hex(machineToken);
    std::lock_guard<std::mutex> l(mu_);
    for (const auto& kv : machines_)
        if (kv.second.kind == "auth-token" && livepatch::digestEquals(kv.second.tokenSha256, digest)) return kv.second;
    return std::nullopt;
}

std::optional<Machine> Store::machine(const std::string& machineId) const {
    std::lock_guard<std::mutex> l(mu_);
    auto it = machines_.find(machineId);
    if (it == machines_.end()) return std::nullopt;
    return it->second;
}

livepatch::Status Store::setReport(const std::string& machineId, const std::string& report) {
    std::lock_guard<std::mutex> l(mu_);
    auto it = machines_.find(machineId);
    if (it == machines_.end()) return Error(ErrorCode::NotFound, "unknown machine");
    it->second.lastReport = report;
    return save();
}

bool Store::removeMachine(const std::string& machineId) {
    std::lock_guard<std::mutex> l(mu_);
    bool had = machines_.erase(machineId) > 0;
    if (had) (void)save();
    return had;
}

}  // namespace lpserver
