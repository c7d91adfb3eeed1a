// Where the server keeps patch files, behind one interface so that every
// reader and writer (uploads, downloads with Range, the updates answer's
// digests, upstream sync and its listing) works the same on either store:
//
//   filesystem (default): <data-dir>/patches/<file>, published by a hard
//     link of the checked, fsync'ed staged file (atomic: whole or absent).
//   database: the bytes in the database's patch_files table with their
//     SHA-256 and length, so replicas with their own data dirs serve the
//     same files. Each replica keeps a content-addressed cache,
//     <data-dir>/patch-cache/<sha256> (0700 directory), written atomically
//     and checked against the row's SHA-256 before every use: a damaged
//     cache file is fetched again, never served.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "livepatch/error.h"
#include "store.h"
#include "util/fs.h"

namespace lpserver {

// A stored patch file open for reading: a descriptor of a local regular
// file and its length (as fstat saw it once opened). Read it with pread.
struct OpenPatchFile {
    livepatch::fs::UniqueFd fd;
    std::uint64_t length = 0;
};

// --patch-store: where patch files are kept (see above).
enum class PatchStoreKind { Filesystem, Database };

// "filesystem" or "database"; ConfigInvalid otherwise (the one parser of
// --patch-store's value).
livepatch::Result<PatchStoreKind> parsePatchStoreKind(const std::string& text);

class PatchStore {
public:
    virtual ~PatchStore() = default;
    // A local directory where a patch is received and checked before put()
    // (upload bodies, sync .part files, the checker's scratch space). Dot
    // files in it are never served.
    virtual const std::string& stagingDir() const = 0;
    // Stores the complete, checked file `staged` (in stagingDir()) as `name`:
    // all of it or nothing, never replacing a stored file (AlreadyEnabled).
    // The caller still removes `staged`.
    virtual livepatch::Status put(const std::string& name, const std::string& staged) = 0;
    // Undoes a put() whose publication failed.
    virtual livepatch::Status remove(const std::string& name) = 0;
    // SHA-256 and length; NotFound when there is no such file, Network when
    // the database is unavailable.
    virtual livepatch::Result<PatchFileInfo> info(const std::string& name) = 0;
    // The file, opened for a download (the same errors as info()). The
    // database store's is its cache file, fetched first if need be and
    // checked against the row's SHA-256 through this very descriptor.
    virtual livepatch::Result<OpenPatchFile> open(const std::string& name) = 0;
};

// maxBytes bounds what the database store accepts and fetches (the upload
// limit). Files in <data-dir>/patches/ that the database lacks are imported
// at start, so a server switched to the database store keeps its patches.
livepatch::Result<std::unique_ptr<PatchStore>> openPatchStore(PatchStoreKind kind, const std::string& dataDir,
                                                              Store& store, std::uint64_t maxBytes);

}  // namespace lpserver
