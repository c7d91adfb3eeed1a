// The four plugin roles as the Engine needs them. PluginHost is adapted to
// this automatically (EngineDeps::host); tests and embedders pass their own
// implementation through EngineDeps::plugins to drive the Engine with
// in-process fakes, without shared objects.
#pragma once

#include <string>
#include <vector>

#include "livepatch/auth.h"
#include "livepatch/loader.h"
#include "livepatch/transport.h"
#include "livepatch/verifier.h"

namespace livepatch {

class PluginDirectory {
public:
    virtual ~PluginDirectory() = default;
    virtual Transport* transportFor(const std::string& scheme) const = 0;  // nullptr if none
    virtual std::vector<Auth*> auths() const = 0;                          // in priority order
    virtual Verifier* verifier(const std::string& name) const = 0;         // nullptr if not loaded
    virtual Loader* loader(const std::string& name) const = 0;             // nullptr if not loaded
};

}  // namespace livepatch
