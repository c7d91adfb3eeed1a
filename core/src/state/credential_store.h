// The credential (machine token or resource token), 0600 in a StateFile.
#pragma once

#include <optional>
#include <string>

#include "livepatch/auth.h"
#include "livepatch/error.h"
#include "state/state_file.h"

namespace livepatch {

class CredentialStore {
public:
    explicit CredentialStore(std::string path) : file_(std::move(path)) {}
    Result<std::optional<Credential>> load() const;
    Status save(const Credential& credential) const;
    Status remove() const { return file_.remove(); }

private:
    StateFile file_;
};

}  // namespace livepatch
