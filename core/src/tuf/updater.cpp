#include "tuf/updater.h"

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <set>

#include "livepatch/text.h"
#include "util/fs.h"

namespace livepatch::tuf {

std::string printable(const std::string& text) {
    std::string out;
    for (std::size_t i = 0; i < text.size() && i < 200; ++i) {
        auto c = static_cast<unsigned char>(text[i]);
        if (c >= 0x20 && c < 0x7F) {
            out += char(c);
        } else {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\x%02x", c);
            out += buf;
        }
    }
    if (text.size() > 200) out += "...";
    return out;
}

Status checkSelfSignedRoot(const std::string& rootJson, const std::string& what) {
    const MetadataLimits limits;
    auto root = parseRoot(rootJson, limits.rootMaxLength);
    if (!root)
        return Error(ErrorCode::ConfigInvalid, what + ": expected a TUF root.json (" + root.error().message() + ")");
    auto signedBy = verifyThreshold(*root, root->keys, root->roles.at("root"), what);
    if (!signedBy)
        return Error(ErrorCode::ConfigInvalid,
                     what + ": the root is not signed by its own root keys (" + signedBy.error().message() + ")");
    return {};
}

Status pinRoot(const std::string& metadataDir, const std::string& rootJson, const std::string& what) {
    LP_TRY(checkSelfSignedRoot(rootJson, what));
    if (fs::exists(metadataDir)) LP_TRY(fs::removeTree(metadataDir));
    LP_TRY(fs::ensurePrivateDir(metadataDir, 0700));
    return fs::writeFileAtomic(fs::join(metadataDir, "root.json"), rootJson, 0600);
}

bool isSafeTargetPath(const std::string& path) {
    if (path.empty() || path.size() > 1024 || path.front() == '/') return false;
    std::size_t start = 0;
    for (;;) {
        std::size_t slash = path.find('/', start);
        std::string seg = path.substr(start, slash == std::string::npos ? std::string::npos : slash - start);
        if (seg.empty() || seg == "." || seg == "..") return false;
        for (unsigned char c : seg)
            if (c < 0x20 || c == 0x7F || c == '\\') return false;
        if (slash == std::string::npos) return true;
        start = slash + 1;
    }
}

Status verifyTarget(const TargetFile& target, std::string_view data) {
    const std::string what = "target " + printable(target.path);
    if (data.size() != target.length)
        return Error(ErrorCode::ChecksumMismatch, what + ": " + std::to_string(data.size()) +
                                                      " bytes, the signed metadata says " +
                                                      std::to_string(target.length));
    return checkHashes(data, target.hashes, what);
}

Result<Fetcher::Fetched> Fetcher::fetchIfChanged(const std::string& relativePath, std::uint64_t maxLength,
                                                 const std::string&) {
    auto bytes = fetch(relativePath, maxLength);
    if (!bytes) return bytes.error();
    return Fetched{false, std::move(*bytes), ""};
}

Result<std::string> DirectoryFetcher::fetch(const std::string& relativePath, std::uint64_t maxLength) {
    if (!isSafeTargetPath(relativePath))
        return Error(ErrorCode::Protocol, "unsafe repository path \"" + printable(relativePath) + "\"");
    return fs::readFile(fs::join(base_, relativePath), maxLength);
}

namespace {

// Role names come from signed metadata but may hold any character: file
// names keep [A-Za-z0-9._-] and percent-encode the rest.
std::string encodeRoleName(const std::string& role) {
    std::string out;
    for (unsigned char c : role) {
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
            c == '-') {
            out += char(c);
        } else {
            char buf[4];
            std::snprintf(buf, sizeof buf, "%%%02X", c);
            out += buf;
        }
    }
    return out;
}

bool sameRoleKeys(const Root& a, const Root& b, const std::string& role) {
    const RoleKeys& ra = a.roles.at(role);
    const RoleKeys& rb = b.roles.at(role);
    if (ra.threshold != rb.threshold) return false;
    std::vector<std::string> ka = ra.keyids, kb = rb.keyids;
    std::sort(ka.begin(), ka.end());
    std::sort(kb.begin(), kb.end());
    return ka == kb;
}

}  // namespace

Updater::Updater(std::string metadataDir, Fetcher& metadata, UpdaterOptions options)
    : dir_(std::move(metadataDir)), fetcher_(metadata), options_(std::move(options)) {
    if (!options_.now) options_.now = [] { return static_cast<std::int64_t>(std::time(nullptr)); };
}

