#include "catalogue.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <cerrno>
#include <cstring>
#include <iostream>
#include <map>
#include <mutex>
#include <regex>

#include "crypto/sha256.h"
#include "input.h"
#include "livepatch/text.h"
#include "store.h"
#include "util/fs.h"
#include "util/timeutil.h"

namespace lpserver {

using livepatch::Error;
using livepatch::ErrorCode;

namespace {

long long mtimeNs(const struct stat& st) { return st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec; }

// The document as a YAML map ("" and a bare null are the empty catalogue).
YAML::Node loadDocument(const std::string& text) {
    YAML::Node root = YAML::Load(text);
    if (!root.IsDefined() || root.IsNull()) root = YAML::Node(YAML::NodeType::Map);
    if (!root.IsMap()) throw std::runtime_error("not a YAML map");
    return root;
}

std::string emit(const YAML::Node& root) {
    YAML::Emitter out;
    out << root;
    return std::string(out.c_str()) + "\n";
}

std::vector<TierSpec> parseTiers(const YAML::Node& root, const std::string& where) {
    std::vector<TierSpec> tiers;
    int n = 0;
    for (const auto& t : root["tiers"]) {
        ++n;
        const std::string at = where + ": tiers entry " + std::to_string(n);
        TierSpec spec;
        spec.name = t.IsMap() ? t["name"].as<std::string>("") : t.as<std::string>();
        if (!std::regex_match(spec.name, tierNameRe()))
            throw std::runtime_error(at + ": name must be 1-32 of [a-z0-9._-]");
        if (t.IsMap() && t["soak"]) {
            auto d = livepatch::timeutil::parseDuration(t["soak"].as<std::string>());
            if (!d || d->count() <= 0)
                throw std::runtime_error(at + ": soak must be a duration such as 90s, 12h or 3d");
            spec.soak = *d;
        }
        if (spec.name != "stable") tiers.push_back(spec);
    }
    tiers.push_back(TierSpec{"stable", std::nullopt});
    return tiers;
}

}  // namespace

const std::regex& tierNameRe() {
    static const std::regex re("^[a-z0-9][a-z0-9._-]{0,31}$");
    return re;
}

std::vector<std::string> Catalogue::tierNames() const {
    std::vector<std::string> names;
    for (const auto& t : tiers) names.push_back(t.name);
    return names;
}

livepatch::Result<Catalogue> parseCatalogue(const std::string& text, const std::string& where) {
    // Lines of UTF-8 text without control characters: what livepatch-admin
    // shows and edits as it is, and what every edit re-emits unchanged in
    // form (bytes that are not UTF-8 came back from yaml-cpp's emitter as a
    // document it could not load again: found by fuzz-catalogue).
    if (!livepatch::isPrintableLines(text, kMaxCatalogueBytes, /*allowCarriageReturn=*/true))
        return Error(ErrorCode::ConfigInvalid,
                     where + ": not UTF-8 text without control characters, or larger than 16 MiB");
    try {
        const YAML::Node root = loadDocument(text);
        Catalogue out;
        out.tiers = parseTiers(root, where);
        for (const auto& k : root["kernels"]) {
            CatalogueKernel ck;
            ck.kernel = k["kernel"].as<std::string>();
            ck.architecture = k["architecture"].as<std::string>();
            if (k["supported"]) ck.supported = k["supported"].as<std::string>();
            if (k["upgrade-required-date"]) ck.upgradeRequiredDate = k["upgrade-required-date"].as<std::string>();
            for (const auto& p : k["patches"]) {
                CataloguePatch cp;
                cp.file = p["file"].as<std::string>();
                // It becomes a path in the patch store and a URL: a plain
                // file name, whoever wrote the document.
                if (!std::regex_match(cp.file, kFileRe))
                    throw std::runtime_error("kernel " + livepatch::terminalSafe(ck.kernel, 128) +
                                             ": a patch's file must be a plain file name of [A-Za-z0-9._+-]");
                cp.name = p["name"].as<std::string>();
                cp.version = p["version"].as<std::string>();
                if (p["published"]) cp.published = p["published"].as<std::string>();
                if (p["tier"]) cp.tier = p["tier"].as<std::string>();
                if (p["tier-since"]) cp.tierSince = p["tier-since"].as<std::string>();
                if (p["replace"]) cp.replace = p["replace"].as<bool>();
                if (p["source"]) {
                    const std::string source = p["source"].as<std::string>();
                    if (source != "upload" && source != "upstream")
                        throw std::runtime_error("patch " + cp.file + ": source must be upload or upstream");
                    cp.source = source == "upstream" ? PatchSource::Upstream : PatchSource::Upload;
                }
                if (p["verified-by"]) cp.verifiedBy = p["verified-by"].as<std::string>();
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
            out.kernels.push_back(ck);
        }
        return out;
    } catch (const std::exception& e) {
        return Error(ErrorCode::ConfigInvalid, where + ": " + e.what());
    }
}

namespace {

// A document edited: its text, and the catalogue the one parser read from it
// before anything is written.
struct EditedDocument {
    std::string text;
    Catalogue parsed;
};

// Applies `edit` to `text`.
livepatch::Result<EditedDocument> editedDocument(const std::string& text, const std::string& where,
                                                 const std::function<livepatch::Status(YAML::Node&)>& edit) {
    YAML::Node root;
    try {
        root = loadDocument(text);
    } catch (const std::exception& e) {
        return Error(ErrorCode::ConfigInvalid, where + ": " + e.what());
    }
    LP_TRY(edit(root));
    std::string out = emit(root);
    auto parsed = parseCatalogue(out, where);
    if (!parsed) return parsed.error();
    return EditedDocument{std::move(out), std::move(*parsed)};
}

class FileCatalogue : public CatalogueStore {
public:
    explicit FileCatalogue(std::string path) : path_(std::move(path)), name_("catalogue " + path_) {}

    livepatch::Result<CatalogueSnapshot> snapshot() override {
        struct stat st {};
        const bool present = ::stat(path_.c_str(), &st) == 0;
        const auto key =
            present ? std::make_pair(mtimeNs(st), static_cast<long long>(st.st_size)) : std::make_pair(-1LL, -1LL);
        {
            std::lock_guard<std::mutex> l(mu_);
            if (cached_ && key_ == key) return cached_;
        }
        auto text = read();
        if (!text) return text.error();
        auto parsed = parseCatalogue(*text, name_);
        if (!parsed) return parsed.error();
        auto snap = std::make_shared<const Catalogue>(std::move(*parsed));
        std::lock_guard<std::mutex> l(mu_);
        cached_ = snap;
        key_ = key;
        return CatalogueSnapshot(snap);
    }

    livepatch::Status edit(const std::function<livepatch::Status(YAML::Node&)>& edit) override {
        auto lock = exclusive();
        if (!lock) return lock.error();
        auto text = read();
        if (!text) return text.error();
        auto out = editedDocument(*text, name_, edit);
        if (!out) return out.error();
        return livepatch::fs::writeFileAtomic(path_, out->text, 0644);
    }

    livepatch::Result<CatalogueDocument> document() override {
        auto text = read();
        if (!text) return text.error();
        return CatalogueDocument{*text, catalogueEtag(*text)};
    }

    livepatch::Status replace(const std::string& text, const std::string& ifMatch) override {
        auto parsed = parseCatalogue(text, "the new catalogue");
        if (!parsed) return parsed.error();
        auto lock = exclusive();
        if (!lock) return lock.error();
        auto current = read();
        if (!current) return current.error();
        if (ifMatch != "*" && ifMatch != catalogueEtag(*current))
            return Error(ErrorCode::Stale, "the catalogue changed since it was read");
        return livepatch::fs::writeFileAtomic(path_, text, 0644);
    }

    const std::string& name() const override { return name_; }

private:
    // A missing file is the empty catalogue (a new data dir, before the
    // first upload writes one).
    livepatch::Result<std::string> read() {
        auto text = livepatch::fs::readFile(path_, kMaxCatalogueBytes);
        if (!text && text.error().code() == ErrorCode::NotFound) return std::string();
        return text;
    }

    // Replicas sharing the file serialize their edits on <file>.lock.
    livepatch::Result<livepatch::fs::UniqueFd> exclusive() {
        const std::string lockPath = path_ + ".lock";
        livepatch::fs::UniqueFd lock(::open(lockPath.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600));
        if (lock.get() < 0) return Error(ErrorCode::Io, "cannot open " + lockPath + ": " + std::strerror(errno));
        if (::flock(lock.get(), LOCK_EX) != 0)
            return Error(ErrorCode::Io, "cannot lock " + lockPath + ": " + std::strerror(errno));
        return lock;
    }

    std::string path_, name_;
    std::mutex mu_;
    CatalogueSnapshot cached_;
    std::pair<long long, long long> key_{-1, -1};
};

class DatabaseCatalogue : public CatalogueStore {
public:
    explicit DatabaseCatalogue(Store& store) : store_(store), name_("the database's catalogue") {}

    livepatch::Result<CatalogueSnapshot> snapshot() override {
        const auto now = std::chrono::steady_clock::now();
        std::lock_guard<std::mutex> l(mu_);  // one poll at a time; the others wait for its answer
        if (cached_ && now - polled_ < kDatabasePoll) return cached_;
        auto generation = store_.catalogueGeneration();
        polled_ = now;
        // The database unreachable: the last catalogue read stays in use
        // until the next poll (nobody can edit it meanwhile), rather than
        // every request taking this lock to try the database in turn.
        if (!generation && cached_) return cached_;
        if (!generation) return generation.error();
        if (cached_ && *generation == generation_) return cached_;
        auto head = store_.catalogueHead();
        if (!head) return head.error();
        auto parsed = parseCatalogue(head->document, name_);
        if (!parsed) return parsed.error();
        cached_ = std::make_shared<const Catalogue>(std::move(*parsed));
        generation_ = head->generation;
        return cached_;
    }

    livepatch::Status edit(const std::function<livepatch::Status(YAML::Node&)>& edit) override {
        for (int attempt = 0; attempt < kAttempts; ++attempt) {
            auto head = store_.catalogueHead();
            if (!head) return head.error();
            auto out = editedDocument(head->document, name_, edit);
            if (!out) return out.error();
            auto added = store_.addCatalogueRevision(head->generation + 1, out->text);
            if (!added) return added.error();
            if (*added) {
                remember(head->generation + 1, std::move(out->parsed));
                return {};
            }
            // Another replica wrote this generation first: redo the edit on its document.
        }
        return Error(ErrorCode::Busy, "the catalogue is being edited by others; try again");
    }

    livepatch::Result<CatalogueDocument> document() override {
        auto head = store_.catalogueHead();
        if (!head) return head.error();
        return CatalogueDocument{head->document, catalogueEtag(head->document)};
    }

    livepatch::Status replace(const std::string& text, const std::string& ifMatch) override {
        auto parsed = parseCatalogue(text, "the new catalogue");
        if (!parsed) return parsed.error();
        auto head = store_.catalogueHead();
        if (!head) return head.error();
        if (ifMatch != "*" && ifMatch != catalogueEtag(head->document))
            return Error(ErrorCode::Stale, "the catalogue changed since it was read");
        auto added = store_.addCatalogueRevision(head->generation + 1, text);
        if (!added) return added.error();
        if (!*added) return Error(ErrorCode::Stale, "the catalogue changed since it was read");
        remember(head->generation + 1, std::move(*parsed));
        return {};
    }

    const std::string& name() const override { return name_; }

    // The first start on the database store: the file catalogue it replaces.
    livepatch::Status importFile(const std::string& path) {
        auto generation = store_.catalogueGeneration();
        if (!generation) return generation.error();
        if (*generation != 0) return {};
        auto text = livepatch::fs::readFile(path, kMaxCatalogueBytes);
        if (!text && text.error().code() == ErrorCode::NotFound) return {};
        if (!text) return text.error();
        auto parsed = parseCatalogue(*text, "catalogue " + path);
        if (!parsed) return parsed.error();
        auto added = store_.addCatalogueRevision(1, *text);
        if (!added) return added.error();
        if (*added)  // else another replica imported it first
            std::cout << "catalogue: imported " << path << " into the database; from now on the database's copy is "
                      << "the catalogue and the file is not read" << std::endl;
        return {};
    }

private:
    // This replica sees its own edit at once, without waiting for a poll.
    void remember(std::int64_t generation, Catalogue parsed) {
        std::lock_guard<std::mutex> l(mu_);
        if (generation > generation_) {
            cached_ = std::make_shared<const Catalogue>(std::move(parsed));
            generation_ = generation;
            polled_ = std::chrono::steady_clock::now();
        }
    }

    static constexpr int kAttempts = 16;
    Store& store_;
    std::string name_;
    std::mutex mu_;
    CatalogueSnapshot cached_;
    std::int64_t generation_ = -1;
    std::chrono::steady_clock::time_point polled_{};
};

}  // namespace

std::string catalogueEtag(const std::string& text) { return livepatch::sha256Hex(text); }

livepatch::Result<CatalogueStoreKind> parseCatalogueStoreKind(const std::string& text) {
    if (text == "file") return CatalogueStoreKind::File;
    if (text == "database") return CatalogueStoreKind::Database;
    return Error(ErrorCode::ConfigInvalid, "--catalogue-store: expected file or database");
}

livepatch::Result<std::unique_ptr<CatalogueStore>> openCatalogueStore(CatalogueStoreKind kind, const std::string& path,
                                                                      Store& store) {
    if (kind == CatalogueStoreKind::File) {
        auto file = std::make_unique<FileCatalogue>(path);
        auto first = file->snapshot();  // a broken catalogue stops the server at start, with its reason
        if (!first) return first.error();
        return std::unique_ptr<CatalogueStore>(std::move(file));
    }
    auto db = std::make_unique<DatabaseCatalogue>(store);
    LP_TRY(db->importFile(path));
    auto first = db->snapshot();
    if (!first) return first.error();
    return std::unique_ptr<CatalogueStore>(std::move(db));
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
