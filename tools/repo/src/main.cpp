// livepatch-repo: keep a TUF-signed patch catalogue that any static web
// server (nginx, a CDN, object storage) or a file:// path can serve.
//
// Root and targets keys live in --offline-keys (kept off the server);
// snapshot and timestamp keys in --online-keys (the server re-signs those).
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <iostream>
#include <map>
#include <optional>
#include <regex>
#include <vector>

#include "cli/exit_codes.h"
#include "package/patch_package.h"
#include "tuf/repository.h"
#include "tuf/updater.h"
#include "util/fs.h"
#include "util/timeutil.h"

using namespace livepatch;
using namespace livepatch::tuf;

namespace {

const char* kUsage =
    "usage: livepatch-repo COMMAND [options]\n"
    "  init      --repo DIR --offline-keys DIR --online-keys DIR [--root-keys N] [--scheme ed25519|rsa|ecdsa]\n"
    "  add       --repo DIR --offline-keys DIR --online-keys DIR [--role TIER] [--published RFC3339] PATCH.tar.xz\n"
    "  delegate  --repo DIR --offline-keys DIR --online-keys DIR --role TIER --paths 'PATTERN,...' [--terminating "
    "yes]\n"
    "            a delegated targets role (e.g. one per tier) with its own key offline/TIER.pem\n"
    "  remove    --repo DIR --offline-keys DIR --online-keys DIR TARGET-PATH\n"
    "  publish   --repo DIR --online-keys DIR     new snapshot + timestamp (after add/remove/rotate)\n"
    "  timestamp --repo DIR --online-keys DIR     new timestamp only (run daily: clients call an expired one stale)\n"
    "  rotate    --repo DIR --offline-keys DIR --online-keys DIR --role root|targets|snapshot|timestamp [--root-keys "
    "N]\n"
    "  list      --repo DIR\n"
    "  client    --mirror DIR --trusted DIR [--root ROOT.json] [--download TARGET-PATH -o FILE]\n"
    "            check a mirror exactly as the agent does (ROOT.json pins trust the first time)\n"
    "Every signing command takes --now RFC3339 (sign as of that time; expiries count from it).\n"
    "Expiry: root 365 days, targets 90 days, snapshot 7 days, timestamp 1 day.\n";

struct Args {
    std::string command;
    std::map<std::string, std::string> opts;
    std::vector<std::string> positional;
    const std::string& get(const std::string& k) const {
        static const std::string empty;
        auto it = opts.find(k);
        return it == opts.end() ? empty : it->second;
    }
};

int fail(const Error& e) {
    std::cerr << "error: " << e.message() << " [" << e.codeName() << "]\n";
    return cli::exitCodeFor(e.code());
}

int usage(const std::string& why) {
    std::cerr << "error: " << why << "\n" << kUsage;
    return 2;
}

// --now RFC3339 signs as of another time: expiries count from it (a test
// makes a frozen mirror with a timestamp that has already expired).
std::optional<std::int64_t> signingTime;
std::int64_t nowSeconds() { return signingTime ? *signingTime : static_cast<std::int64_t>(std::time(nullptr)); }

// Keys are private files: 0600 in a 0700 directory, written atomically.
Status saveKey(const std::string& dir, const std::string& name, const SigningKey& key) {
    auto s = fs::ensurePrivateDir(dir, 0700);
    if (!s) return s;
    return fs::writeFileAtomic(fs::join(dir, name), key.toPem(), 0600);
}

Result<SigningKey> loadKey(const std::string& dir, const std::string& name) {
    auto pem = fs::readFile(fs::join(dir, name), 1 << 20);
    if (!pem) return pem.error().wrap("reading key " + name);
    auto key = SigningKey::fromPem(*pem);
    if (!key) return key.error().wrap(fs::join(dir, name));
    return key;
}

// Root keys are root-1.pem, root-2.pem, ... in the offline directory.
Result<std::vector<SigningKey>> loadRootKeys(const std::string& dir) {
    std::vector<SigningKey> out;
    for (int i = 1;; ++i) {
        std::string name = "root-" + std::to_string(i) + ".pem";
        if (!fs::exists(fs::join(dir, name))) break;
        auto k = loadKey(dir, name);
        if (!k) return k.error();
        out.push_back(std::move(*k));
    }
    if (out.empty()) return Error(ErrorCode::NotFound, "no root-1.pem in " + dir);
    return out;
}

std::vector<const SigningKey*> pointers(const std::vector<SigningKey>& keys) {
    std::vector<const SigningKey*> out;
    for (const auto& k : keys) out.push_back(&k);
    return out;
}

Result<KeyScheme> schemeOption(const std::string& name) {
    if (name.empty() || name == "ed25519") return KeyScheme::Ed25519;
    if (name == "rsa") return KeyScheme::RsaPssSha256;
    if (name == "ecdsa") return KeyScheme::EcdsaP256Sha256;
    return Error(ErrorCode::InvalidArgument, "--scheme must be ed25519, rsa or ecdsa");
}

Result<int> countOption(const std::string& text) {
    if (text.empty()) return 1;
    if (text.size() > 2 || text.find_first_not_of("0123456789") != std::string::npos || std::stoi(text) < 1 ||
        std::stoi(text) > 15)
        return Error(ErrorCode::InvalidArgument, "--root-keys must be 1..15");
    return std::stoi(text);
}

Result<std::vector<SigningKey>> generateKeys(int n, KeyScheme scheme) {
    std::vector<SigningKey> out;
    for (int i = 0; i < n; ++i) {
        auto k = SigningKey::generate(scheme);
        if (!k) return k.error();
        out.push_back(std::move(*k));
    }
    return out;
}

int cmdInit(const Args& a) {
    const std::string& offline = a.get("--offline-keys");
    const std::string& online = a.get("--online-keys");
    if (a.get("--repo").empty() || offline.empty() || online.empty())
        return usage("init needs --repo, --offline-keys and --online-keys");
    if (offline == online)
        return usage(
            "--offline-keys and --online-keys must be different directories: root keys never go on the server");
    auto scheme = schemeOption(a.get("--scheme"));
    if (!scheme) return fail(scheme.error());
    auto n = countOption(a.get("--root-keys"));
    if (!n) return fail(n.error());
    auto root = generateKeys(*n, *scheme);
    auto others = generateKeys(3, *scheme);
    if (!root) return fail(root.error());
    if (!others) return fail(others.error());
    const SigningKey &targets = (*others)[0], &snapshot = (*others)[1], &timestamp = (*others)[2];
    for (int i = 0; i < *n; ++i) {
        auto s = saveKey(offline, "root-" + std::to_string(i + 1) + ".pem", (*root)[i]);
        if (!s) return fail(s.error());
    }
    for (const auto& [dir, name, key] :
         {std::tuple{offline, "targets.pem", &targets}, std::tuple{online, "snapshot.pem", &snapshot},
          std::tuple{online, "timestamp.pem", &timestamp}}) {
        auto s = saveKey(dir, name, *key);
        if (!s) return fail(s.error());
    }
    auto repo = Repository::create(a.get("--repo"), pointers(*root), targets, snapshot, timestamp, nowSeconds());
    if (!repo) return fail(repo.error());
    std::cout << "repository initialised in " << a.get("--repo") << "; pin " << repo->metadataDir()
              << "/1.root.json on clients\n";
    return 0;
}

struct OnlineKeys {
    SigningKey snapshot, timestamp;
};

Result<OnlineKeys> loadOnline(const Args& a) {
    if (a.get("--online-keys").empty()) return Error(ErrorCode::InvalidArgument, "--online-keys is required");
    auto sn = loadKey(a.get("--online-keys"), "snapshot.pem");
    if (!sn) return sn.error();
    auto ts = loadKey(a.get("--online-keys"), "timestamp.pem");
    if (!ts) return ts.error();
    return OnlineKeys{std::move(*sn), std::move(*ts)};
}

Result<Repository> openRepo(const Args& a) {
    if (a.get("--repo").empty()) return Error(ErrorCode::InvalidArgument, "--repo is required");
    return Repository::open(a.get("--repo"));
}

// What changing the targets side needs: the repository, the online keys
// to publish the result, and the offline key that signs the change.
struct Edit {
    Repository repo;
    OnlineKeys online;
    SigningKey signer;
};

Result<Edit> openForEdit(const Args& a, const std::string& signerKeyFile) {
    auto repo = openRepo(a);
    if (!repo) return repo.error();
    auto online = loadOnline(a);
    if (!online) return online.error();
    auto signer = loadKey(a.get("--offline-keys"), signerKeyFile);
    if (!signer) return signer.error();
    return Edit{std::move(*repo), std::move(*online), std::move(*signer)};
}

// A path segment made of what kernel release strings and names use.
bool safeSegment(const std::string& s) {
    static const std::regex ok("[A-Za-z0-9_+~][A-Za-z0-9._+~-]{0,127}");
    return std::regex_match(s, ok);
}

// The signed description of a patch: what the agent decides on.
Json customFor(const PatchMetadata& m, const std::string& published) {
    Json::Array fixes;
    for (const auto& f : m.fixes)
        fixes.push_back(Json(Json::Object{{"name", Json(f.name)},
                                          {"description", Json(f.description)},
                                          {"bug", Json(f.bug)},
                                          {"patched", Json(f.patched)}}));
    return Json(Json::Object{{"name", Json(m.name)},
                             {"version", Json(m.version)},
                             {"kernel", Json(m.kernel)},
                             {"architecture", Json(m.architecture)},
                             {"published", Json(published)},
                             {"fixes", Json(fixes)}});
}

int cmdAdd(const Args& a) {
    if (a.positional.size() != 1) return usage("add takes one patch tarball");
    const std::string& tarball = a.positional[0];
    const std::string& tier = a.get("--role");
    auto edit = openForEdit(a, tier.empty() ? "targets.pem" : tier + ".pem");
    if (!edit) return fail(edit.error());
    Repository* repo = &edit->repo;
    const OnlineKeys* online = &edit->online;
    const SigningKey* targetsKey = &edit->signer;
    std::string published = a.get("--published");
    if (published.empty()) published = timeutil::formatRfc3339(std::chrono::system_clock::now());
    if (!timeutil::parseRfc3339(published)) return usage("--published must be RFC 3339, e.g. 2026-11-26T00:00:00Z");
    // Read livepatch.json from the tarball itself, so the signed custom
    // fields cannot disagree with the package.
    std::string work =
        (std::filesystem::temp_directory_path() / ("livepatch-repo-" + std::to_string(::getpid()))).string();
    auto pkg = openPatchPackage(tarball, work, UnpackLimits{});
    (void)fs::removeTree(work);
    if (!pkg) return fail(pkg.error().wrap(tarball));
    const PatchMetadata& m = pkg->metadata;
    std::string base = std::filesystem::path(tarball).filename().string();
    std::size_t dot = base.find(".tar");
    if (dot == std::string::npos) return usage("the tarball name must end in .tar, .tar.gz, .tar.xz or .tar.bz2");
    if (!safeSegment(m.kernel) || !safeSegment(m.architecture))
        return fail(
            Error(ErrorCode::InvalidArgument, "kernel or architecture in livepatch.json is not a safe path segment"));
    const std::string path = m.kernel + "/" + m.architecture + "/" + m.name + "-" + m.version + base.substr(dot);
    auto data = fs::readFile(tarball, 512u << 20);
    if (!data) return fail(data.error());
    auto s = tier.empty()
                 ? repo->addTarget(path, *data, customFor(m, published), *targetsKey, nowSeconds())
                 : repo->addDelegatedTarget(tier, path, *data, customFor(m, published), {&*targetsKey}, nowSeconds());
    if (!s) return fail(s.error());
    if (!(s = repo->publishOnline(online->snapshot, online->timestamp, nowSeconds()))) return fail(s.error());
    std::cout << "added " << path << " to " << (tier.empty() ? std::string("targets") : tier) << "\n";
    return 0;
}

int cmdDelegate(const Args& a) {
    const std::string& tier = a.get("--role");
    if (tier.empty() || a.get("--paths").empty()) return usage("delegate needs --role and --paths");
    auto edit = openForEdit(a, "targets.pem");
    if (!edit) return fail(edit.error());
    Repository* repo = &edit->repo;
    const OnlineKeys* online = &edit->online;
    const SigningKey* targetsKey = &edit->signer;
    auto scheme = schemeOption(a.get("--scheme"));
    if (!scheme) return fail(scheme.error());
    auto key = SigningKey::generate(*scheme);
    if (!key) return fail(key.error());
    std::vector<std::string> paths;
    std::string list = a.get("--paths");
    for (std::size_t start = 0;;) {
        std::size_t comma = list.find(',', start);
        paths.push_back(list.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
        if (comma == std::string::npos) break;
        start = comma + 1;
    }
    auto s = repo->delegate(tier, paths, a.get("--terminating") == "yes", {&*key}, 1, *targetsKey, nowSeconds());
    if (!s) return fail(s.error());
    if (!(s = saveKey(a.get("--offline-keys"), tier + ".pem", *key))) return fail(s.error());
    if (!(s = repo->publishOnline(online->snapshot, online->timestamp, nowSeconds()))) return fail(s.error());
    std::cout << "delegated " << list << " to " << tier << "\n";
    return 0;
}

int cmdRemove(const Args& a) {
    if (a.positional.size() != 1) return usage("remove takes one target path");
    auto edit = openForEdit(a, "targets.pem");
    if (!edit) return fail(edit.error());
    Repository* repo = &edit->repo;
    const OnlineKeys* online = &edit->online;
    auto s = repo->removeTarget(a.positional[0], edit->signer, nowSeconds());
    if (!s) return fail(s.error());
    if (!(s = repo->publishOnline(online->snapshot, online->timestamp, nowSeconds()))) return fail(s.error());
    return 0;
}

int cmdPublish(const Args& a, bool timestampOnly) {
    auto repo = openRepo(a);
    if (!repo) return fail(repo.error());
    auto online = loadOnline(a);
    if (!online) return fail(online.error());
    auto s = timestampOnly ? repo->resignTimestamp(online->timestamp, nowSeconds())
                           : repo->publishOnline(online->snapshot, online->timestamp, nowSeconds());
    if (!s) return fail(s.error());
    std::cout << "timestamp version " << repo->state().timestamp.version << ", snapshot version "
              << repo->state().snapshot.version << "\n";
    return 0;
}

// New keys are written as <name>.new first and renamed over the old ones
// only once the new root is published, so a failure never loses a key
// the repository still needs.
int cmdRotate(const Args& a) {
    const std::string& role = a.get("--role");
    const std::string& offline = a.get("--offline-keys");
    const std::string& online = a.get("--online-keys");
    if (role != "root" && role != "targets" && role != "snapshot" && role != "timestamp")
        return usage("--role must be root, targets, snapshot or timestamp");
    auto repo = openRepo(a);
    if (!repo) return fail(repo.error());
    auto rootKeys = loadRootKeys(offline);
    if (!rootKeys) return fail(rootKeys.error());
    auto onlineKeys = loadOnline(a);
    if (!onlineKeys) return fail(onlineKeys.error());
    auto targetsKey = loadKey(offline, "targets.pem");
    if (!targetsKey) return fail(targetsKey.error());
    auto n = countOption(role == "root" ? a.get("--root-keys") : "");
    if (!n) return fail(n.error());
    auto scheme = schemeOption(a.get("--scheme"));
    if (!scheme) return fail(scheme.error());
    auto fresh = generateKeys(*n, *scheme);
    if (!fresh) return fail(fresh.error());
    const std::string dir = role == "snapshot" || role == "timestamp" ? online : offline;
    std::vector<std::pair<std::string, std::string>> renames;  // staged -> final
    for (int i = 0; i < *n; ++i) {
        std::string name = role == "root" ? "root-" + std::to_string(i + 1) + ".pem" : role + ".pem";
        auto s = saveKey(dir, name + ".new", (*fresh)[i]);
        if (!s) return fail(s.error());
        renames.emplace_back(fs::join(dir, name + ".new"), fs::join(dir, name));
    }
    const std::int64_t now = nowSeconds();
    auto s = repo->rotateKeys(role, pointers(*fresh), pointers(*rootKeys), now);
    if (!s) return fail(s.error());
    const SigningKey& snapshot = role == "snapshot" ? (*fresh)[0] : onlineKeys->snapshot;
    const SigningKey& timestamp = role == "timestamp" ? (*fresh)[0] : onlineKeys->timestamp;
    if (role == "targets" && !(s = repo->resignTargets((*fresh)[0], now))) return fail(s.error());
    if (!(s = repo->publishOnline(snapshot, timestamp, now))) return fail(s.error());
    if (role == "root")  // retire root keys beyond the new count
        for (int i = *n + 1; fs::exists(fs::join(dir, "root-" + std::to_string(i) + ".pem")); ++i)
            (void)fs::removeFile(fs::join(dir, "root-" + std::to_string(i) + ".pem"));
    for (const auto& [from, to] : renames)
        if (std::rename(from.c_str(), to.c_str()) != 0)
            return fail(Error(ErrorCode::Io, "cannot rename " + from + " to " + to));
    std::cout << "rotated " << role << " keys; root version " << repo->state().root.version << "\n";
    return 0;
}

void printTarget(const TargetFile& t) {
    Json entry(Json::Object{
        {"path", Json(t.path)}, {"length", Json(static_cast<std::int64_t>(t.length))}, {"custom", t.custom}});
    std::cout << canonicalJson(entry) << "\n";
}

int cmdList(const Args& a) {
    auto repo = openRepo(a);
    if (!repo) return fail(repo.error());
    for (const auto& [path, t] : repo->state().targets.targets) printTarget(t);
    for (const auto& [role, targets] : repo->state().delegated)
        for (const auto& [path, t] : targets.targets) printTarget(t);
    return 0;
}

int cmdClient(const Args& a) {
    const std::string& mirror = a.get("--mirror");
    const std::string& trusted = a.get("--trusted");
    if (mirror.empty() || trusted.empty()) return usage("client needs --mirror and --trusted");
    if (!a.get("--root").empty()) {
        auto root = fs::readFile(a.get("--root"), MetadataLimits{}.rootMaxLength);
        if (!root) return fail(root.error());
        auto s = fs::ensurePrivateDir(trusted, 0700);
        if (s && !fs::exists(fs::join(trusted, "root.json")))
            s = fs::writeFileAtomic(fs::join(trusted, "root.json"), *root, 0600);
        if (!s) return fail(s.error());
    }
    DirectoryFetcher metadata(fs::join(mirror, "metadata"));
    Updater updater(trusted, metadata);
    auto s = updater.refresh();
    if (!s) return fail(s.error());
    if (!a.get("--download").empty()) {
        if (a.get("-o").empty()) return usage("--download needs -o FILE");
        auto t = updater.findTarget(a.get("--download"));
        if (!t) return fail(t.error());
        if (!*t) return fail(Error(ErrorCode::NotFound, "no trusted target " + printable(a.get("--download"))));
        DirectoryFetcher targets(fs::join(mirror, "targets"));
        auto bytes = updater.downloadTarget(**t, targets);
        if (!bytes) return fail(bytes.error());
        auto w = fs::writeFileAtomic(a.get("-o"), *bytes, 0600);
        if (!w) return fail(w.error());
        return 0;
    }
    auto all = updater.allTargets();
    if (!all) return fail(all.error());
    for (const auto& t : *all) printTarget(t);
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) return usage("no command");
    Args a;
    a.command = argv[1];
    for (int i = 2; i < argc; ++i) {
        std::string arg = argv[i];
        if (arg.rfind("-", 0) == 0 && arg.size() > 1) {
            if (i + 1 >= argc) return usage(arg + " needs a value");
            a.opts[arg] = argv[++i];
        } else {
            a.positional.push_back(arg);
        }
    }
    ::umask(022);
    if (!a.get("--now").empty()) {
        auto t = timeutil::parseRfc3339(a.get("--now"));
        if (!t) return usage("--now must be RFC 3339, e.g. 2026-11-26T00:00:00Z");
        signingTime = std::chrono::duration_cast<std::chrono::seconds>(t->time_since_epoch()).count();
    }
    if (a.command == "init") return cmdInit(a);
    if (a.command == "add") return cmdAdd(a);
    if (a.command == "remove") return cmdRemove(a);
    if (a.command == "delegate") return cmdDelegate(a);
    if (a.command == "publish") return cmdPublish(a, false);
    if (a.command == "timestamp") return cmdPublish(a, true);
    if (a.command == "rotate") return cmdRotate(a);
    if (a.command == "list") return cmdList(a);
    if (a.command == "client") return cmdClient(a);
    return usage("unknown command " + a.command);
}
