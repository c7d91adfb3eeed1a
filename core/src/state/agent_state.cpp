#include "state/agent_state.h"

#include "state/state_file.h"

#include <Poco/JSON/Array.h>
#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>

#include <sstream>
#include <stdexcept>

namespace livepatch {

namespace {

Poco::JSON::Array::Ptr fixesToJson(const std::vector<PatchFix>& fixes) {
    Poco::JSON::Array::Ptr arr(new Poco::JSON::Array);
    for (const auto& f : fixes) {
        Poco::JSON::Object::Ptr o(new Poco::JSON::Object);
        o->set("name", f.name);
        o->set("description", f.description);
        o->set("bug", f.bug);
        o->set("patched", f.patched);
        arr->add(o);
    }
    return arr;
}

std::vector<PatchFix> fixesFromJson(const Poco::JSON::Array::Ptr& arr) {
    std::vector<PatchFix> out;
    for (size_t i = 0; arr && i < arr->size(); ++i) {
        auto o = arr->getObject(static_cast<unsigned>(i));
        if (!o) throw std::runtime_error("fix is not an object");
        PatchFix f;
        f.name = o->optValue<std::string>("name", "");
        f.description = o->optValue<std::string>("description", "");
        f.bug = o->optValue<std::string>("bug", "");
        f.patched = o->optValue<bool>("patched", true);
        out.push_back(f);
    }
    return out;
}

Poco::JSON::Object::Ptr recordToJson(const AppliedPatchRecord& r) {
    Poco::JSON::Object::Ptr a(new Poco::JSON::Object);
    a->set("kernel", r.kernel);
    a->set("name", r.name);
    a->set("version", r.version);
    a->set("tarball-sha256", r.tarballSha256);
    a->set("module-sha256", r.moduleSha256);
    a->set("cache-path", r.cachePath);
    a->set("applied-at", r.appliedAt);
    a->set("boot-id", r.bootId);
    a->set("fixes", fixesToJson(r.fixes));
    return a;
}

std::optional<AppliedPatchRecord> recordFromJson(const Poco::JSON::Object::Ptr& o, const std::string& key) {
    if (!o->has(key) || o->isNull(key)) return std::nullopt;
    auto a = o->getObject(key);
    if (!a) throw std::runtime_error(key + " is not an object");
    AppliedPatchRecord r;
    r.kernel = a->getValue<std::string>("kernel");
    r.name = a->getValue<std::string>("name");
    r.version = a->getValue<std::string>("version");
    r.tarballSha256 = a->getValue<std::string>("tarball-sha256");
    r.moduleSha256 = a->optValue<std::string>("module-sha256", "");
    r.cachePath = a->getValue<std::string>("cache-path");
    r.appliedAt = a->optValue<std::string>("applied-at", "");
    r.bootId = a->optValue<std::string>("boot-id", "");
    r.fixes = fixesFromJson(a->getArray("fixes"));
    return r;
}

// One of the words of E, or the default when the field is absent (files
// written before it existed); any other word makes the document invalid.
template <typename E>
E stateField(const Poco::JSON::Object& o, const std::string& key, E absent) {
    const std::string word = o.optValue<std::string>(key, "");
    if (word.empty()) return absent;
    auto v = parseSpelling<E>(word);
    if (!v) throw std::runtime_error(key + " has an unknown value");
    return *v;
}

}  // namespace

std::string AgentState::toJson() const {
    Poco::JSON::Object o(Poco::JSON_PRESERVE_KEY_ORDER);
    o.set("format", format);
    o.set("enabled", enabled);
    o.set("server-url", serverUrl);
    o.set("tier", tier);
    o.set("token-kind", authPlugin);
    o.set("token-digest", tokenDigest);
    o.set("available-version", availableVersion);
    o.set("kernel", kernel);
    o.set("architecture", architecture);
    o.set("last-check", lastCheck);
    o.set("check-state", std::string(spelling(checkState)));
    o.set("check-error", checkError);
    o.set("catalogue", std::string(spelling(catalogue)));
    o.set("catalogue-expires", catalogueExpires);
    o.set("catalogue-version", catalogueVersion);
    o.set("etag", etag);
    o.set("etag-policy", etagPolicy);
    o.set("supported", std::string(spelling(supported)));
    o.set("upgrade-required-date", upgradeRequiredDate);
    o.set("patch-state", std::string(spelling(patchState)));
    o.set("patch-error", patchError);
    if (applied) o.set("applied", recordToJson(*applied));
    o.set("fixes", fixesToJson(fixes));
    if (inKernel) {
        Poco::JSON::Object::Ptr k(new Poco::JSON::Object);
        k->set("name", inKernel->name);
        k->set("version", inKernel->version);
        k->set("enabled", inKernel->enabled);
        k->set("transitioning", inKernel->transitioning);
        o.set("in-kernel", k);
    }
    o.set("loading-patch", loadingPatch);
    o.set("loading-boot-id", loadingBootId);
    o.set("loading-at", loadingAt);
    if (loadingRecord) o.set("loading-record", recordToJson(*loadingRecord));
    o.set("crash-guard", crashGuard);
    o.set("health-taint", healthTaint);
    o.set("health-oops", healthOops);
    std::ostringstream out;
    o.stringify(out, 2);
    return out.str();
}

Result<AgentState> AgentState::fromJson(const std::string& json) {
    try {
        Poco::JSON::Parser parser;
        auto o = parser.parse(json).extract<Poco::JSON::Object::Ptr>();
        AgentState s;
        s.format = o->getValue<int>("format");
        if (s.format != 1)
            return Error(ErrorCode::StateCorrupt, "state format " + std::to_string(s.format) + " is not supported");
        s.enabled = o->getValue<bool>("enabled");
        s.serverUrl = o->optValue<std::string>("server-url", "");
        s.tier = o->optValue<std::string>("tier", "");
        s.authPlugin = o->optValue<std::string>("token-kind", "");
        s.tokenDigest = o->optValue<std::string>("token-digest", "");
        s.availableVersion = o->optValue<std::string>("available-version", "");
        s.kernel = o->optValue<std::string>("kernel", "");
        s.architecture = o->optValue<std::string>("architecture", "");
        s.lastCheck = o->optValue<std::string>("last-check", "");
        s.checkState = stateField<CheckState>(*o, "check-state", CheckState::NeedsCheck);
        s.checkError = o->optValue<std::string>("check-error", "");
        s.catalogue = stateField<CatalogueKind>(*o, "catalogue", CatalogueKind::Unsigned);
        s.catalogueExpires = o->optValue<std::string>("catalogue-expires", "");
        s.catalogueVersion = o->optValue<long long>("catalogue-version", 0);
        s.etag = o->optValue<std::string>("etag", "");
        s.etagPolicy = o->optValue<std::string>("etag-policy", "");
        s.supported = stateField<KernelSupport>(*o, "supported", KernelSupport::Unknown);
        s.upgradeRequiredDate = o->optValue<std::string>("upgrade-required-date", "");
        s.patchState = stateField<PatchState>(*o, "patch-state", PatchState::Unapplied);
        s.patchError = o->optValue<std::string>("patch-error", "");
        s.applied = recordFromJson(o, "applied");
        s.fixes = fixesFromJson(o->getArray("fixes"));
        if (o->has("in-kernel") && !o->isNull("in-kernel")) {
            auto k = o->getObject("in-kernel");
            if (!k) throw std::runtime_error("in-kernel is not an object");
            s.inKernel =
                KernelPatchView{k->getValue<std::string>("name"), k->optValue<std::string>("version", ""),
                                k->optValue<bool>("enabled", false), k->optValue<bool>("transitioning", false)};
        }
        s.loadingPatch = o->optValue<std::string>("loading-patch", "");
        s.loadingBootId = o->optValue<std::string>("loading-boot-id", "");
        s.loadingAt = o->optValue<std::string>("loading-at", "");
        s.loadingRecord = recordFromJson(o, "loading-record");
        s.crashGuard = o->optValue<bool>("crash-guard", false);
        s.healthTaint = o->optValue<unsigned long long>("health-taint", 0);
        s.healthOops = o->optValue<unsigned long long>("health-oops", 0);
        return s;
    } catch (...) {
        return Error(ErrorCode::StateCorrupt, "state document is not valid agent state JSON");
    }
}

Result<AgentState> AgentState::load(const std::string& path) {
    auto payload = StateFile(path).load();
    if (!payload) return payload.error();
    if (!payload->has_value()) return AgentState{};
    auto st = fromJson(**payload);
    if (!st) return st.error().wrap(path);
    return st;
}

}  // namespace livepatch
