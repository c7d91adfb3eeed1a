#include "state/credential_store.h"

#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>

#include <sstream>

namespace livepatch {

Result<std::optional<Credential>> CredentialStore::load() const {
    auto payload = file_.load();
    if (!payload) return payload.error();
    if (!payload->has_value()) return std::optional<Credential>();
    try {
        Poco::JSON::Parser parser;
        auto obj = parser.parse(**payload).extract<Poco::JSON::Object::Ptr>();
        Credential c;
        c.kind = obj->getValue<std::string>("kind");
        c.secret = obj->getValue<std::string>("secret");
        if (obj->has("expires") && !obj->isNull("expires")) c.expires = obj->getValue<std::string>("expires");
        if (c.kind.empty() || c.secret.empty()) throw std::runtime_error("empty");
        return std::optional<Credential>(c);
    } catch (...) {
        return Error(ErrorCode::StateCorrupt, file_.path() + " does not hold a valid credential");
    }
}

Status CredentialStore::save(const Credential& credential) const {
    Poco::JSON::Object obj;
    obj.set("kind", credential.kind);
    obj.set("secret", credential.secret);
    if (credential.expires) obj.set("expires", *credential.expires);
    std::ostringstream out;
    obj.stringify(out);
    return file_.save(out.str());
}

}  // namespace livepatch
