#include "catalogue.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <mutex>
#include <regex>

#include "crypto/sha256.h"
#include "util/fs.h"
#include "util/timeutil.h"

namespace lpserver {

using livepatch::Error;
using livepatch::ErrorCode;

livepatch::Result<std::vector<CatalogueKernel>> loadCatalogue(const std::string& path) {
    try {
        YAML::Node root = YAML::LoadFile(path);
        std::vector<CatalogueKernel> out;
        for (const auto& k : root["kernels"]) {
            CatalogueKernel ck;
            ck.kernel = k["kernel"].as<std::string>();
            ck.architecture = k["architecture"].as<std::string>();
            if (k["supported"]) ck.supported = k["supported"].as<std::string>();
            if (k["upgrade-required-date"]) ck.upgradeRequiredDate = k["upgrade-required-date"].as<std::string>();
            for (const auto& p : k["patches"]) {
                CataloguePatch cp;
                cp.file = p["file"].as<std::string>();
                cp.name = p["name"].as<std::string>();
                cp.version = p["version"].as<std::string>();
                if (p["published"]) cp.published = p["published"].as<std::string>();
                if (p["tier"]) cp.tier = p["tier"].as<std::string>();
                if (p["tier-since"]) cp.tierSince = p["tier-since"].as<std::string>();
                if (p["replace"]) cp.replace = p["replace"].as<bool>();
                for (const auto& f : p["fixes"]) {
                    CatalogueFix cf;
                    cf.name = f["name"].as<std::string>();
                    if (f["description"]) cf.description = f["description"].as<std::string>();
                    if (f["bug"]) cf.bug = f["bug"].as<std::string>();
                    if (f["patched"]) cf.patched = f["patched"].as<bool>();
                    cp.fixes.push_back(cf);
                }
                ck.patches.push_back(cp);
            }
            out.push_back(ck);
        }
        return out;
    } catch (const std::exception& e) {
        return Error(ErrorCode::ConfigInvalid, "catalogue " + path + ": " + e.what());
    }
}

const std::regex& tierNameRe() {
    static const std::regex re("^[a-z0-9][a-z0-9._-]{0,31}$");
    return re;
}

livepatch::Result<std::vector<TierSpec>> tierSpecs(const std::string& path) {
    try {
        YAML::Node root = YAML::LoadFile(path);
        std::vector<TierSpec> tiers;
        int n = 0;
        for (const auto& t : root["tiers"]) {
            ++n;
            const std::string where = "catalogue " + path + ": tiers entry " + std::to_string(n);
            TierSpec spec;
            spec.name = t.IsMap() ? t["name"].as<std::string>("") : t.as<std::string>();
            if (!std::regex_match(spec.name, tierNameRe()))
                return Error(ErrorCode::ConfigInvalid, where + ": name must be 1-32 of [a-z0-9._-]");
            if (t.IsMap() && t["soak"]) {
                auto d = livepatch::timeutil::parseDuration(t["soak"].as<std::string>());
                if (!d || d->count() <= 0)
                    return Error(ErrorCode::ConfigInvalid, where + ": soak must be a duration such as 90s, 12h or 3d");
                spec.soak = *d;
            }
            if (spec.name != "stable") tiers.push_back(spec);
        }
        tiers.push_back(TierSpec{"stable", std::nullopt});
        return tiers;
    } catch (const std::exception& e) {
        return Error(ErrorCode::ConfigInvalid, "catalogue " + path + ": " + e.what());
    }
}

livepatch::Result<std::vector<std::string>> catalogueTiers(const std::string& path) {
    auto specs = tierSpecs(path);
    if (!specs) return specs.error();
    std::vector<std::string> names;
    for (const auto& t : *specs) names.push_back(t.name);
    return names;
}

livepatch::Status editCatalogue(const std::string& path, const std::function<livepatch::Status(YAML::Node&)>& edit) {
    const std::string lockPath = path + ".lock";
    int fd = ::open(lockPath.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) return Error(ErrorCode::Io, "cannot open " + lockPath + ": " + std::strerror(errno));
    livepatch::fs::UniqueFd lock(fd);
    if (::flock(lock.get(), LOCK_EX) != 0)
        return Error(ErrorCode::Io, "cannot lock " + lockPath + ": " + std::strerror(errno));
    YAML::Node root;
    try {
        root = YAML::LoadFile(path);
    } catch (const std::exception& e) {
        return Error(ErrorCode::ConfigInvalid, "catalogue " + path + ": " + e.what());
    }
    LP_TRY(edit(root));
    YAML::Emitter out;
    out << root;
    return livepatch::fs::writeFileAtomic(path, std::string(out.c_str()) + "\n", 0644);
}

namespace {
long long mtimeNs(const struct stat& st) { return st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec; }
}  // namespace

livepatch::Result<CatalogueSnapshot> cachedCatalogue(const std::string& path) {
    static std::mutex mu;
    static std::map<std::string, std::tuple<long long, long long, CatalogueSnapshot>> cache;
    struct stat st;
    if (::stat(path.c_str(), &st) != 0) return Error(ErrorCode::NotFound, "no catalogue " + path);
    {
        std::lock_guard<std::mutex> l(mu);
        auto it = cache.find(path);
        if (it != cache.end() && std::get<0>(it->second) == mtimeNs(st) && std::get<1>(it->second) == st.st_size)
            return std::get<2>(it->second);
    }
    auto loaded = loadCatalogue(path);
    if (!loaded) return loaded.error();
    auto snap = std::make_shared<const std::vector<CatalogueKernel>>(std::move(*loaded));
    std::lock_guard<std::mutex> l(mu);
    cache[path] = {mtimeNs(st), st.st_size, snap};
    return CatalogueSnapshot(snap);
}

livepatch::Result<std::pair<std::string, std::uint64_t>> fileDigest(const std::string& path) {
    static std::mutex mu;
    static std::map<std::string, std::tuple<long long, long, std::string>> cache;
    struct stat st;
    if (::lstat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode))
        return Error(ErrorCode::NotFound, "no patch file " + path);
    {
        std::lock_guard<std::mutex> l(mu);
        auto it = cache.find(path);
        if (it != cache.end() && std::get<0>(it->second) == mtimeNs(st) && std::get<1>(it->second) == st.st_size)
            return std::make_pair(std::get<2>(it->second), static_cast<std::uint64_t>(st.st_size));
    }
    auto d = livepatch::sha256FileHex(path);
    if (!d) return d.error();
    std::lock_guard<std::mutex> l(mu);
    cache[path] = {mtimeNs(st), st.st_size, *d};
    return std::make_pair(*d, static_cast<std::uint64_t>(st.st_size));
}

}  // namespace lpserver
