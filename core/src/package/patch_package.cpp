#include "package/patch_package.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <Poco/JSON/Array.h>
#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <regex>
#include <set>
#include <sstream>

#include "util/fs.h"

namespace livepatch {

namespace {

// libarchive may have no error string; never build a std::string from NULL
// (found by fuzz-unpack).
std::string archiveError(struct archive* a) {
    const char* e = archive_error_string(a);
    return e ? e : "unreadable archive";
}

Error unsafe(const std::string& entry, const std::string& why) {
    std::string shown = entry.size() > 120 ? entry.substr(0, 117) + "..." : entry;
    for (auto& c : shown)
        if (static_cast<unsigned char>(c) < 0x20) c = '?';
    return Error(ErrorCode::UnsafeArchive, "archive entry \"" + shown + "\" refused: " + why);
}

// Split and validate a relative path; no empty, ".", ".." components.
Result<std::vector<std::string>> components(const std::string& path) {
    if (path.empty()) return unsafe(path, "empty name");
    if (path[0] == '/') return unsafe(path, "absolute path");
    std::vector<std::string> parts;
    std::stringstream ss(path);
    std::string c;
    while (std::getline(ss, c, '/')) {
        if (c.empty() || c == ".") continue;
        if (c == "..") return unsafe(path, "path contains \"..\"");
        parts.push_back(c);
    }
    if (parts.empty()) return unsafe(path, "empty name");
    if (parts.size() > 8) return unsafe(path, "too deeply nested");
    return parts;
}

// Open (creating with mkdirat when asked) the parent directories of parts.
Result<fs::UniqueFd> openParent(int rootFd, const std::vector<std::string>& parts, const std::string& entry) {
    fs::UniqueFd cur(::dup(rootFd));
    for (size_t i = 0; i + 1 < parts.size(); ++i) {
        ::mkdirat(cur.get(), parts[i].c_str(), 0700);
        fs::UniqueFd next(::openat(cur.get(), parts[i].c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
        if (next.get() < 0) return unsafe(entry, "parent is not a directory");
        cur = std::move(next);
    }
    return cur;
}

Status emptyDir(const std::string& dir) {
    auto names = fs::listDir(dir);
    if (!names) return names.error();
    for (const auto& n : *names) LP_TRY(fs::removeTree(fs::join(dir, n)));
    return {};
}

Status unpackInto(struct archive* a, const std::string& destDir, const UnpackLimits& limits) {
    fs::UniqueFd root(::open(destDir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (root.get() < 0) return Error(ErrorCode::Io, "cannot open " + destDir + ": " + std::strerror(errno));
    std::set<std::string> seen;
    std::uint64_t entries = 0;
    // The limit applies to everything decompressed: archive_filter_bytes(a, 0)
    // is the uncompressed tar stream consumed so far (index -1 would be the
    // compressed file bytes), so bodies libarchive skips by itself (a GNU
    // dumpdir 'D' entry's) count too, not only what we write.
    auto tooLarge = [&] { return static_cast<std::uint64_t>(archive_filter_bytes(a, 0)) > limits.maxTotalBytes; };
    const Error tooLargeError(ErrorCode::TooLarge,
                              "archive expands to more than " + std::to_string(limits.maxTotalBytes) + " bytes");
    struct archive_entry* e;
    for (;;) {
        int r = archive_read_next_header(a, &e);
        if (r == ARCHIVE_EOF) break;
        if (r != ARCHIVE_OK && r != ARCHIVE_WARN)
            return Error(ErrorCode::UnsafeArchive, "not a valid patch archive: " + archiveError(a));
        if (tooLarge()) return tooLargeError;
        const char* rawName = archive_entry_pathname(e);
        std::string name = rawName ? rawName : "";
        if (++entries > limits.maxEntries)
            return Error(ErrorCode::TooLarge,
                         "archive has more than " + std::to_string(limits.maxEntries) + " entries");
        auto parts = components(name);
        if (!parts) return parts.error();
        std::string norm;
        for (const auto& p : *parts) norm += (norm.empty() ? "" : "/") + p;
        if (archive_entry_hardlink(e)) return unsafe(name, "hard link");
        mode_t type = archive_entry_filetype(e);
        if (type == AE_IFLNK) return unsafe(name, "symbolic link");
        // Only regular files carry data. A directory with a body (GNU
        // dumpdir 'D') would have libarchive decompress and skip that body
        // at the next header: refuse it before that happens.
        if (type != AE_IFREG && archive_entry_size_is_set(e) && archive_entry_size(e) > 0)
            return unsafe(name, "a non-regular entry with " + std::to_string(archive_entry_size(e)) + " bytes of data");
        if (type == AE_IFDIR) {
            auto parent = openParent(root.get(), *parts, name);
            if (!parent) return parent.error();
            if (::mkdirat(parent->get(), parts->back().c_str(), 0700) != 0 && errno != EEXIST)
                return unsafe(name, "cannot create directory");
            continue;
        }
        if (type != AE_IFREG) return unsafe(name, "device, fifo or socket");
        if (!seen.insert(norm).second) return unsafe(name, "duplicate entry");
        auto parent = openParent(root.get(), *parts, name);
        if (!parent) return parent.error();
        fs::UniqueFd out(
            ::openat(parent->get(), parts->back().c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
        parent = fs::UniqueFd();  // only the file is needed from here on
        if (out.get() < 0) return unsafe(name, "cannot create file (exists or not allowed)");
        const void* buf;
        size_t size;
        la_int64_t offset;
        std::uint64_t written = 0;
        for (;;) {
            int rr = archive_read_data_block(a, &buf, &size, &offset);
            if (rr == ARCHIVE_EOF) break;
            if (rr != ARCHIVE_OK && rr != ARCHIVE_WARN)
                return Error(ErrorCode::UnsafeArchive, "archive is truncated or corrupt at \"" + norm + "\"");
            if (static_cast<std::uint64_t>(offset) != written) return unsafe(name, "sparse entries are not allowed");
            if (tooLarge()) return tooLargeError;
            const char* p = static_cast<const char*>(buf);
            size_t left = size;
            while (left) {
                ssize_t n = ::write(out.get(), p, left);
                if (n < 0) {
                    if (errno == EINTR) continue;
                    return Error(ErrorCode::Io,
                                 "cannot write " + fs::join(destDir, norm) + ": " + std::strerror(errno));
                }
                p += n;
                left -= static_cast<size_t>(n);
            }
            written += size;
        }
    }
    return {};
}

}  // namespace

Status safeUnpack(const std::string& archivePath, const std::string& destDir, const UnpackLimits& limits) {
    std::unique_ptr<struct archive, decltype(&archive_read_free)> a(archive_read_new(), &archive_read_free);
    archive_read_support_filter_gzip(a.get());
    archive_read_support_filter_xz(a.get());
    archive_read_support_filter_bzip2(a.get());
    archive_read_support_format_tar(a.get());
    archive_read_support_format_gnutar(a.get());
    fs::UniqueFd fd(::open(archivePath.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
    if (fd.get() < 0) return Error(ErrorCode::Io, "cannot open " + archivePath + ": " + std::strerror(errno));
    if (archive_read_open_fd(a.get(), fd.get(), 65536) != ARCHIVE_OK)
        return Error(ErrorCode::UnsafeArchive, "not a valid patch archive: " + archiveError(a.get()));
    Status s = unpackInto(a.get(), destDir, limits);
    if (!s) (void)emptyDir(destDir);
    return s;
}

bool isPatchVersion(const std::string& v) {
    static const std::regex versionRe("^[0-9]{1,9}(\\.[0-9]{1,9}){0,3}$");
    return std::regex_match(v, versionRe);
}

Result<PatchMetadata> parsePatchMetadata(std::string_view json) {
    if (json.size() > 1u << 20) return Error(ErrorCode::TooLarge, "livepatch.json is larger than 1 MiB");
    Poco::JSON::Object::Ptr o;
    try {
        Poco::JSON::Parser parser;
        o = parser.parse(std::string(json)).extract<Poco::JSON::Object::Ptr>();
    } catch (...) {
        return Error(ErrorCode::Protocol, "livepatch.json is not a JSON object");
    }
    if (!o) return Error(ErrorCode::Protocol, "livepatch.json is not a JSON object");
    auto field = [&](const std::string& k, bool required) -> Result<std::string> {
        if (!o->has(k) || o->isNull(k)) {
            if (required) return Error(ErrorCode::Protocol, "livepatch.json: missing \"" + k + "\"");
            return std::string();
        }
        auto v = o->get(k);
        if (!v.isString()) return Error(ErrorCode::Protocol, "livepatch.json: \"" + k + "\" must be a string");
        return v.extract<std::string>();
    };
    PatchMetadata m;
    try {
        auto fmt = o->get("format");
        if (!fmt.isInteger() || fmt.convert<int>() != 1)
            return Error(ErrorCode::Protocol, "livepatch.json: \"format\" must be 1");
    } catch (...) {
        return Error(ErrorCode::Protocol, "livepatch.json: missing \"format\"");
    }
    static const std::regex nameRe("^[a-z0-9_]{1,55}$");
    static const std::regex moduleRe("^[A-Za-z0-9_-]{1,60}\\.ko$");
    static const std::regex archRe("^(x86_64|aarch64|s390x|ppc64le|riscv64|i686|armv7l)$");
    static const std::regex fixRe("^[a-z0-9][a-z0-9._-]{0,63}$");
    auto name = field("name", true);
    if (!name) return name.error();
    if (!std::regex_match(*name, nameRe))
        return Error(ErrorCode::Protocol, "livepatch.json: \"name\" must match [a-z0-9_]{1,55}");
    auto version = field("version", true);
    if (!version) return version.error();
    if (!isPatchVersion(*version))
        return Error(ErrorCode::Protocol, "livepatch.json: \"version\" must be dotted numbers");
    auto module = field("module", true);
    if (!module) return module.error();
    if (!std::regex_match(*module, moduleRe))
        return Error(ErrorCode::Protocol, "livepatch.json: \"module\" must be a plain .ko file name");
    auto kernel = field("kernel", true);
    if (!kernel) return kernel.error();
    if (kernel->empty() || kernel->size() > 128)
        return Error(ErrorCode::Protocol, "livepatch.json: invalid \"kernel\"");
    auto arch = field("architecture", true);
    if (!arch) return arch.error();
    if (!std::regex_match(*arch, archRe)) return Error(ErrorCode::Protocol, "livepatch.json: unknown \"architecture\"");
    m.name = *name;
    m.version = *version;
    m.module = *module;
    m.kernel = *kernel;
    m.architecture = *arch;
    if (o->has("replace")) {
        auto r = o->get("replace");
        if (!r.isBoolean()) return Error(ErrorCode::Protocol, "livepatch.json: \"replace\" must be true or false");
        m.replace = r.convert<bool>();
    }
    if (o->has("fixes") && !o->isNull("fixes")) {
        auto arr = o->getArray("fixes");
        if (!arr) return Error(ErrorCode::Protocol, "livepatch.json: \"fixes\" must be an array");
        for (size_t i = 0; i < arr->size(); ++i) {
            auto f = arr->getObject(static_cast<unsigned>(i));
            if (!f)
                return Error(ErrorCode::Protocol, "livepatch.json: fixes[" + std::to_string(i) + "] must be an object");
            PatchFix fix;
            try {
                fix.name = f->getValue<std::string>("name");
                fix.description = f->optValue<std::string>("description", "");
                fix.bug = f->optValue<std::string>("bug", "");
                // A JSON boolean or absent (patched): Poco would turn the
                // string "no" into true.
                if (f->has("patched") && !f->get("patched").isBoolean()) throw std::invalid_argument("patched");
                fix.patched = f->optValue<bool>("patched", true);
            } catch (...) {
                return Error(ErrorCode::Protocol,
                             "livepatch.json: fixes[" + std::to_string(i) + "] has invalid fields");
            }
            if (!std::regex_match(fix.name, fixRe))
                return Error(ErrorCode::Protocol, "livepatch.json: fixes[" + std::to_string(i) +
                                                      "].name must be lowercase like cve-2023-6270");
            m.fixes.push_back(fix);
        }
    }
    return m;
}

Result<PatchPackage> openPatchPackage(const std::string& archivePath, const std::string& workDir,
                                      const UnpackLimits& limits) {
    if (fs::exists(workDir)) return Error(ErrorCode::Io, "work directory " + workDir + " already exists");
    LP_TRY(fs::ensurePrivateDir(workDir));
    LP_TRY(safeUnpack(archivePath, workDir, limits));
    auto json = fs::readFile(fs::join(workDir, "livepatch.json"), 1u << 20);
    if (!json) return Error(ErrorCode::Protocol, "patch archive has no readable livepatch.json");
    auto md = parsePatchMetadata(*json);
    if (!md) return md.error();
    auto names = fs::listDir(workDir);
    if (!names) return names.error();
    int kos = 0;
    for (const auto& n : *names)
        if (n.size() > 3 && n.compare(n.size() - 3, 3, ".ko") == 0) ++kos;
    PatchPackage pkg;
    pkg.metadata = *md;
    pkg.workDir = workDir;
    pkg.modulePath = fs::join(workDir, md->module);
    struct stat st;
    if (::lstat(pkg.modulePath.c_str(), &st) != 0 || !S_ISREG(st.st_mode))
        return Error(ErrorCode::Protocol,
                     "patch archive does not contain the module " + md->module + " named in livepatch.json");
    if (kos != 1) return Error(ErrorCode::Protocol, "patch archive must contain exactly one .ko module");
    return pkg;
}

int compareVersions(const std::string& a, const std::string& b) {
    std::stringstream sa(a), sb(b);
    std::string pa, pb;
    for (;;) {
        bool ha = static_cast<bool>(std::getline(sa, pa, '.'));
        bool hb = static_cast<bool>(std::getline(sb, pb, '.'));
        if (!ha && !hb) return 0;
        if (!ha) return -1;
        if (!hb) return 1;
        bool na = !pa.empty() && pa.find_first_not_of("0123456789") == std::string::npos;
        bool nb = !pb.empty() && pb.find_first_not_of("0123456789") == std::string::npos;
        if (na && nb) {
            auto ta = pa.erase(0, std::min(pa.find_first_not_of('0'), pa.size() - 1));
            auto tb = pb.erase(0, std::min(pb.find_first_not_of('0'), pb.size() - 1));
            if (ta.size() != tb.size()) return ta.size() < tb.size() ? -1 : 1;
            if (ta != tb) return ta < tb ? -1 : 1;
        } else if (pa != pb) {
            return pa < pb ? -1 : 1;
        }
    }
}

}  // namespace livepatch
