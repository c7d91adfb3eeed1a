#include "tuf/metadata.h"

#include <fnmatch.h>

#include <ctime>
#include <set>

#include <openssl/evp.h>

#include "crypto/sha256.h"
#include "util/digest.h"

namespace livepatch::tuf {

const char* roleTypeName(RoleType type) noexcept {
    switch (type) {
    case RoleType::Root: return "root";
    case RoleType::Timestamp: return "timestamp";
    case RoleType::Snapshot: return "snapshot";
    case RoleType::Targets: return "targets";
    }
    return "";
}

namespace {

Error bad(const std::string& where, const std::string& why) { return Error(ErrorCode::Protocol, where + ": " + why); }

// Typed member access with the error naming the field ("timestamp.json: signed.version: ...").
Result<const Json*> member(const Json& obj, const std::string& key, Json::Kind kind, const std::string& where) {
    const Json* v = obj.find(key);
    if (!v) return bad(where, "missing \"" + key + "\"");
    if (v->kind() != kind) return bad(where, "\"" + key + "\" has the wrong type");
    return v;
}

Result<std::int64_t> positiveInteger(const Json& obj, const std::string& key, const std::string& where,
                                     std::int64_t min) {
    auto v = member(obj, key, Json::Kind::Integer, where);
    if (!v) return v.error();
    if ((*v)->asInteger() < min) return bad(where, "\"" + key + "\" must be >= " + std::to_string(min));
    return (*v)->asInteger();
}

Result<std::map<std::string, std::string>> parseHashes(const Json& obj, const std::string& where) {
    std::map<std::string, std::string> out;
    if (!obj.isObject() || obj.asObject().empty()) return bad(where, "\"hashes\" must be a non-empty object");
    for (const auto& [alg, hex] : obj.asObject()) {
        if (!hex.isString() || hex.asString().empty() || hex.asString().size() > 256 ||
            hex.asString().find_first_not_of("0123456789abcdefABCDEF") != std::string::npos)
            return bad(where, "hash \"" + alg + "\" is not hex");
        out[alg] = hex.asString();
    }
    return out;
}

Result<MetaFile> parseMetaFile(const Json& obj, const std::string& where) {
    if (!obj.isObject()) return bad(where, "not an object");
    MetaFile out;
    auto version = positiveInteger(obj, "version", where, 1);
    if (!version) return version.error();
    out.version = *version;
    if (obj.find("length")) {
        auto length = positiveInteger(obj, "length", where, 1);
        if (!length) return length.error();
        out.length = static_cast<std::uint64_t>(*length);
    }
    if (const Json* hashes = obj.find("hashes")) {
        auto h = parseHashes(*hashes, where);
        if (!h) return h.error();
        out.hashes = std::move(*h);
    }
    return out;
}

Result<std::vector<std::string>> stringList(const Json& obj, const std::string& key, const std::string& where) {
    auto arr = member(obj, key, Json::Kind::Array, where);
    if (!arr) return arr.error();
    std::vector<std::string> out;
    std::set<std::string> seen;
    for (const auto& e : (*arr)->asArray()) {
        if (!e.isString()) return bad(where, "\"" + key + "\" must hold strings");
        if (!seen.insert(e.asString()).second)
            return bad(where, "\"" + key + "\" lists \"" + e.asString() + "\" twice");
        out.push_back(e.asString());
    }
    return out;
}

Result<RoleKeys> parseRoleKeys(const Json& obj, const std::string& where) {
    RoleKeys out;
    auto keyids = stringList(obj, "keyids", where);
    if (!keyids) return keyids.error();
    out.keyids = std::move(*keyids);
    auto threshold = positiveInteger(obj, "threshold", where, 1);
    if (!threshold) return threshold.error();
    out.threshold = *threshold;
    return out;
}

// Keys by id; each id must be the SHA-256 of its canonical key object so one
// key cannot be counted twice toward a threshold under two ids.
Result<std::map<std::string, PublicKey>> parseKeys(const Json& obj, const std::string& where) {
    if (!obj.isObject()) return bad(where, "\"keys\" must be an object");
    std::map<std::string, PublicKey> out;
    for (const auto& [keyid, keyJson] : obj.asObject()) {
        auto key = PublicKey::fromJson(keyJson);
        if (!key) return key.error().wrap(where + ": key " + keyid.substr(0, 16));
        if (key->computeKeyId() != keyid)
            return bad(where, "key id " + keyid.substr(0, 16) + " is not the SHA-256 of its key");
        out.emplace(keyid, std::move(*key));
    }
    return out;
}

// Split the envelope and check the fields every role shares.
Status parseCommon(std::string_view bytes, std::uint64_t maxLength, RoleType type, Common& out) {
    const std::string where = std::string(roleTypeName(type)) + " metadata";
    if (bytes.size() > maxLength)
        return Error(ErrorCode::TooLarge, where + " is larger than " + std::to_string(maxLength) + " bytes");
    JsonLimits limits;
    limits.maxBytes = maxLength;
    auto doc = parseJson(bytes, limits);
    if (!doc) return doc.error().wrap(where);
    auto signedObj = member(*doc, "signed", Json::Kind::Object, where);
    if (!signedObj) return signedObj.error();
    auto sigs = member(*doc, "signatures", Json::Kind::Array, where);
    if (!sigs) return sigs.error();
    for (const auto& s : (*sigs)->asArray()) {
        auto keyid = member(s, "keyid", Json::Kind::String, where + ": signature");
        if (!keyid) return keyid.error();
        auto sig = member(s, "sig", Json::Kind::String, where + ": signature");
        if (!sig) return sig.error();
        out.signatures.push_back({(*keyid)->asString(), (*sig)->asString()});
    }
    const Json& body = **signedObj;
    auto typeField = member(body, "_type", Json::Kind::String, where);
    if (!typeField) return typeField.error();
    if ((*typeField)->asString() != roleTypeName(type))
        return bad(where, "\"_type\" is \"" + (*typeField)->asString() + "\", expected \"" + roleTypeName(type) + "\"");
    out.type = type;
    auto spec = member(body, "spec_version", Json::Kind::String, where);
    if (!spec) return spec.error();
    const std::string& sv = (*spec)->asString();
    if (sv.rfind("1.", 0) != 0)
        return bad(where, "unsupported spec_version \"" + sv + "\" (this client implements 1.x)");
    out.specVersion = sv;
    auto version = positiveInteger(body, "version", where, 1);
    if (!version) return version.error();
    out.version = *version;
    auto expires = member(body, "expires", Json::Kind::String, where);
    if (!expires) return expires.error();
    auto t = parseExpires((*expires)->asString());
    if (!t) return t.error().wrap(where);
    out.expires = *t;
    // Move, not copy: a targets role with many entries is most of the work.
    out.signedJson = std::move(doc->asObject().at("signed"));
    return {};
}

bool isTopLevelName(const std::string& name) {
    return name == "root" || name == "timestamp" || name == "snapshot" || name == "targets";
}

Result<Delegations> parseDelegations(const Json& obj, const std::string& where) {
    Delegations out;
    auto keys = member(obj, "keys", Json::Kind::Object, where);
    if (!keys) return keys.error();
    auto parsedKeys = parseKeys(**keys, where);
    if (!parsedKeys) return parsedKeys.error();
    out.keys = std::move(*parsedKeys);
    auto roles = member(obj, "roles", Json::Kind::Array, where);
    if (!roles) return roles.error();
    std::set<std::string> names;
    for (const auto& r : (*roles)->asArray()) {
        DelegatedRole role;
        auto name = member(r, "name", Json::Kind::String, where + ": role");
        if (!name) return name.error();
        role.name = (*name)->asString();
        const std::string roleWhere = where + ": role \"" + role.name + "\"";
        if (role.name.empty() || isTopLevelName(role.name)) return bad(roleWhere, "invalid delegated role name");
        if (!names.insert(role.name).second) return bad(roleWhere, "delegated twice");
        auto keysOf = parseRoleKeys(r, roleWhere);
        if (!keysOf) return keysOf.error();
        role.keys = std::move(*keysOf);
        auto terminating = member(r, "terminating", Json::Kind::Bool, roleWhere);
        if (!terminating) return terminating.error();
        role.terminating = (*terminating)->asBool();
        bool hasPaths = r.find("paths") != nullptr, hasPrefixes = r.find("path_hash_prefixes") != nullptr;
        if (hasPaths && hasPrefixes) return bad(roleWhere, "has both \"paths\" and \"path_hash_prefixes\"");
        if (hasPaths) {
            auto p = stringList(r, "paths", roleWhere);
            if (!p) return p.error();
            role.paths = std::move(*p);
        }
        if (hasPrefixes) {
            auto p = stringList(r, "path_hash_prefixes", roleWhere);
            if (!p) return p.error();
            role.pathHashPrefixes = std::move(*p);
        }
        out.roles.push_back(std::move(role));
    }
    return out;
}

}  // namespace

bool DelegatedRole::trustedFor(const std::string& targetPath) const {
    if (!pathHashPrefixes.empty()) {
        std::string digest = sha256Hex(targetPath);
        for (const auto& prefix : pathHashPrefixes)
            if (digest.compare(0, prefix.size(), prefix) == 0) return true;
        return false;
    }
    // A pattern matches segment by segment: '*' never crosses a '/'.
    auto segments = [](const std::string& s) {
        std::vector<std::string> out;
        std::size_t start = 0;
        for (;;) {
            std::size_t slash = s.find('/', start);
            out.push_back(s.substr(start, slash == std::string::npos ? std::string::npos : slash - start));
            if (slash == std::string::npos) return out;
            start = slash + 1;
        }
    };
    auto target = segments(targetPath);
    for (const auto& pattern : paths) {
        auto parts = segments(pattern);
        if (parts.size() != target.size()) continue;
        bool all = true;
        for (std::size_t i = 0; i < parts.size() && all; ++i)
            all = ::fnmatch(parts[i].c_str(), target[i].c_str(), 0) == 0;
        if (all) return true;
    }
    return false;
}

Result<Root> parseRoot(std::string_view bytes, std::uint64_t maxLength) {
    Root out;
    auto s = parseCommon(bytes, maxLength, RoleType::Root, out);
    if (!s) return s.error();
    const std::string where = "root metadata";
    auto cs = member(out.signedJson, "consistent_snapshot", Json::Kind::Bool, where);
    if (!cs) return cs.error();
    out.consistentSnapshot = (*cs)->asBool();
    auto keys = member(out.signedJson, "keys", Json::Kind::Object, where);
    if (!keys) return keys.error();
    auto parsedKeys = parseKeys(**keys, where);
    if (!parsedKeys) return parsedKeys.error();
    out.keys = std::move(*parsedKeys);
    auto roles = member(out.signedJson, "roles", Json::Kind::Object, where);
    if (!roles) return roles.error();
    for (const char* name : {"root", "timestamp", "snapshot", "targets"}) {
        const Json* role = (*roles)->find(name);
        if (!role || !role->isObject()) return bad(where, std::string("missing role \"") + name + "\"");
        auto rk = parseRoleKeys(*role, where + ": role " + name);
        if (!rk) return rk.error();
        for (const auto& id : rk->keyids)
            if (!out.keys.count(id))
                return bad(where,
                           std::string("role ") + name + " names key " + id.substr(0, 16) + " that is not in \"keys\"");
        out.roles.emplace(name, std::move(*rk));
    }
    return out;
}

Result<Timestamp> parseTimestamp(std::string_view bytes, std::uint64_t maxLength) {
    Timestamp out;
    auto s = parseCommon(bytes, maxLength, RoleType::Timestamp, out);
    if (!s) return s.error();
    const std::string where = "timestamp metadata";
    auto meta = member(out.signedJson, "meta", Json::Kind::Object, where);
    if (!meta) return meta.error();
    const Json* snap = (*meta)->find("snapshot.json");
    if (!snap || (*meta)->asObject().size() != 1) return bad(where, "\"meta\" must list exactly \"snapshot.json\"");
    auto mf = parseMetaFile(*snap, where + ": snapshot.json");
    if (!mf) return mf.error();
    out.snapshot = std::move(*mf);
    return out;
}

Result<Snapshot> parseSnapshot(std::string_view bytes, std::uint64_t maxLength) {
    Snapshot out;
    auto s = parseCommon(bytes, maxLength, RoleType::Snapshot, out);
    if (!s) return s.error();
    const std::string where = "snapshot metadata";
    auto meta = member(out.signedJson, "meta", Json::Kind::Object, where);
    if (!meta) return meta.error();
    for (const auto& [name, entry] : (*meta)->asObject()) {
        auto mf = parseMetaFile(entry, where + ": " + name);
        if (!mf) return mf.error();
        out.meta.emplace(name, std::move(*mf));
    }
    if (!out.meta.count("targets.json")) return bad(where, "\"meta\" does not list \"targets.json\"");
    return out;
}

Result<Targets> parseTargets(std::string_view bytes, std::uint64_t maxLength) {
    Targets out;
    auto s = parseCommon(bytes, maxLength, RoleType::Targets, out);
    if (!s) return s.error();
    const std::string where = "targets metadata";
    auto targets = member(out.signedJson, "targets", Json::Kind::Object, where);
    if (!targets) return targets.error();
    for (const auto& [path, entry] : (*targets)->asObject()) {
        const std::string tw = where + ": target \"" + path + "\"";
        if (!entry.isObject()) return bad(tw, "not an object");
        TargetFile tf;
        tf.path = path;
        auto length = positiveInteger(entry, "length", tw, 0);
        if (!length) return length.error();
        tf.length = static_cast<std::uint64_t>(*length);
        const Json* hashes = entry.find("hashes");
        if (!hashes) return bad(tw, "missing \"hashes\"");
        auto h = parseHashes(*hashes, tw);
        if (!h) return h.error();
        tf.hashes = std::move(*h);
        if (const Json* custom = entry.find("custom")) tf.custom = *custom;
        out.targets.emplace(path, std::move(tf));
    }
    if (const Json* d = out.signedJson.find("delegations")) {
        auto del = parseDelegations(*d, where + ": delegations");
        if (!del) return del.error();
        out.delegations = std::move(*del);
    }
    return out;
}

Status verifyThreshold(const Common& md, const std::map<std::string, PublicKey>& keys, const RoleKeys& role,
                       const std::string& what) {
    const std::string data = canonicalJson(md.signedJson);
    std::int64_t valid = 0;
    for (const auto& keyid : role.keyids) {  // keyids are unique (checked at parse)
        auto key = keys.find(keyid);
        if (key == keys.end()) continue;
        for (const auto& sig : md.signatures) {
            if (sig.keyid == keyid && key->second.verify(data, sig.sig)) {
                ++valid;
                break;
            }
        }
    }
    if (valid >= role.threshold) return {};
    return Error(ErrorCode::SignatureInvalid, what + ": " + std::to_string(valid) + " of " +
                                                  std::to_string(role.threshold) + " required signatures are valid");
}

Status checkHashes(std::string_view data, const std::map<std::string, std::string>& hashes, const std::string& what) {
    int checked = 0;
    for (const auto& [alg, expected] : hashes) {
        std::string actual;
        if (alg == "sha256") {
            actual = sha256Hex(data);
        } else if (alg == "sha512") {
            unsigned char md[EVP_MAX_MD_SIZE];
            unsigned int len = 0;
            if (EVP_Digest(data.data(), data.size(), md, &len, EVP_sha512(), nullptr) != 1)
                return Error(ErrorCode::Internal, "SHA-512 failed");
            actual = hexEncode(md, len);
        } else {
            continue;  // unknown algorithms are skipped; one known one must match
        }
        if (!digestEquals(actual, expected))
            return Error(ErrorCode::ChecksumMismatch, what + ": " + alg + " does not match the signed metadata");
        ++checked;
    }
    if (!checked) return Error(ErrorCode::Protocol, what + ": no sha256 or sha512 hash in the signed metadata");
    return {};
}

Result<std::int64_t> parseExpires(const std::string& text) {
    // Fixed shape first: sscanf alone would accept signs and spaces.
    static const char shape[] = "dddd-dd-ddTdd:dd:ddZ";
    if (text.size() != 20) return Error(ErrorCode::Protocol, "\"expires\" is not YYYY-MM-DDTHH:MM:SSZ");
    for (std::size_t i = 0; i < 20; ++i)
        if (shape[i] == 'd' ? !(text[i] >= '0' && text[i] <= '9') : text[i] != shape[i])
            return Error(ErrorCode::Protocol, "\"expires\" is not YYYY-MM-DDTHH:MM:SSZ");
    int y, mo, d, h, mi, s;
    char z = 0;
    int consumed = 0;
    if (text.size() != 20 ||
        std::sscanf(text.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%c%n", &y, &mo, &d, &h, &mi, &s, &z, &consumed) != 7 ||
        consumed != 20 || z != 'Z' || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 60 || y < 1970)
        return Error(ErrorCode::Protocol, "\"expires\" is not YYYY-MM-DDTHH:MM:SSZ");
    std::tm tm{};
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = s;
    return static_cast<std::int64_t>(::timegm(&tm));
}

std::string formatExpires(std::int64_t unixSeconds) {
    std::time_t t = static_cast<std::time_t>(unixSeconds);
    std::tm tm{};
    ::gmtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

// ---- writing ------------------------------------------------------------
namespace {

Json commonJson(const Common& c) {
    return Json(Json::Object{{"_type", Json(roleTypeName(c.type))},
                             {"spec_version", Json(c.specVersion)},
                             {"version", Json(c.version)},
                             {"expires", Json(formatExpires(c.expires))}});
}

Json hashesJson(const std::map<std::string, std::string>& hashes) {
    Json::Object o;
    for (const auto& [alg, hex] : hashes) o.emplace(alg, Json(hex));
    return Json(o);
}

Json metaFileJson(const MetaFile& m) {
    Json::Object o{{"version", Json(m.version)}};
    if (m.length) o.emplace("length", Json(static_cast<std::int64_t>(*m.length)));
    if (!m.hashes.empty()) o.emplace("hashes", hashesJson(m.hashes));
    return Json(o);
}

Json keysJson(const std::map<std::string, PublicKey>& keys) {
    Json::Object o;
    for (const auto& [id, key] : keys) o.emplace(id, key.json());
    return Json(o);
}

Json roleKeysJson(const RoleKeys& r) {
    Json::Array ids;
    for (const auto& id : r.keyids) ids.emplace_back(id);
    return Json(Json::Object{{"keyids", Json(ids)}, {"threshold", Json(r.threshold)}});
}

Json stringsJson(const std::vector<std::string>& v) {
    Json::Array a;
    for (const auto& s : v) a.emplace_back(s);
    return Json(a);
}

}  // namespace

Json toSignedJson(const Root& root) {
    Json out = commonJson(root);
    out["consistent_snapshot"] = Json(root.consistentSnapshot);
    out["keys"] = keysJson(root.keys);
    Json::Object roles;
    for (const auto& [name, r] : root.roles) roles.emplace(name, roleKeysJson(r));
    out["roles"] = Json(roles);
    return out;
}

Json toSignedJson(const Timestamp& timestamp) {
    Json out = commonJson(timestamp);
    out["meta"] = Json(Json::Object{{"snapshot.json", metaFileJson(timestamp.snapshot)}});
    return out;
}

Json toSignedJson(const Snapshot& snapshot) {
    Json out = commonJson(snapshot);
    Json::Object meta;
    for (const auto& [name, m] : snapshot.meta) meta.emplace(name, metaFileJson(m));
    out["meta"] = Json(meta);
    return out;
}

Json toSignedJson(const Targets& targets) {
    Json out = commonJson(targets);
    Json::Object files;
    for (const auto& [path, t] : targets.targets) {
        Json::Object f{{"length", Json(static_cast<std::int64_t>(t.length))}, {"hashes", hashesJson(t.hashes)}};
        if (t.custom.kind() != Json::Kind::Null) f.emplace("custom", t.custom);
        files.emplace(path, Json(f));
    }
    out["targets"] = Json(files);
    if (targets.delegations) {
        Json::Array roles;
        for (const auto& r : targets.delegations->roles) {
            Json role = roleKeysJson(r.keys);
            role["name"] = Json(r.name);
            role["terminating"] = Json(r.terminating);
            if (!r.pathHashPrefixes.empty()) role["path_hash_prefixes"] = stringsJson(r.pathHashPrefixes);
            else role["paths"] = stringsJson(r.paths);
            roles.push_back(role);
        }
        out["delegations"] = Json(Json::Object{{"keys", keysJson(targets.delegations->keys)}, {"roles", Json(roles)}});
    }
    return out;
}

Result<std::string> signEnvelope(const Json& signedJson, const std::vector<const SigningKey*>& keys) {
    const std::string data = canonicalJson(signedJson);
    Json::Array sigs;
    for (const SigningKey* key : keys) {
        auto sig = key->sign(data);
        if (!sig) return sig.error();
        sigs.push_back(Json(Json::Object{{"keyid", Json(key->keyId())}, {"sig", Json(*sig)}}));
    }
    return prettyJson(Json(Json::Object{{"signed", signedJson}, {"signatures", Json(sigs)}}));
}

}  // namespace livepatch::tuf