std::string Updater::statePath(const std::string& role) const { return fs::join(dir_, encodeRoleName(role) + ".json"); }

Status Updater::persist(const std::string& role, const std::string& bytes) {
    auto s = fs::writeFileAtomic(statePath(role), bytes, 0600);
    if (!s) return s.error().wrap("saving trusted " + printable(role) + " metadata");
    return {};
}

void Updater::forget(const std::string& role) {
    (void)fs::removeFile(statePath(role));
    if (role == "timestamp") {
        (void)fs::removeFile(fs::join(dir_, "timestamp.validator"));
        timestamp_.reset();
    } else if (role == "snapshot") snapshot_.reset();
    else targets_.erase(role);
}

Status Updater::checkFresh(const Common& md, const std::string& what) const {
    if (md.expires > now_) return {};
    return Error(ErrorCode::Stale, what + " expired at " + formatExpires(md.expires) +
                                       "; the repository is not re-signing it (unmaintained mirror or freeze attack)");
}

Result<std::string> Updater::fetchMetadata(const std::string& name, std::int64_t version, const MetaFile* meta,
                                           std::uint64_t defaultMax) {
    std::string file = encodeRoleName(name) + ".json";
    if (version > 0) file = std::to_string(version) + "." + file;
    std::uint64_t maxLength = meta && meta->length ? *meta->length : defaultMax;
    auto bytes = fetcher_.fetch(file, maxLength);
    if (!bytes) return bytes.error().wrap(printable(file));
    if (meta && !meta->hashes.empty()) {
        auto s = checkHashes(*bytes, meta->hashes, printable(file));
        if (!s) return s.error();
    }
    return bytes;
}

// 5.2: the pinned root is trusted because it was put there out of band; it
// must still be well-formed and signed by its own root threshold.
Status Updater::loadTrustedRoot() {
    auto bytes = fs::readFile(statePath("root"), options_.limits.rootMaxLength);
    if (!bytes) return bytes.error().wrap("reading the trusted root " + statePath("root"));
    auto root = parseRoot(*bytes, options_.limits.rootMaxLength);
    if (!root) return root.error().wrap("trusted root " + statePath("root"));
    auto s = verifyThreshold(*root, root->keys, root->roles.at("root"), "trusted root.json");
    if (!s) return s.error();
    root_ = std::move(*root);
    return {};
}

// Metadata trusted in an earlier cycle: the baseline for rollback checks.
// A file that no longer verifies under the current root (its keys were
// rotated) is dropped, which is the fast-forward recovery of 5.3.11.
void Updater::loadLocalTopLevel() {
    timestamp_.reset();
    snapshot_.reset();
    targets_.clear();
    const auto& limits = options_.limits;
    if (auto b = fs::readFile(statePath("timestamp"), limits.timestampMaxLength)) {
        auto ts = parseTimestamp(*b, limits.timestampMaxLength);
        if (ts && verifyThreshold(*ts, root_->keys, root_->roles.at("timestamp"), "timestamp.json"))
            timestamp_ = std::move(*ts);
    }
    if (auto b = fs::readFile(statePath("snapshot"), limits.snapshotMaxLength)) {
        auto sn = parseSnapshot(*b, limits.snapshotMaxLength);
        if (sn && verifyThreshold(*sn, root_->keys, root_->roles.at("snapshot"), "snapshot.json"))
            snapshot_ = std::move(*sn);
    }
    if (auto b = fs::readFile(statePath("targets"), limits.targetsMaxLength)) {
        auto tg = parseTargets(*b, limits.targetsMaxLength);
        if (tg && verifyThreshold(*tg, root_->keys, root_->roles.at("targets"), "targets.json"))
            targets_.emplace("targets", std::move(*tg));
    }
}

Status Updater::refresh() {
    refreshed_ = false;
    now_ = options_.now();  // 5.1: one reference time for the whole cycle
    auto s = fs::ensurePrivateDir(dir_, 0700);
    if (!s) return s;
    if (!(s = loadTrustedRoot())) return s;
    loadLocalTopLevel();
    if (!(s = updateRoot())) return s;
    if (!(s = updateTimestamp())) return s;
    if (!(s = updateSnapshot())) return s;
    if (!(s = updateTargets())) return s;
    refreshed_ = true;
    return {};
}

