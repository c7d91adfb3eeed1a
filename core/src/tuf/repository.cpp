#include "tuf/repository.h"

#include <algorithm>
#include <filesystem>

#include "crypto/sha256.h"
#include "tuf/updater.h"
#include "util/fs.h"

namespace livepatch::tuf {
namespace {

// Everything under the repository is public (served by a web server): 0644
// files, 0755 directories. Private keys never live here.
constexpr mode_t kPublicFile = 0644;

Status makePublicDir(const std::string& dir) {
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) return Error(ErrorCode::Io, "cannot create " + dir + ": " + ec.message());
    return {};
}

MetaFile describe(std::int64_t version, const std::string& bytes) {
    MetaFile m;
    m.version = version;
    m.length = bytes.size();
    m.hashes["sha256"] = sha256Hex(bytes);
    return m;
}

std::vector<std::string> keyIds(const std::vector<const SigningKey*>& keys) {
    std::vector<std::string> out;
    for (const SigningKey* k : keys) out.push_back(k->keyId());
    return out;
}

}  // namespace

std::string hashPrefixedPath(const std::string& path, const std::string& sha256) {
    std::size_t slash = path.rfind('/');
    std::size_t base = slash == std::string::npos ? 0 : slash + 1;
    return path.substr(0, base) + sha256 + "." + path.substr(base);
}

std::string Repository::metadataDir() const { return fs::join(s_.dir, "metadata"); }
std::string Repository::targetsDir() const { return fs::join(s_.dir, "targets"); }

Result<std::string> Repository::writeVersioned(const std::string& role, std::int64_t version,
                                               const std::string& bytes) {
    std::string name = (version > 0 ? std::to_string(version) + "." : std::string()) + role + ".json";
    auto s = fs::writeFileAtomic(fs::join(metadataDir(), name), bytes, kPublicFile);
    if (!s) return s.error();
    return bytes;
}

Status Repository::writeRoot(const std::vector<const SigningKey*>& keys) {
    auto bytes = signEnvelope(toSignedJson(s_.root), keys);
    if (!bytes) return bytes.error();
    // N.root.json for clients walking the chain, root.json for bootstrapping.
    auto w = writeVersioned("root", s_.root.version, *bytes);
    if (!w) return w.error();
    w = writeVersioned("root", 0, *bytes);
    if (!w) return w.error();
    s_.root.signedJson = toSignedJson(s_.root);
    return {};
}

Status Repository::writeTargets(const SigningKey& key) {
    auto bytes = signEnvelope(toSignedJson(s_.targets), {&key});
    if (!bytes) return bytes.error();
    auto w = writeVersioned("targets", s_.targets.version, *bytes);
    if (!w) return w.error();
    targetsBytes_ = *bytes;
    return {};
}

Result<Repository> Repository::create(const std::string& dir, const std::vector<const SigningKey*>& rootKeys,
                                      const SigningKey& targets, const SigningKey& snapshot,
                                      const SigningKey& timestamp, std::int64_t now, const Expiries& expiries) {
    Repository repo;
    repo.s_.dir = dir;
    repo.expiries_ = expiries;
    if (fs::exists(fs::join(repo.metadataDir(), "root.json")))
        return Error(ErrorCode::AlreadyEnabled, dir + " already holds a repository");
    for (const auto& d : {repo.metadataDir(), repo.targetsDir()}) {
        auto s = makePublicDir(d);
        if (!s) return s.error();
    }
    Root& root = repo.s_.root;
    root.type = RoleType::Root;
    root.version = 1;
    root.expires = now + expiries.root;
    root.consistentSnapshot = true;
    auto addRole = [&](const std::string& role, const std::vector<const SigningKey*>& keys) -> Status {
        RoleKeys rk;
        for (const SigningKey* k : keys) {
            auto pub = PublicKey::fromJson(k->publicJson());
            if (!pub) return pub.error();
            root.keys.emplace(k->keyId(), std::move(*pub));
            rk.keyids.push_back(k->keyId());
        }
        rk.threshold = static_cast<std::int64_t>(keys.size() + 1) / 2;  // a majority of root keys
        root.roles[role] = rk;
        return {};
    };
    Status s;
    if (!(s = addRole("root", rootKeys)) || !(s = addRole("targets", {&targets})) ||
        !(s = addRole("snapshot", {&snapshot})) || !(s = addRole("timestamp", {&timestamp})))
        return s.error();
    if (!(s = repo.writeRoot(rootKeys))) return s.error();
    repo.s_.targets.type = RoleType::Targets;
    repo.s_.targets.version = 1;
    repo.s_.targets.expires = now + expiries.targets;
    if (!(s = repo.writeTargets(targets))) return s.error();
    repo.s_.snapshot.type = RoleType::Snapshot;
    repo.s_.snapshot.version = 0;  // publishOnline makes it 1
    repo.s_.timestamp.type = RoleType::Timestamp;
    repo.s_.timestamp.version = 0;
    if (!(s = repo.publishOnline(snapshot, timestamp, now))) return s.error();
    return repo;
}

