#include "patch_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <iostream>
#include <regex>

#include "catalogue.h"
#include "crypto/sha256.h"
#include "input.h"
#include "util/fs.h"

namespace lpserver {

using livepatch::Error;
using livepatch::ErrorCode;

namespace {

// The directory `path` (mode for a new one); an existing one is kept as it is.
livepatch::Status ensureDir(const std::string& path, mode_t mode) {
    if (::mkdir(path.c_str(), mode) == 0 || errno == EEXIST) return {};
    return Error(ErrorCode::Io, "cannot create " + path);
}

// A regular file opened once (O_NOFOLLOW), with its length from fstat of
// that descriptor: what is served is what was opened, even if the path is
// replaced meanwhile. NotFound if absent.
livepatch::Result<OpenPatchFile> openRegular(const std::string& path) {
    livepatch::fs::UniqueFd fd(::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
    if (fd.get() < 0 && errno == ENOENT) return Error(ErrorCode::NotFound, "no patch file " + path);
    if (fd.get() < 0) return Error(ErrorCode::Io, "cannot open " + path + ": " + std::strerror(errno));
    struct stat st;
    if (::fstat(fd.get(), &st) != 0) return Error(ErrorCode::Io, "cannot stat " + path);
    if (!S_ISREG(st.st_mode)) return Error(ErrorCode::Io, path + " is not a regular file");
    return OpenPatchFile{std::move(fd), static_cast<std::uint64_t>(st.st_size)};
}

class FilesystemPatchStore : public PatchStore {
public:
    explicit FilesystemPatchStore(std::string dir) : dir_(std::move(dir)) {}
    const std::string& stagingDir() const override { return dir_; }

    livepatch::Status put(const std::string& name, const std::string& staged) override {
        if (::link(staged.c_str(), path(name).c_str()) == 0) return {};
        if (errno == EEXIST) return Error(ErrorCode::AlreadyEnabled, "a patch file with this name already exists");
        return Error(ErrorCode::Io, "cannot store the patch");
    }
    livepatch::Status remove(const std::string& name) override { return livepatch::fs::removeFile(path(name)); }
    livepatch::Result<PatchFileInfo> info(const std::string& name) override {
        auto d = fileDigest(path(name));
        if (!d) return d.error();
        return PatchFileInfo{d->first, d->second};
    }
    livepatch::Result<OpenPatchFile> open(const std::string& name) override { return openRegular(path(name)); }

private:
    std::string path(const std::string& name) const { return dir_ + "/" + name; }
    std::string dir_;
};

class DatabasePatchStore : public PatchStore {
public:
    DatabasePatchStore(std::string cacheDir, Store& store, std::uint64_t maxBytes)
        : cacheDir_(std::move(cacheDir)), store_(store), maxBytes_(maxBytes) {}
    const std::string& stagingDir() const override { return cacheDir_; }

    livepatch::Status put(const std::string& name, const std::string& staged) override {
        auto data = livepatch::fs::readFile(staged, maxBytes_);
        if (!data) {
            if (data.error().code() == ErrorCode::TooLarge)
                return Error(ErrorCode::TooLarge, "patch larger than the server's upload limit");
            return Error(ErrorCode::Io, "cannot read the staged patch");
        }
        const std::string digest = livepatch::sha256Hex(*data);
        auto added = store_.addPatchFile(name, digest, *data);
        if (!added) return added.error();
        if (!*added) return Error(ErrorCode::AlreadyEnabled, "a patch file with this name already exists");
        remember(name, PatchFileInfo{digest, data->size()});
        (void)cache(digest, *data);  // best effort: open() fetches it again
        return {};
    }

    livepatch::Status remove(const std::string& name) override {
        {
            std::lock_guard<std::mutex> l(mu_);
            known_.erase(name);
        }
        auto r = store_.removePatchFile(name);
        if (!r) return r.error();
        return {};
    }

    // Rows are never replaced, so what was found once stays true: check-ins
    // listing a patch do not ask the database for its digest every time.
    livepatch::Result<PatchFileInfo> info(const std::string& name) override {
        {
            std::lock_guard<std::mutex> l(mu_);
            auto it = known_.find(name);
            if (it != known_.end()) return it->second;
        }
        auto row = store_.patchFileInfo(name);
        if (!row) return row.error();
        if (!*row) return Error(ErrorCode::NotFound, "no patch file " + name);
        // From the database, but it becomes a path: only a digest's shape.
        if (!std::regex_match((*row)->sha256, kSha256Re))
            return Error(ErrorCode::StateCorrupt, "patch file " + name + ": malformed sha256 in the database");
        remember(name, **row);
        return **row;
    }

    livepatch::Result<OpenPatchFile> open(const std::string& name) override {
        auto i = info(name);
        if (!i) return i.error();
        const std::string path = cacheDir_ + "/" + i->sha256;
        auto cached = openChecked(path, *i);
        if (cached) return cached;
        if (cached.error().code() == ErrorCode::ChecksumMismatch)
            std::cerr << "patch cache: " << path << " does not match its sha256; fetched again from the database"
                      << std::endl;
        // A fetch holds the whole file in memory (a database value comes
        // whole): one at a time, so concurrent downloads of files not yet
        // cached hold one file's bytes, not one each.
        std::lock_guard<std::mutex> l(fetchMu_);
        cached = openChecked(path, *i);  // fetched by another download meanwhile
        if (cached) return cached;
        {
            auto content = store_.patchFileContent(name, maxBytes_);
            if (!content) return content.error();
            if (!*content) return Error(ErrorCode::NotFound, "no patch file " + name);
            if ((*content)->size() != i->length || !livepatch::digestEquals(livepatch::sha256Hex(**content), i->sha256))
                return Error(ErrorCode::ChecksumMismatch,
                             "patch file " + name + ": the database's bytes do not match their sha256");
            LP_TRY(cache(i->sha256, **content));
        }
        return openChecked(path, *i);
    }

private:
    // The cache file, opened once and checked through that descriptor, so
    // that what is served is what was checked. ChecksumMismatch if damaged.
    static livepatch::Result<OpenPatchFile> openChecked(const std::string& path, const PatchFileInfo& i) {
        auto f = openRegular(path);
        if (!f) return f;
        if (f->length != i.length) return Error(ErrorCode::ChecksumMismatch, path + " has the wrong length");
        auto d = livepatch::sha256FdHex(f->fd.get(), path);
        if (!d) return d.error();
        if (!livepatch::digestEquals(*d, i.sha256)) return Error(ErrorCode::ChecksumMismatch, path + " is damaged");
        return f;
    }
    livepatch::Status cache(const std::string& digest, const std::string& data) {
        auto s = livepatch::fs::writeFileAtomic(cacheDir_ + "/" + digest, data, 0600);
        if (!s) std::cerr << "patch cache: cannot write " << cacheDir_ << "/" << digest << std::endl;
        return s;
    }
    void remember(const std::string& name, const PatchFileInfo& i) {
        std::lock_guard<std::mutex> l(mu_);
        known_[name] = i;
    }

    std::string cacheDir_;
    Store& store_;
    std::uint64_t maxBytes_;
    std::mutex mu_;
    std::map<std::string, PatchFileInfo> known_;
    std::mutex fetchMu_;
};

// Files of <data-dir>/patches/ the database lacks, put into it.
livepatch::Status importPatchDir(PatchStore& store, const std::string& dir) {
    if (!livepatch::fs::exists(dir)) return {};
    auto names = livepatch::fs::listDir(dir);
    if (!names) return names.error();
    for (const auto& name : *names) {
        if (!std::regex_match(name, kFileRe)) continue;  // dot files: staging, never patches
        auto have = store.info(name);
        if (have) continue;
        if (have.error().code() != ErrorCode::NotFound) return have.error();
        auto s = store.put(name, dir + "/" + name);
        if (s) std::cout << "patch store: imported " << name << " into the database" << std::endl;
        else if (s.error().code() == ErrorCode::Network) return s;
        else std::cerr << "patch store: " << name << " not imported: " << s.error().message() << std::endl;
    }
    return {};
}

}  // namespace

livepatch::Result<PatchStoreKind> parsePatchStoreKind(const std::string& text) {
    if (text == "filesystem") return PatchStoreKind::Filesystem;
    if (text == "database") return PatchStoreKind::Database;
    return Error(ErrorCode::ConfigInvalid, "--patch-store: expected filesystem or database");
}

livepatch::Result<std::unique_ptr<PatchStore>> openPatchStore(PatchStoreKind kind, const std::string& dataDir,
                                                              Store& store, std::uint64_t maxBytes) {
    const std::string patches = dataDir + "/patches";
    if (kind == PatchStoreKind::Filesystem) {
        LP_TRY(ensureDir(patches, 0755));
        return std::unique_ptr<PatchStore>(new FilesystemPatchStore(patches));
    }
    const std::string cache = dataDir + "/patch-cache";
    LP_TRY(ensureDir(cache, 0700));  // (ensurePrivateDir would refuse a relative --data-dir)
    std::unique_ptr<PatchStore> db(new DatabasePatchStore(cache, store, maxBytes));
    LP_TRY(importPatchDir(*db, patches));
    return db;
}

}  // namespace lpserver