// 5.3: follow the rotation chain one version at a time. Each new root must
// be signed by a threshold of the keys the previous root trusts and by a
// threshold of its own keys, and be exactly version N+1.
Status Updater::updateRoot() {
    const Root original = *root_;
    for (int i = 0; i < options_.maxRootRotations; ++i) {
        const std::int64_t next = root_->version + 1;
        auto bytes = fetchMetadata("root", next, nullptr, options_.limits.rootMaxLength);
        if (!bytes) {
            if (bytes.error().code() == ErrorCode::NotFound) break;  // no newer root: the chain ends here
            return bytes.error();
        }
        auto root = parseRoot(*bytes, options_.limits.rootMaxLength);
        if (!root) return root.error().wrap(std::to_string(next) + ".root.json");
        const std::string what = std::to_string(next) + ".root.json";
        auto s = verifyThreshold(*root, root_->keys, root_->roles.at("root"), what + " (by the trusted root's keys)");
        if (!s) return s;
        if (!(s = verifyThreshold(*root, root->keys, root->roles.at("root"), what + " (by its own keys)"))) return s;
        if (root->version != next)
            return Error(ErrorCode::Rollback,
                         what + " has version " + std::to_string(root->version) + ", expected " + std::to_string(next));
        if (!(s = persist("root", *bytes))) return s;
        root_ = std::move(*root);
    }
    // 5.3.10: only the final root must be unexpired.
    auto s = checkFresh(*root_, "root.json");
    if (!s) return s;
    // 5.3.11: new timestamp or snapshot keys make the old files useless as a
    // rollback baseline (they may carry versions an attacker inflated with
    // the compromised keys): forget them so the new ones can start over.
    if (!sameRoleKeys(original, *root_, "timestamp") || !sameRoleKeys(original, *root_, "snapshot")) {
        forget("timestamp");
        forget("snapshot");
    }
    if (!sameRoleKeys(original, *root_, "targets")) forget("targets");
    return {};
}

// 5.4, with a conditional request: the mirror answering "not modified" to
// the validator of our trusted copy is the same as it sending those bytes
// again (the same version, below), which is all a replaying mirror can do
// anyway; the trusted copy's expiry still ends a freeze.
Status Updater::updateTimestamp() {
    const std::string validatorPath = fs::join(dir_, "timestamp.validator");
    std::string validator;
    // An expired trusted copy is fetched whole: should a mirror's validator
    // not have changed with its content, the agent recovers at the latest
    // when its copy expires, instead of staying stale.
    if (timestamp_ && timestamp_->expires > now_) {
        auto v = fs::readFile(validatorPath, 256);
        if (v && isSafeEntityTag(*v)) validator = *v;
    }
    auto got = fetcher_.fetchIfChanged("timestamp.json", options_.limits.timestampMaxLength, validator);
    if (!got) return got.error().wrap("timestamp.json");
    if (got->notModified) {
        if (validator.empty())
            return Error(ErrorCode::Protocol, "timestamp.json: \"not modified\" answered to an unconditional request");
        return checkFresh(*timestamp_, "timestamp.json");
    }
    // Whatever happens next, the old validator no longer names the trusted
    // copy for certain: dropped first, written again once the copy is saved.
    (void)fs::removeFile(validatorPath);
    const std::string* bytes = &got->bytes;
    auto ts = parseTimestamp(*bytes, options_.limits.timestampMaxLength);
    if (!ts) return ts.error();
    auto s = verifyThreshold(*ts, root_->keys, root_->roles.at("timestamp"), "timestamp.json");
    if (!s) return s;
    if (timestamp_) {
        if (ts->version < timestamp_->version)
            return Error(ErrorCode::Rollback, "timestamp.json version " + std::to_string(ts->version) +
                                                  " is lower than the trusted " + std::to_string(timestamp_->version));
        if (ts->snapshot.version < timestamp_->snapshot.version)
            return Error(ErrorCode::Rollback, "timestamp.json lists snapshot version " +
                                                  std::to_string(ts->snapshot.version) + ", lower than the trusted " +
                                                  std::to_string(timestamp_->snapshot.version));
        // The same version again: nothing new; the trusted one stays (and
        // its expiry below still catches a mirror that replays it forever).
        if (ts->version == timestamp_->version) {
            rememberValidator(validatorPath, got->validator);
            return checkFresh(*timestamp_, "timestamp.json");
        }
    }
    // Persisted before the expiry check so the rollback baseline advances
    // even when the new file is already expired.
    if (!(s = persist("timestamp", *bytes))) return s;
    rememberValidator(validatorPath, got->validator);
    timestamp_ = std::move(*ts);
    return checkFresh(*timestamp_, "timestamp.json");
}

