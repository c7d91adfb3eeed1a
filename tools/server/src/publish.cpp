// Verification and publication of a patch file, shared by admin uploads and
// upstream sync so that both accept exactly the same patches.
#include "publish.h"

#include <unistd.h>

#include <chrono>
#include <optional>

#include "catalogue.h"
#include "util/fs.h"
#include "util/timeutil.h"

namespace lpserver {

using livepatch::Error;
using livepatch::ErrorCode;

// The metadata of a well-formed patch whose module carries a signature.
// (Whether the signer is trusted is each agent's keyring's decision.)
livepatch::Result<livepatch::PatchMetadata> checkSignedPatch(const std::string& archive, const std::string& dir) {
    char work[] = "/.check-XXXXXX";
    std::string workDir = dir + work;
    if (!::mkdtemp(&workDir[0])) return Error(ErrorCode::Io, "cannot check the upload");
    ::rmdir(workDir.c_str());  // openPatchPackage creates it itself
    auto pkg = livepatch::openPatchPackage(archive, workDir, livepatch::UnpackLimits{});
    struct Cleanup {
        std::string dir;
        ~Cleanup() { (void)livepatch::fs::removeTree(dir); }
    } cleanup{workDir};
    if (!pkg) return pkg.error();
    auto module = livepatch::fs::readFile(pkg->modulePath, 256u << 20);
    static const std::string kSigned = "~Module signature appended~\n";
    if (!module || module->size() < kSigned.size() ||
        module->compare(module->size() - kSigned.size(), kSigned.size(), kSigned) != 0)
        return Error(ErrorCode::Unsigned, "the module in the patch is not signed (no appended module signature)");
    return pkg->metadata;
}

livepatch::Status publishStagedPatch(PatchStore& patches, CatalogueStore& catalogue, const std::string& staged,
                                     const std::string& file, const std::string& tier,
                                     const livepatch::PatchMetadata& md, const std::string& verifiedBy) {
    // The file first (put() never replaces one, so a second upload of the
    // name stops here), then the catalogue entry that makes it visible: a
    // file the catalogue does not list is never served, and the edit itself
    // has no side effect, so the database catalogue may redo it.
    LP_TRY(patches.put(file, staged));
    const std::string published = livepatch::timeutil::formatRfc3339(std::chrono::system_clock::now());
    auto s = catalogue.edit([&](YAML::Node& root) -> livepatch::Status {
        YAML::Node kernels = root["kernels"];
        std::optional<YAML::Node> target;
        for (std::size_t i = 0; i < kernels.size(); ++i) {
            YAML::Node k = kernels[i];
            for (auto p : k["patches"]) {
                if (p["file"].as<std::string>() == file)
                    return Error(ErrorCode::AlreadyEnabled, "a patch with this file name is already published");
                if (k["kernel"].as<std::string>() == md.kernel &&
                    k["architecture"].as<std::string>() == md.architecture && p["name"].as<std::string>() == md.name &&
                    p["version"].as<std::string>() == md.version)
                    return Error(ErrorCode::AlreadyEnabled, "this patch version is already published for its kernel");
            }
            if (k["kernel"].as<std::string>() == md.kernel && k["architecture"].as<std::string>() == md.architecture)
                target = k;
        }
        if (!target) {
            YAML::Node k;
            k["kernel"] = md.kernel;
            k["architecture"] = md.architecture;
            k["supported"] = "supported";
            k["patches"] = YAML::Node(YAML::NodeType::Sequence);
            root["kernels"].push_back(k);
            target = k;
        }
        YAML::Node p;
        p["file"] = file;
        p["name"] = md.name;
        p["version"] = md.version;
        p["published"] = published;
        p["tier"] = tier;
        p["tier-since"] = published;
        p["replace"] = md.replace;
        YAML::Node fixes(YAML::NodeType::Sequence);
        for (const auto& f : md.fixes) {
            YAML::Node fx;
            fx["name"] = f.name;
            fx["description"] = f.description;
            fx["bug"] = f.bug;
            fx["patched"] = f.patched;
            fixes.push_back(fx);
        }
        p["fixes"] = fixes;
        if (!verifiedBy.empty()) {
            p["source"] = "upstream";
            p["verified-by"] = verifiedBy;
        }
        (*target)["patches"].push_back(p);
        return {};
    });
    if (!s) (void)patches.remove(file);  // the catalogue did not take it: no orphan file
    return s;
}

}  // namespace lpserver