Result<Repository> Repository::open(const std::string& dir) {
    Repository repo;
    repo.s_.dir = dir;
    const MetadataLimits limits;
    auto read = [&](const std::string& name, std::uint64_t max) {
        return fs::readFile(fs::join(repo.metadataDir(), name), max);
    };
    auto rootBytes = read("root.json", limits.rootMaxLength);
    if (!rootBytes) return rootBytes.error().wrap("opening the repository");
    auto root = parseRoot(*rootBytes, limits.rootMaxLength);
    if (!root) return root.error();
    repo.s_.root = std::move(*root);
    auto tsBytes = read("timestamp.json", limits.timestampMaxLength);
    if (!tsBytes) return tsBytes.error();
    auto ts = parseTimestamp(*tsBytes, limits.timestampMaxLength);
    if (!ts) return ts.error();
    repo.s_.timestamp = std::move(*ts);
    auto snBytes =
        read(std::to_string(repo.s_.timestamp.snapshot.version) + ".snapshot.json", limits.snapshotMaxLength);
    if (!snBytes) return snBytes.error();
    auto sn = parseSnapshot(*snBytes, limits.snapshotMaxLength);
    if (!sn) return sn.error();
    repo.s_.snapshot = std::move(*sn);
    repo.snapshotBytes_ = *snBytes;
    auto tgBytes = read(std::to_string(repo.s_.snapshot.meta.at("targets.json").version) + ".targets.json",
                        limits.targetsMaxLength);
    if (!tgBytes) return tgBytes.error();
    auto tg = parseTargets(*tgBytes, limits.targetsMaxLength);
    if (!tg) return tg.error();
    repo.s_.targets = std::move(*tg);
    repo.targetsBytes_ = *tgBytes;
    for (const auto& [file, meta] : repo.s_.snapshot.meta) {
        if (file == "targets.json") continue;
        const std::string role = file.substr(0, file.size() - 5);  // strip ".json"
        auto bytes = read(std::to_string(meta.version) + "." + file, limits.targetsMaxLength);
        if (!bytes) return bytes.error();
        auto t = parseTargets(*bytes, limits.targetsMaxLength);
        if (!t) return t.error().wrap(file);
        repo.s_.delegated[role] = std::move(*t);
        repo.delegatedBytes_[role] = *bytes;
    }
    return repo;
}

Result<TargetFile> Repository::storeTargetFile(const std::string& path, const std::string& data, const Json& custom) {
    if (!isSafeTargetPath(path))
        return Error(ErrorCode::InvalidArgument, "unsafe target path \"" + printable(path) + "\"");
    TargetFile tf;
    tf.path = path;
    tf.length = data.size();
    tf.hashes["sha256"] = sha256Hex(data);
    tf.custom = custom;
    const std::string file = fs::join(targetsDir(), hashPrefixedPath(path, tf.hashes["sha256"]));
    auto s = makePublicDir(std::filesystem::path(file).parent_path().string());
    if (!s) return s.error();
    if (!(s = fs::writeFileAtomic(file, data, kPublicFile))) return s.error();
    return tf;
}

Status Repository::addTarget(const std::string& path, const std::string& data, const Json& custom,
                             const SigningKey& targetsKey, std::int64_t now) {
    auto tf = storeTargetFile(path, data, custom);
    if (!tf) return tf.error();
    s_.targets.targets[path] = std::move(*tf);
    return resignTargets(targetsKey, now);
}

Status Repository::writeDelegated(const std::string& role, const std::vector<const SigningKey*>& keys) {
    auto bytes = signEnvelope(toSignedJson(s_.delegated.at(role)), keys);
    if (!bytes) return bytes.error();
    auto w = writeVersioned(role, s_.delegated.at(role).version, *bytes);
    if (!w) return w.error();
    delegatedBytes_[role] = *bytes;
    return {};
}

Status Repository::delegate(const std::string& name, const std::vector<std::string>& paths, bool terminating,
                            const std::vector<const SigningKey*>& roleKeys, std::int64_t threshold,
                            const SigningKey& targetsKey, std::int64_t now) {
    if (name.empty() || name.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789._-") != std::string::npos ||
        name == "root" || name == "timestamp" || name == "snapshot" || name == "targets")
        return Error(ErrorCode::InvalidArgument,
                     "role name must be [a-z0-9._-] and not a top-level role: \"" + printable(name) + "\"");
    if (s_.delegated.count(name)) return Error(ErrorCode::InvalidArgument, "role " + name + " is already delegated");
    if (roleKeys.empty() || threshold < 1 || threshold > static_cast<std::int64_t>(roleKeys.size()))
        return Error(ErrorCode::InvalidArgument, "threshold must be between 1 and the number of keys");
    if (!s_.targets.delegations) s_.targets.delegations = Delegations{};
    DelegatedRole role;
    role.name = name;
    role.paths = paths;
    role.terminating = terminating;
    role.keys.threshold = threshold;
    for (const SigningKey* k : roleKeys) {
        auto pub = PublicKey::fromJson(k->publicJson());
        if (!pub) return pub.error();
        s_.targets.delegations->keys.emplace(k->keyId(), std::move(*pub));
        role.keys.keyids.push_back(k->keyId());
    }
    s_.targets.delegations->roles.push_back(role);
    Targets t;
    t.type = RoleType::Targets;
    t.version = 1;
    t.expires = now + expiries_.targets;
    s_.delegated[name] = t;
    auto s = writeDelegated(name, roleKeys);
    if (!s) return s;
    return resignTargets(targetsKey, now);
}