// Best effort: without the file the next check simply fetches the whole file.
void Updater::rememberValidator(const std::string& path, const std::string& validator) {
    if (isSafeEntityTag(validator)) (void)fs::writeFileAtomic(path, validator, 0600);
}

// 5.5
Status Updater::updateSnapshot() {
    const MetaFile& meta = timestamp_->snapshot;
    if (snapshot_ && snapshot_->version == meta.version) return checkFresh(*snapshot_, "snapshot.json");
    auto bytes = fetchMetadata("snapshot", root_->consistentSnapshot ? meta.version : 0, &meta,
                               options_.limits.snapshotMaxLength);
    if (!bytes) return bytes.error();
    auto sn = parseSnapshot(*bytes, meta.length ? *meta.length : options_.limits.snapshotMaxLength);
    if (!sn) return sn.error();
    auto s = verifyThreshold(*sn, root_->keys, root_->roles.at("snapshot"), "snapshot.json");
    if (!s) return s;
    if (sn->version != meta.version)
        return Error(ErrorCode::Rollback, "snapshot.json has version " + std::to_string(sn->version) +
                                              " but timestamp.json lists " + std::to_string(meta.version) +
                                              " (mix-and-match or rollback)");
    if (snapshot_) {
        for (const auto& [name, old] : snapshot_->meta) {
            auto it = sn->meta.find(name);
            if (it == sn->meta.end())
                return Error(ErrorCode::Rollback,
                             "snapshot.json no longer lists " + printable(name) + " (rollback of a targets role)");
            if (it->second.version < old.version)
                return Error(ErrorCode::Rollback, "snapshot.json lists " + printable(name) + " version " +
                                                      std::to_string(it->second.version) + ", lower than the trusted " +
                                                      std::to_string(old.version));
        }
    }
    if (!(s = persist("snapshot", *bytes))) return s;
    snapshot_ = std::move(*sn);
    return checkFresh(*snapshot_, "snapshot.json");
}

// 5.6
Status Updater::updateTargets() {
    auto role = loadTargetsRole("targets", root_->keys, root_->roles.at("targets"));
    if (!role) return role.error();
    return {};
}

// Top-level targets (5.6) and delegated roles (5.7.x): the version the
// snapshot lists, signed by the delegating role's keys, unexpired. A copy
// trusted earlier is reused when its version is the listed one.
Result<const Targets*> Updater::loadTargetsRole(const std::string& name, const std::map<std::string, PublicKey>& keys,
                                                const RoleKeys& roleKeys) {
    const std::string what = printable(name) + ".json";
    auto listed = snapshot_->meta.find(name + ".json");
    if (listed == snapshot_->meta.end()) return Error(ErrorCode::NotFound, "snapshot.json does not list " + what);
    const MetaFile& meta = listed->second;
    auto cached = targets_.find(name);
    if (cached == targets_.end() && name != "targets") {
        if (auto b = fs::readFile(statePath(name), options_.limits.targetsMaxLength)) {
            auto tg = parseTargets(*b, options_.limits.targetsMaxLength);
            if (tg && verifyThreshold(*tg, keys, roleKeys, what)) cached = targets_.emplace(name, std::move(*tg)).first;
        }
    }
    if (cached != targets_.end() && cached->second.version == meta.version) {
        auto s = checkFresh(cached->second, what);
        if (!s) return s.error();
        return &cached->second;
    }
    auto bytes =
        fetchMetadata(name, root_->consistentSnapshot ? meta.version : 0, &meta, options_.limits.targetsMaxLength);
    if (!bytes) return bytes.error();
    auto tg = parseTargets(*bytes, meta.length ? *meta.length : options_.limits.targetsMaxLength);
    if (!tg) return tg.error().wrap(what);
    auto s = verifyThreshold(*tg, keys, roleKeys, what);
    if (!s) return s.error();
    if (tg->version != meta.version)
        return Error(ErrorCode::Rollback, what + " has version " + std::to_string(tg->version) +
                                              " but snapshot.json lists " + std::to_string(meta.version) +
                                              " (mix-and-match or rollback)");
    if (!(s = persist(name, *bytes))) return s.error();
    targets_[name] = std::move(*tg);
    s = checkFresh(targets_[name], what);
    if (!s) return s.error();
    return &targets_[name];
}

