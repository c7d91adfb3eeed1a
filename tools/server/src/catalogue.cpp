#include "catalogue.h"

#include <sys/stat.h>
#include <yaml-cpp/yaml.h>

#include <map>
#include <mutex>

#include "crypto/sha256.h"

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
        if (it != cache.end() && std::get<0>(it->second) == mtimeNs(st) && std::get<1>(it->second) == st.st_size) return std::get<2>(it->second);
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
    if (::lstat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return Error(ErrorCode::NotFound, "no patch file " + path);
    {
        std::lock_guard<std::mutex> l(mu);
        auto it = cache.find(path);
        if (it != cache.end() && std::get<0>(it->second) == mtimeNs(st) &&
            std::get<1>(it->second) == st.st_size)
            return std::make_pair(std::get<2>(it->second), static_cast<std::uint64_t>(st.st_size));
    }
    auto d = livepatch::sha256FileHex(path);
    if (!d) return d.error();
    std::lock_guard<std::mutex> l(mu);
    cache[path] = {mtimeNs(st), st.st_size, *d};
    return std::make_pair(*d, static_cast<std::uint64_t>(st.st_size));
}

}  // namespace lpserver
