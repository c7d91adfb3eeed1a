#include "pack.h"

#include <archive.h>
#include <archive_entry.h>
#include <openssl/bio.h>
#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <yaml-cpp/yaml.h>

#include <Poco/JSON/Array.h>
#include <Poco/JSON/Object.h>

#include <spawn.h>
#include <sys/wait.h>

#include <cstdlib>
#include <memory>
#include <sstream>

#include "livepatch/modinfo.h"
#include "package/patch_package.h"
#include "util/fs.h"

extern char** environ;

namespace lppack {

using livepatch::Error;
using livepatch::ErrorCode;

namespace {

const std::string kSignatureMagic = "~Module signature appended~\n";

bool isSigned(const std::string& module) {
    return module.size() >= kSignatureMagic.size() &&
           module.compare(module.size() - kSignatureMagic.size(), kSignatureMagic.size(), kSignatureMagic) == 0;
}

// Runs objcopy with these arguments (no shell); true on exit status 0.
bool objcopy(std::vector<std::string> args) {
    args.insert(args.begin(), "objcopy");
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    pid_t pid;
    if (posix_spawnp(&pid, "objcopy", nullptr, nullptr, argv.data(), environ) != 0) return false;
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

// The .modinfo value of `key`, nullopt when absent; errors name the module problem.
livepatch::Result<std::optional<std::string>> modinfoValue(const std::string& module, const char* key) {
    auto info = livepatch::parseModInfo(module);
    if (!info) return Error(ErrorCode::InvalidArgument, "not a kernel module: " + info.error().message());
    auto v = info->unique(key);
    if (!v) return Error(ErrorCode::InvalidArgument, v.error().message());
    return *v;
}

}  // namespace

livepatch::Result<std::string> embedVersion(const std::string& module, const std::string& version) {
    if (!livepatch::isPatchVersion(version))
        return Error(ErrorCode::InvalidArgument, "--version must be dotted numbers like 3 or 95.1");
    auto current = modinfoValue(module, "version");
    if (!current) return current.error();
    if (*current && **current == version) return module;
    if (*current)
        return Error(ErrorCode::InvalidArgument, "the module's .modinfo says version=" + **current + ", not " +
                                                     version + "; rebuild it with MODULE_VERSION(\"" + version + "\")");
    if (isSigned(module))
        return Error(ErrorCode::InvalidArgument,
                     "the module is already signed and its .modinfo has no version=; adding version=" + version +
                         " would break the signature: sign the unsigned module with "
                         "`livepatch-pack sign --version " +
                         version + "`, or build it with MODULE_VERSION(\"" + version + "\")");
    char tmpl[] = "/tmp/lppack-XXXXXX";
    if (!::mkdtemp(tmpl)) return Error(ErrorCode::Io, "cannot create a temporary directory");
    const std::string dir = tmpl, in = dir + "/in.ko", section = dir + "/modinfo", out = dir + "/out.ko";
    struct Cleanup {
        std::string dir;
        ~Cleanup() { (void)livepatch::fs::removeTree(dir); }
    } cleanup{dir};
    LP_TRY(livepatch::fs::writeFileAtomic(in, module, 0600));
    if (!objcopy({"--dump-section", ".modinfo=" + section, in}))
        return Error(ErrorCode::InvalidArgument, "objcopy cannot read the module's .modinfo section");
    auto strings = livepatch::fs::readFile(section, 16u << 20);
    if (!strings) return strings.error();
    LP_TRY(livepatch::fs::writeFileAtomic(section, *strings + "version=" + version + std::string(1, '\0'), 0600));
    // Appended at the end: the offsets of the existing strings (and the
    // symbols that point at them) stay valid.
    if (!objcopy({"--update-section", ".modinfo=" + section, in, out}))
        return Error(ErrorCode::InvalidArgument, "objcopy cannot update the module's .modinfo section");
    auto updated = livepatch::fs::readFile(out, 512u << 20);
    if (!updated) return updated.error();
    auto check = modinfoValue(*updated, "version");
    if (!check || !*check || **check != version)
        return Error(ErrorCode::Internal, "objcopy did not add version=" + version);
    return *updated;
}

livepatch::Status checkModuleMatches(const std::string& module, const std::string& name, const std::string& version) {
    auto declared = modinfoValue(module, "name");
    if (!declared) return declared.error();
    if (*declared && **declared != name)
        return Error(ErrorCode::InvalidArgument, "the module's .modinfo says name=" + **declared + ", not " + name +
                                                     "; the agent refuses a module named otherwise than its patch");
    auto livepatch = modinfoValue(module, "livepatch");
    if (!livepatch) return livepatch.error();
    if (!*livepatch || **livepatch != "Y")
        return Error(ErrorCode::InvalidArgument,
                     "the module's .modinfo has no livepatch=Y: it is not a livepatch module");
    auto signedVersion = modinfoValue(module, "version");
    if (!signedVersion) return signedVersion.error();
    if (!*signedVersion)
        return Error(ErrorCode::InvalidArgument,
                     "the module's .modinfo has no version=; the agent trusts only the signed version: "
                     "sign it with `livepatch-pack sign --version " +
                         version + "` (which adds it before signing) or build it with MODULE_VERSION(\"" + version +
                         "\")");
    if (**signedVersion != version)
        return Error(ErrorCode::InvalidArgument,
                     "the module's .modinfo says version=" + **signedVersion + ", but --version is " + version);
    return {};
}

livepatch::Result<std::string> signModule(const std::string& module, const std::string& keyPem, const std::string& cert,
                                          const std::string& hash) {
    const EVP_MD* md = hash == "sha512" ? EVP_sha512() : hash == "sha256" ? EVP_sha256() : nullptr;
    if (!md) return Error(ErrorCode::InvalidArgument, "hash must be sha512 or sha256");
    std::unique_ptr<BIO, decltype(&BIO_free)> kb(BIO_new_mem_buf(keyPem.data(), static_cast<int>(keyPem.size())),
                                                 &BIO_free);
    std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(
        PEM_read_bio_PrivateKey(kb.get(), nullptr, nullptr, nullptr), &EVP_PKEY_free);
    if (!key) return Error(ErrorCode::InvalidArgument, "cannot read the private key (PEM)");
    std::unique_ptr<BIO, decltype(&BIO_free)> cb(BIO_new_mem_buf(cert.data(), static_cast<int>(cert.size())),
                                                 &BIO_free);
    X509* x = PEM_read_bio_X509(cb.get(), nullptr, nullptr, nullptr);
    if (!x) {
        const unsigned char* p = reinterpret_cast<const unsigned char*>(cert.data());
        x = d2i_X509(nullptr, &p, static_cast<long>(cert.size()));
    }
    std::unique_ptr<X509, decltype(&X509_free)> x509(x, &X509_free);
    if (!x509) return Error(ErrorCode::InvalidArgument, "cannot read the certificate (PEM or DER)");
    ERR_clear_error();
    // Same flags as the kernel's sign-file: detached, binary, no certs, no attributes.
    const unsigned flags =
        CMS_NOCERTS | CMS_PARTIAL | CMS_BINARY | CMS_DETACHED | CMS_STREAM | CMS_NOSMIMECAP | CMS_NOATTR;
    std::unique_ptr<BIO, decltype(&BIO_free)> data(BIO_new_mem_buf(module.data(), static_cast<int>(module.size())),
                                                   &BIO_free);
    std::unique_ptr<CMS_ContentInfo, decltype(&CMS_ContentInfo_free)> cms(
        CMS_sign(nullptr, nullptr, nullptr, nullptr, flags), &CMS_ContentInfo_free);
    if (!cms || !CMS_add1_signer(cms.get(), x509.get(), key.get(), md, flags) ||
        CMS_final(cms.get(), data.get(), nullptr, flags) != 1)
        return Error(ErrorCode::Internal, "CMS signing failed");
    std::unique_ptr<BIO, decltype(&BIO_free)> out(BIO_new(BIO_s_mem()), &BIO_free);
    if (i2d_CMS_bio(out.get(), cms.get()) != 1) return Error(ErrorCode::Internal, "cannot encode the signature");
    char* p = nullptr;
    long len = BIO_get_mem_data(out.get(), &p);
    std::string result = module;
    result.append(p, static_cast<size_t>(len));
    unsigned char info[12] = {0,
                              0,
                              2 /* PKEY_ID_PKCS7 */,
                              0,
                              0,
                              0,
                              0,
                              0,
                              static_cast<unsigned char>(len >> 24),
                              static_cast<unsigned char>(len >> 16),
                              static_cast<unsigned char>(len >> 8),
                              static_cast<unsigned char>(len)};
    result.append(reinterpret_cast<const char*>(info), sizeof info);
    result += "~Module signature appended~\n";
    return result;
}

livepatch::Status packPatch(const PackSpec& spec, const std::string& outPath) {
    auto module = livepatch::fs::readFile(spec.modulePath, 512u << 20);
    if (!module) return module.error();
    if (auto matches = checkModuleMatches(*module, spec.name, spec.version); !matches)
        return matches.error().wrap(spec.modulePath);
    std::string moduleName = spec.modulePath.substr(spec.modulePath.find_last_of('/') + 1);
    Poco::JSON::Object md(Poco::JSON_PRESERVE_KEY_ORDER);
    md.set("format", 1);
    md.set("name", spec.name);
    md.set("version", spec.version);
    md.set("module", moduleName);
    md.set("kernel", spec.kernel);
    md.set("architecture", spec.architecture);
    md.set("replace", spec.replace);
    Poco::JSON::Array::Ptr fixes(new Poco::JSON::Array);
    if (!spec.fixesYaml.empty()) {
        try {
            for (const auto& f : YAML::LoadFile(spec.fixesYaml)) {
                Poco::JSON::Object::Ptr o(new Poco::JSON::Object(Poco::JSON_PRESERVE_KEY_ORDER));
                o->set("name", f["name"].as<std::string>());
                o->set("description", f["description"] ? f["description"].as<std::string>() : "");
                o->set("bug", f["bug"] ? f["bug"].as<std::string>() : "");
                o->set("patched", f["patched"] ? f["patched"].as<bool>() : true);
                fixes->add(o);
            }
        } catch (const std::exception& e) {
            return Error(ErrorCode::InvalidArgument, "fixes file " + spec.fixesYaml + ": " + e.what());
        }
    }
    md.set("fixes", fixes);
    std::ostringstream json;
    md.stringify(json, 2);

    std::unique_ptr<archive, decltype(&archive_write_free)> a(archive_write_new(), &archive_write_free);
    archive_write_set_format_pax_restricted(a.get());
    auto ends = [&](const std::string& s) {
        return outPath.size() >= s.size() && outPath.compare(outPath.size() - s.size(), s.size(), s) == 0;
    };
    if (ends(".tar.xz")) archive_write_add_filter_xz(a.get());
    else if (ends(".tar.gz")) archive_write_add_filter_gzip(a.get());
    else if (ends(".tar.bz2")) archive_write_add_filter_bzip2(a.get());
    else if (!ends(".tar"))
        return Error(ErrorCode::InvalidArgument, "output must end in .tar.xz, .tar.gz, .tar.bz2 or .tar");
    if (archive_write_open_filename(a.get(), outPath.c_str()) != ARCHIVE_OK)
        return Error(ErrorCode::Io, std::string("cannot write ") + outPath + ": " + archive_error_string(a.get()));
    auto add = [&](const std::string& name, const std::string& data) {
        std::unique_ptr<archive_entry, decltype(&archive_entry_free)> e(archive_entry_new(), &archive_entry_free);
        archive_entry_set_pathname(e.get(), name.c_str());
        archive_entry_set_size(e.get(), static_cast<la_int64_t>(data.size()));
        archive_entry_set_filetype(e.get(), AE_IFREG);
        archive_entry_set_perm(e.get(), 0644);
        archive_entry_set_mtime(e.get(), 0, 0);  // reproducible
        archive_write_header(a.get(), e.get());
        archive_write_data(a.get(), data.data(), data.size());
    };
    add("livepatch.json", json.str() + "\n");
    add(moduleName, *module);
    if (archive_write_close(a.get()) != ARCHIVE_OK) return Error(ErrorCode::Io, "cannot finish " + outPath);
    return {};
}

}  // namespace lppack