// 5.7: preorder depth-first search from targets.json.
Result<std::optional<TargetFile>> Updater::findTarget(const std::string& path) {
    if (!refreshed_) return Error(ErrorCode::Internal, "findTarget before a successful refresh");
    struct Visit {
        std::string role;
        std::string delegator;  // "" for the top-level targets role
    };
    std::vector<Visit> stack{{"targets", ""}};
    std::set<std::string> visited;
    int visits = 0;
    while (!stack.empty() && visits < options_.maxDelegations) {
        Visit v = stack.back();
        stack.pop_back();
        if (!visited.insert(v.role).second) continue;  // a cycle in the delegation graph
        ++visits;
        Result<const Targets*> role = Error(ErrorCode::Internal, "unreachable");
        if (v.delegator.empty()) {
            role = &targets_.at("targets");
        } else {
            const Delegations& d = *targets_.at(v.delegator).delegations;
            const DelegatedRole* dr = nullptr;
            for (const auto& r : d.roles)
                if (r.name == v.role) dr = &r;
            role = loadTargetsRole(v.role, d.keys, dr->keys);
        }
        if (!role) return role.error();
        auto hit = (*role)->targets.find(path);
        if (hit != (*role)->targets.end()) return std::optional<TargetFile>(hit->second);
        if (!(*role)->delegations) continue;
        std::vector<Visit> children;
        for (const auto& r : (*role)->delegations->roles) {
            if (!r.trustedFor(path)) continue;
            children.push_back({r.name, v.role});
            if (r.terminating) {
                stack.clear();  // a terminating role ends the search: no backtracking
                break;
            }
        }
        stack.insert(stack.end(), children.rbegin(), children.rend());
    }
    return std::optional<TargetFile>();
}

Result<std::vector<TargetFile>> Updater::allTargets() {
    if (!refreshed_) return Error(ErrorCode::Internal, "allTargets before a successful refresh");
    // Collect candidate paths from every reachable role, then resolve each
    // the way a single lookup would, so a role only contributes targets its
    // delegation chain trusts it for.
    std::set<std::string> paths;
    std::vector<std::pair<std::string, std::string>> stack{{"targets", ""}};
    std::set<std::string> visited;
    while (!stack.empty() && static_cast<int>(visited.size()) < options_.maxDelegations) {
        auto [name, delegator] = stack.back();
        stack.pop_back();
        if (!visited.insert(name).second) continue;
        Result<const Targets*> role = Error(ErrorCode::Internal, "unreachable");
        if (delegator.empty()) {
            role = &targets_.at("targets");
        } else {
            const Delegations& d = *targets_.at(delegator).delegations;
            for (const auto& r : d.roles)
                if (r.name == name) role = loadTargetsRole(name, d.keys, r.keys);
        }
        if (!role) return role.error();
        for (const auto& [p, t] : (*role)->targets) paths.insert(p);
        if ((*role)->delegations)
            for (auto it = (*role)->delegations->roles.rbegin(); it != (*role)->delegations->roles.rend(); ++it)
                stack.emplace_back(it->name, name);
    }
    std::vector<TargetFile> out;
    for (const auto& p : paths) {
        auto t = findTarget(p);
        if (!t) return t.error();
        if (*t) out.push_back(std::move(**t));
    }
    return out;
}

std::string Updater::targetFileName(const TargetFile& target) const {
    if (!root_->consistentSnapshot) return target.path;
    // dir/name -> dir/<hash>.name, the hash being sha256 when listed.
    std::string digest = target.hashes.count("sha256") ? target.hashes.at("sha256") : target.hashes.begin()->second;
    std::size_t slash = target.path.rfind('/');
    std::size_t base = slash == std::string::npos ? 0 : slash + 1;
    return target.path.substr(0, base) + digest + "." + target.path.substr(base);
}

Result<std::string> Updater::downloadTarget(const TargetFile& target, Fetcher& targets) {
    if (!isSafeTargetPath(target.path))
        return Error(ErrorCode::Protocol, "unsafe target path \"" + printable(target.path) + "\"");
    auto bytes = targets.fetch(targetFileName(target), target.length);
    if (!bytes) return bytes.error().wrap("target " + printable(target.path));
    auto s = verifyTarget(target, *bytes);
    if (!s) return s.error();
    return bytes;
}

}  // namespace livepatch::tuf