Status Repository::addDelegatedTarget(const std::string& role, const std::string& path, const std::string& data,
                                      const Json& custom, const std::vector<const SigningKey*>& roleKeys,
                                      std::int64_t now) {
    auto it = s_.delegated.find(role);
    if (it == s_.delegated.end()) return Error(ErrorCode::NotFound, "no delegated role " + printable(role));
    auto tf = storeTargetFile(path, data, custom);
    if (!tf) return tf.error();
    it->second.targets[path] = std::move(*tf);
    it->second.version += 1;
    it->second.expires = now + expiries_.targets;
    return writeDelegated(role, roleKeys);
}

Status Repository::removeTarget(const std::string& path, const SigningKey& targetsKey, std::int64_t now) {
    if (!s_.targets.targets.erase(path)) return Error(ErrorCode::NotFound, "no target " + path);
    // The file stays: clients still working from the previous snapshot may fetch it.
    return resignTargets(targetsKey, now);
}

Status Repository::resignTargets(const SigningKey& targetsKey, std::int64_t now) {
    s_.targets.version += 1;
    s_.targets.expires = now + expiries_.targets;
    return writeTargets(targetsKey);
}

Status Repository::publishOnline(const SigningKey& snapshotKey, const SigningKey& timestampKey, std::int64_t now) {
    Snapshot& sn = s_.snapshot;
    sn.version += 1;
    sn.expires = now + expiries_.snapshot;
    sn.meta["targets.json"] = describe(s_.targets.version, targetsBytes_);
    for (const auto& [name, t] : s_.delegated) sn.meta[name + ".json"] = describe(t.version, delegatedBytes_.at(name));
    auto bytes = signEnvelope(toSignedJson(sn), {&snapshotKey});
    if (!bytes) return bytes.error();
    auto w = writeVersioned("snapshot", sn.version, *bytes);
    if (!w) return w.error();
    snapshotBytes_ = *bytes;
    return resignTimestamp(timestampKey, now);
}

Status Repository::resignTimestamp(const SigningKey& timestampKey, std::int64_t now) {
    Timestamp& ts = s_.timestamp;
    ts.version += 1;
    ts.expires = now + expiries_.timestamp;
    ts.snapshot = describe(s_.snapshot.version, snapshotBytes_);
    auto bytes = signEnvelope(toSignedJson(ts), {&timestampKey});
    if (!bytes) return bytes.error();
    auto w = writeVersioned("timestamp", 0, *bytes);
    if (!w) return w.error();
    return {};
}

Status Repository::rotateKeys(const std::string& role, const std::vector<const SigningKey*>& newKeys,
                              const std::vector<const SigningKey*>& currentRootKeys, std::int64_t now) {
    Root& root = s_.root;
    if (!root.roles.count(role)) return Error(ErrorCode::InvalidArgument, "unknown role " + role);
    if (newKeys.empty()) return Error(ErrorCode::InvalidArgument, "no new key for " + role);
    RoleKeys rk;
    rk.keyids = keyIds(newKeys);
    rk.threshold = role == "root" ? static_cast<std::int64_t>(newKeys.size() + 1) / 2 : 1;
    for (const SigningKey* k : newKeys) {
        auto pub = PublicKey::fromJson(k->publicJson());
        if (!pub) return pub.error();
        root.keys.emplace(k->keyId(), std::move(*pub));
    }
    root.roles[role] = rk;
    // Drop keys no role uses any more: a revoked key must not linger in root.json.
    for (auto it = root.keys.begin(); it != root.keys.end();) {
        bool used = false;
        for (const auto& [name, r] : root.roles)
            for (const auto& id : r.keyids) used = used || id == it->first;
        it = used ? std::next(it) : root.keys.erase(it);
    }
    std::vector<const SigningKey*> signers = currentRootKeys;
    if (role == "root")
        for (const SigningKey* k : newKeys)
            if (std::find_if(signers.begin(), signers.end(),
                             [&](const SigningKey* s) { return s->keyId() == k->keyId(); }) == signers.end())
                signers.push_back(k);
    return resignRoot(signers, now);
}

Status Repository::resignRoot(const std::vector<const SigningKey*>& rootKeys, std::int64_t now) {
    s_.root.version += 1;
    s_.root.expires = now + expiries_.root;
    return writeRoot(rootKeys);
}

}  // namespace livepatch::tuf
