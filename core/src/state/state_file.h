// Integrity-checked state documents.
//
// On disk: "LPSTATE 1 <sha256-hex-of-payload> <payload-length>\n<payload>".
// A missing file is "no state"; a file whose header, length or digest does
// not match is StateCorrupt (reported, never silently reset).
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "livepatch/error.h"

namespace livepatch {

class StateFile {
public:
    explicit StateFile(std::string path) : path_(std::move(path)) {}

    // nullopt if the file does not exist; StateCorrupt if damaged.
    Result<std::optional<std::string>> load() const;
    // Atomic replace, mode 0600, no symlinks.
    Status save(std::string_view payload) const;
    Status remove() const;
    const std::string& path() const noexcept { return path_; }

private:
    std::string path_;
};

}  // namespace livepatch
