// livepatch-agent plugin SDK: reading trust material (keyrings) safely.
// One rule for every plugin: when running as root, a keyring directory and
// every file used from it must be owned by root and not group/world-
// writable; symlinks are never followed.
#pragma once

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <string>
#include <vector>

#include "livepatch/error.h"

namespace livepatch {

inline Status checkTrustedPath(const std::string& path, const struct stat& st, bool enforce) {
    if (!enforce) return {};
    if (st.st_uid != 0) return Error(ErrorCode::Permission, "keyring " + path + " is not owned by root");
    if (st.st_mode & (S_IWGRP | S_IWOTH)) return Error(ErrorCode::Permission, "keyring " + path + " is group/world-writable");
    return {};
}

// Regular files in `dir` whose names end in one of `suffixes`, sorted, after
// checking the directory and each file. enforce = (geteuid() == 0).
inline Result<std::vector<std::string>> listTrustedFiles(const std::string& dir, const std::vector<std::string>& suffixes,
                                                         bool enforce) {
    struct stat st;
    if (dir.empty()) return Error(ErrorCode::ConfigInvalid, "no keyring-dir configured");
    if (::lstat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
        return Error(ErrorCode::ConfigInvalid, "keyring-dir " + dir + " is not a directory");
    LP_TRY(checkTrustedPath(dir, st, enforce));
    std::vector<std::string> out;
    DIR* d = ::opendir(dir.c_str());
    if (!d) return Error(ErrorCode::Io, "cannot list keyring " + dir);
    while (auto* e = ::readdir(d)) {
        const std::string name = e->d_name;
        bool match = false;
        for (const auto& s : suffixes)
            match = match || (name.size() > s.size() && name.compare(name.size() - s.size(), s.size(), s) == 0);
        if (match) out.push_back(dir + "/" + name);
    }
    ::closedir(d);
    std::sort(out.begin(), out.end());
    std::vector<std::string> files;
    for (const auto& f : out) {
        if (::lstat(f.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;  // symlinks and others ignored
        LP_TRY(checkTrustedPath(f, st, enforce));
        files.push_back(f);
    }
    return files;
}

}  // namespace livepatch
