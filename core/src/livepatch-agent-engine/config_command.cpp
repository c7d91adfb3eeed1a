#include "livepatch-agent-engine/config_command.h"

#include <unistd.h>

#include <algorithm>
#include <iostream>
#include <optional>
#include <sstream>

#include "cli/command_table.h"
#include "cli/control_socket.h"
#include "cli/exit_codes.h"
#include "config/config.h"
#include "engine/signed_catalogue.h"
#include "host/plugin_host.h"
#include "livepatch-agent-engine/runtime.h"

namespace livepatch::agent_engine {

using namespace livepatch::cli;

namespace {

// Core's keys plus those of the plugins shipped next to this binary, without
// reading any config file: what the schema and the completion describe. Any
// refused plugin is an error, so neither is ever silently incomplete.
Result<Config> shippedDeclarations(PluginHost& host) {
    for (const auto& e : host.loadAll()) return e;
    Config config;
    for (const auto& p : host.loaded()) LP_TRY(config.declare(p.info.name, host.find(p.info.name)->configKeys()));
    return config;
}

PluginHost::Options shippedPlugins() {
    PluginHost::Options o;
    o.dirs.push_back(PluginHost::defaultPluginDir());
    o.enforceOwnership = ::geteuid() == 0;
    return o;
}

void printConfig(const Config& config) {
    std::string owner = "\n";  // none printed yet
    for (const auto& e : config.display(false)) {
        if (e.owner != owner)
            std::cout << "# " << ((owner = e.owner).empty() ? "declared by no loaded plugin" : owner) << "\n";
        std::string v = e.value;
        if (v.find('\n') != std::string::npos)
            v = "<" + std::to_string(std::count(v.begin(), v.end(), '\n')) + " lines of PEM>";
        std::cout << e.key << ": " << v << "\n";
    }
}

// KEY=@stdin takes the value from standard input (PEM bundles).
std::vector<std::string> assignmentsOf(const std::vector<std::string>& args) {
    std::vector<std::string> out;
    for (const auto& a : args) {
        auto eq = a.find('=');
        if (eq != std::string::npos && a.substr(eq + 1) == "@stdin") {
            std::stringstream in;
            in << std::cin.rdbuf();
            out.push_back(a.substr(0, eq + 1) + in.str());
        } else {
            out.push_back(a);
        }
    }
    return out;
}

// trust-root=<root.json> (from @stdin): the document goes to <state>/tuf/
// (pinTrustRoot checks it), the config file only says "pinned".
std::optional<std::string> takeTrustRoot(std::vector<std::string>& assignments) {
    std::optional<std::string> root;
    for (auto& a : assignments) {
        if (a.rfind("trust-root=", 0) != 0) continue;
        root = a.substr(11);
        if (*root == "pinned") return std::nullopt;  // unchanged
        if (!root->empty()) a = "trust-root=pinned";
    }
    return root;
}

}  // namespace

int configCommand(const CommandLine& line) {
    // Root first: reading root's config as another user fails too, and that
    // failure must not pass for an invalid value (exit 2).
    if (!line.args.empty() && !line.requireRoot()) return kExitPermission;
    SystemClock clock;
    Runtime rt(clock);
    RuntimeOptions o;
    o.configure = false;  // declarations only: a plugin's configure() must not decide whether its config may change
    o.engine = false;
    o.createDirs = false;
    auto built = rt.build(line.rootDir, o);
    if (!built) return fail(built.error());
    if (line.args.empty()) {
        printConfig(rt.config);
        return kExitOk;
    }
    Config next = rt.config;
    auto assignments = assignmentsOf(line.args);
    std::optional<std::string> trustRoot = takeTrustRoot(assignments);
    auto s = next.apply(assignments);
    if (s) s = next.requireDeclared();
    if (!s) return fail(s.error());
    auto ensured = rt.paths.ensure();
    if (!ensured) return fail(ensured.error());
    // The root file before the key that says it is there; unpinned only by an explicit `trust-root=`.
    if (trustRoot && !trustRoot->empty()) s = pinTrustRoot(rt.paths, *trustRoot);
    if (trustRoot && trustRoot->empty()) s = unpinTrustRoot(rt.paths);
    if (!s) return fail(s.error());
    s = next.save(rt.paths.configFile());
    if (!s) return fail(s.error());
    (void)sendControl(rt.paths.socketPath(), "reload", nullptr);  // a running daemon picks it up
    std::cout << "configuration updated\n";
    return kExitOk;
}

int configSchemaCommand(const CommandLine& line) {
    if (!line.requireNoArgs()) return kExitUsage;
    PluginHost host(shippedPlugins());
    auto config = shippedDeclarations(host);
    if (!config) return fail(config.error());
    std::cout << config->schemaJson();
    return kExitOk;
}

int completionCommand(const CommandLine& line) {
    if (line.args.size() != 1 || (line.args[0] != "bash" && line.args[0] != "zsh")) {
        std::cerr << "error: usage: livepatch-agent completion bash|zsh [invalid-argument]\n";
        return kExitUsage;
    }
    PluginHost host(shippedPlugins());
    auto config = shippedDeclarations(host);
    if (!config) return fail(config.error());
    std::vector<std::string> keys;
    for (const auto& d : config->declared()) keys.push_back(d.key.name);
    std::cout << (line.args[0] == "zsh" ? zshCompletion(keys) : bashCompletion(keys));
    return kExitOk;
}

}  // namespace livepatch::agent_engine
