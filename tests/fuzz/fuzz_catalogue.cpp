// The server's one catalogue parser: a document an admin PUTs, a file an
// operator edits, a row another replica wrote.
#include <yaml-cpp/yaml.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "catalogue.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string text(reinterpret_cast<const char*>(data), size);
    auto c = lpserver::parseCatalogue(text, "fuzz");
    if (!c) return 0;
    // An accepted document stays accepted once re-emitted, as every edit
    // re-emits it: an upload or a promotion must never fail on the form of
    // a catalogue the server took.
    YAML::Emitter out;
    try {
        YAML::Node root = YAML::Load(text);
        if (!root.IsDefined() || root.IsNull()) return 0;
        out << root;
    } catch (const std::exception&) {
        __builtin_trap();  // parseCatalogue loaded it
    }
    auto again = lpserver::parseCatalogue(std::string(out.c_str()) + "\n", "fuzz-roundtrip");
    if (!again || again->kernels.size() != c->kernels.size() || again->tiers.size() != c->tiers.size())
        __builtin_trap();
    return 0;
}
