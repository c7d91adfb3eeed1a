#include "cli/status_render.h"

#include <Poco/JSON/Array.h>
#include <Poco/JSON/Object.h>
#include <yaml-cpp/yaml.h>

#include <sstream>

#include "cli/status_views.h"
#include "livepatch/text.h"
#include "util/timeutil.h"

namespace livepatch::cli {

namespace {

// Everything shown comes from the state file, and much of it from a server
// (tier, fixes, errors quoting the server): escaped, whatever was stored.
std::string shown(const std::string& s) { return terminalSafe(s, 1024); }

std::string uptimeText(long long s) {
    std::ostringstream o;
    if (s >= 86400) o << s / 86400 << "d";
    if (s >= 3600) o << (s % 86400) / 3600 << "h";
    o << (s % 3600) / 60 << "m" << s % 60 << "s";
    return o.str();
}

// JSON and YAML stay ASCII: control characters and every non-ASCII
// character (C1 controls, bidi overrides) are \u escapes, the same values
// for a parser and inert on a terminal.
const int kJsonOptions = Poco::JSON_PRESERVE_KEY_ORDER | Poco::JSON_ESCAPE_UNICODE;

// The version of our patch in the kernel, as reconciled: what the loaded
// module declares, "" when nothing of ours is loaded, "unknown" when the
// module declares no version (the recorded one is never assumed).
std::string versionInKernel(const AgentState& st) {
    if (!st.inKernel || (!st.inKernel->enabled && !st.inKernel->transitioning)) return "";
    return st.inKernel->version.empty() ? "unknown" : st.inKernel->version;
}

// Canonical-compatible structure, built once and rendered as JSON or YAML.
Poco::JSON::Object::Ptr build(const AgentState& st, const StatusFacts& f, const StatusOptions& opt) {
    Poco::JSON::Object::Ptr root(new Poco::JSON::Object(kJsonOptions));
    root->set("Client-Version", f.clientVersion);
    root->set("Machine-Id", f.machineId);
    root->set("Architecture", st.architecture.empty() ? f.architecture : st.architecture);
    root->set("CPU-Model", f.cpuModel);
    root->set("Last-Check", st.lastCheck);
    root->set("Boot-Time", f.bootTime);
    root->set("Uptime", uptimeText(f.uptimeSeconds));
    root->set("tier", st.tier);
    Poco::JSON::Array::Ptr kernels(new Poco::JSON::Array(kJsonOptions));
    if (st.enabled) {
        Poco::JSON::Object::Ptr k(new Poco::JSON::Object(kJsonOptions));
        k->set("Kernel", st.kernel.empty() ? f.runningKernel : st.kernel);
        k->set("Running", st.kernel.empty() || st.kernel == f.runningKernel || f.runningKernel.empty());
        k->set("Supported", std::string(spelling(st.supported)));
        k->set("UpgradeRequiredDate", st.upgradeRequiredDate);
        Poco::JSON::Object::Ptr lp(new Poco::JSON::Object(kJsonOptions));
        lp->set("CheckState", std::string(spelling(st.checkState)));
        lp->set("State", std::string(spelling(st.patchState)));
        lp->set("Version", versionInKernel(st));
        Poco::JSON::Array::Ptr fixes(new Poco::JSON::Array(kJsonOptions));
        for (const auto& fx : st.fixes) {
            Poco::JSON::Object::Ptr o(new Poco::JSON::Object(kJsonOptions));
            o->set("Name", fx.name);
            o->set("Description", fx.description);
            o->set("Bug", fx.bug);
            o->set("Patched", fx.patched);
            fixes->add(o);
        }
        lp->set("Fixes", fixes);
        k->set("Livepatch", lp);
        kernels->add(k);
    }
    root->set("Status", kernels);
    root->set("Crash-Guard", st.crashGuard);
    root->set("In-Progress", f.cycleInProgress);
    Poco::JSON::Object::Ptr catalogue(new Poco::JSON::Object(kJsonOptions));
    catalogue->set("Kind", std::string(spelling(st.catalogue)));
    catalogue->set("Version", st.catalogueVersion);
    catalogue->set("Expires", st.catalogueExpires);
    root->set("Catalogue", catalogue);
    if (opt.verbose) {
        Poco::JSON::Object::Ptr v(new Poco::JSON::Object(kJsonOptions));
        v->set("Enabled", st.enabled);
        v->set("Server", st.serverUrl);
        v->set("Token-Kind", st.authPlugin);
        v->set("Check-Error", st.checkError);
        v->set("Patch-Error", st.patchError);
        v->set("Available-Version", st.availableVersion);
        if (st.applied) {
            v->set("Patch-Name", st.applied->name);
            v->set("Recorded-Version", st.applied->version);
            v->set("Patch-SHA256", st.applied->tarballSha256);
            v->set("Module-SHA256", st.applied->moduleSha256);
            v->set("Cache-Path", st.applied->cachePath);
            v->set("Applied-At", st.applied->appliedAt);
        }
        root->set("Verbose", v);
    }
    if (opt.showSecrets) root->set("Credential", opt.secret);
    return root;
}

void toYaml(YAML::Emitter& out, const Poco::Dynamic::Var& v) {
    if (v.type() == typeid(Poco::JSON::Object::Ptr)) {
        auto o = v.extract<Poco::JSON::Object::Ptr>();
        out << YAML::BeginMap;
        for (const auto& key : o->getNames()) {
            out << YAML::Key << key << YAML::Value;
            toYaml(out, o->get(key));
        }
        out << YAML::EndMap;
    } else if (v.type() == typeid(Poco::JSON::Array::Ptr)) {
        auto a = v.extract<Poco::JSON::Array::Ptr>();
        out << YAML::BeginSeq;
        for (size_t i = 0; i < a->size(); ++i) toYaml(out, a->get(static_cast<unsigned>(i)));
        out << YAML::EndSeq;
    } else if (v.isBoolean()) {
        out << v.convert<bool>();
    } else if (v.isEmpty()) {
        out << YAML::Null;
    } else {
        out << YAML::DoubleQuoted << v.convert<std::string>();
    }
}

}  // namespace

std::string renderJson(const AgentState& st, const StatusFacts& f, const StatusOptions& o) {
    std::ostringstream out;
    build(st, f, o)->stringify(out, 2);
    return out.str() + "\n";
}

std::string renderYaml(const AgentState& st, const StatusFacts& f, const StatusOptions& o) {
    YAML::Emitter out;
    out.SetOutputCharset(YAML::EscapeNonAscii);
    toYaml(out, Poco::Dynamic::Var(build(st, f, o)));
    return std::string(out.c_str()) + "\n";
}

std::string renderHumane(const AgentState& st, const StatusFacts& f, const StatusOptions& o) {
    std::ostringstream out;
    out << "client version: " << f.clientVersion << "\n";
    out << "machine id: " << shown(f.machineId) << "\n";
    out << "architecture: " << shown(st.architecture.empty() ? f.architecture : st.architecture) << "\n";
    out << "cpu model: " << shown(f.cpuModel) << "\n";
    out << "boot time: " << shown(f.bootTime) << "\n";
    out << "last check: " << (st.lastCheck.empty() ? "never" : shown(st.lastCheck)) << "\n";
    out << "tier: " << shown(st.tier) << "\n";
    out << "kernel: " << shown(st.kernel.empty() ? f.runningKernel : st.kernel) << "\n";
    out << "server check-in: " << spelling(st.checkState);
    if (!st.checkError.empty()) out << " (" << shown(st.checkError) << ")";
    out << "\n";
    out << "catalogue: " << spelling(st.catalogue);
    if (st.catalogue == CatalogueKind::Unsigned) out << " (no trust-root: the server's answer decides)";
    else if (!st.catalogueExpires.empty())
        out << " (TUF, timestamp version " << st.catalogueVersion << ", expires " << shown(st.catalogueExpires) << ")";
    out << "\n";
    out << "kernel support: " << spelling(st.supported);
    if (!st.upgradeRequiredDate.empty()) out << " (upgrade required by " << shown(st.upgradeRequiredDate) << ")";
    out << "\n";
    out << "patch state: " << spelling(st.patchState);
    if (!st.patchError.empty()) out << " (" << shown(st.patchError) << ")";
    out << "\n";
    const std::string inKernel = versionInKernel(st);
    out << "patch version: " << (inKernel.empty() ? "none" : inKernel);
    if (inKernel == "unknown" && st.applied)
        out << " (the loaded module declares none; recorded " << shown(st.applied->version) << ")";
    else if (inKernel.empty() && st.applied && st.enabled)
        out << " (" << shown(st.applied->version) << " is cached, not in the kernel)";
    out << "\n";
    if (f.cycleInProgress) out << "in progress: a check or update is running now; this is the state before it\n";
    if (!st.fixes.empty()) {
        out << "fixes:\n";
        for (const auto& fx : st.fixes)
            out << "  " << (fx.patched ? "* " : "- ") << shown(fx.name)
                << (fx.description.empty() ? "" : ": " + shown(fx.description)) << "\n";
    }
    if (st.crashGuard) out << "crash guard: set; automatic loading is off until `livepatch-agent clear-lock`\n";
    if (o.verbose) {
        out << "server: " << shown(st.serverUrl) << "\n";
        out << "token kind: " << shown(st.authPlugin) << "\n";
        if (!st.availableVersion.empty()) out << "available version: " << shown(st.availableVersion) << "\n";
        if (st.applied) {
            out << "patch name: " << shown(st.applied->name) << "\n";
            out << "patch sha256: " << shown(st.applied->tarballSha256) << "\n";
            out << "module sha256: " << shown(st.applied->moduleSha256) << "\n";
            out << "cached at: " << shown(st.applied->cachePath) << "\n";
            out << "applied at: " << shown(st.applied->appliedAt) << "\n";
        }
    }
    if (o.showSecrets) out << "credential: " << o.secret << "\n";
    // Under 80 columns on any terminal, whatever a server's error says.
    return wrapColumns(out.str(), 79);
}

}  // namespace livepatch::cli
