// A repository in a temp directory, a client with the pinned root, and a
// clock the test moves: what the attack tests tamper with.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <memory>

#include "livepatch/testing/files.h"
#include "tuf/repository.h"
#include "tuf/updater.h"
#include "util/fs.h"

namespace tuftest {

using namespace livepatch;
using namespace livepatch::tuf;
namespace fsys = std::filesystem;

inline SigningKey newKey(KeyScheme scheme = KeyScheme::Ed25519) {
    auto k = SigningKey::generate(scheme);
    EXPECT_TRUE(k);
    return *k;
}

inline std::string readAll(const fsys::path& p) {
    auto r = fs::readFile(p.string());
    EXPECT_TRUE(r) << p;
    return r ? *r : std::string();
}

inline void writeAll(const fsys::path& p, const std::string& data) {
    ASSERT_TRUE(fs::writeFileAtomic(p.string(), data, 0644));
}

inline Json patchCustom(const std::string& version) {
    return Json(Json::Object{{"name", Json("lp_cve_fix")},
                             {"version", Json(version)},
                             {"kernel", Json("6.1.0-18-amd64")},
                             {"architecture", Json("x86_64")},
                             {"published", Json("2026-11-01T00:00:00Z")},
                             {"fixes", Json(Json::Array{Json("cve-2026-0001")})}});
}

class TufRepo : public ::testing::Test {
protected:
    void SetUp() override {
        dir = livepatch::testing::freshTestDir("lptuf");
        rootKey = newKey();
        targetsKey = newKey();
        snapshotKey = newKey();
        timestampKey = newKey();
        auto r = Repository::create((dir / "repo").string(), {&rootKey}, targetsKey, snapshotKey, timestampKey, now);
        ASSERT_TRUE(r) << r.error().describe();
        repo = std::make_unique<Repository>(std::move(*r));
        fsys::create_directories(clientDir());
        fsys::permissions(clientDir(), fsys::perms::owner_all);
        writeAll(clientDir() / "root.json", readAll(meta() / "1.root.json"));
    }
    void TearDown() override { fsys::remove_all(dir); }

    fsys::path meta() const { return dir / "repo" / "metadata"; }
    fsys::path targetsDir() const { return dir / "repo" / "targets"; }
    fsys::path clientDir() const { return dir / "client"; }

    // A fresh Updater per call: what a new agent process does.
    Status refresh(const fsys::path& mirror) {
        fetcher = std::make_unique<DirectoryFetcher>(mirror.string());
        UpdaterOptions o;
        o.now = [this] { return now; };
        updater = std::make_unique<Updater>(clientDir().string(), *fetcher, o);
        return updater->refresh();
    }
    Status refresh() { return refresh(meta()); }

    void addPatch(const std::string& version, const std::string& data) {
        auto s = repo->addTarget("6.1.0-18-amd64/x86_64/lp_cve_fix-" + version + ".tar.xz", data, patchCustom(version),
                                 targetsKey, now);
        ASSERT_TRUE(s) << s.error().describe();
        s = repo->publishOnline(snapshotKey, timestampKey, now);
        ASSERT_TRUE(s) << s.error().describe();
    }

    fsys::path dir;
    std::int64_t now = 1'800'000'000;  // 2027-01-15
    SigningKey rootKey, targetsKey, snapshotKey, timestampKey;
    std::unique_ptr<Repository> repo;
    std::unique_ptr<DirectoryFetcher> fetcher;
    std::unique_ptr<Updater> updater;
};

}  // namespace tuftest
