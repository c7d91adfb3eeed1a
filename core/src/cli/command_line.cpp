#include "cli/command_line.h"

#include <getopt.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <iostream>
#include <sstream>

#include "cli/command_table.h"
#include "cli/exit_codes.h"
#include "cli/status_render.h"
#include "cli/status_views.h"
#include "config/config.h"
#include "identity/host_facts.h"
#include "identity/machine_id.h"
#include "livepatch/version.h"
#include "state/agent_state.h"
#include "state/credential_store.h"
#include "state/paths.h"
#include "util/fs.h"
#include "util/timeutil.h"

namespace livepatch::cli {

namespace {

StatusFacts gatherFacts(const Paths& paths, const AgentState& st, const Config& cfg) {
    StatusFacts f;
    f.clientVersion = LIVEPATCH_AGENT_VERSION;
    const std::string server = st.serverUrl.empty() ? cfg.getOr("remote-server", "") : st.serverUrl;
    if (auto id = appSpecificMachineId(paths.hostRoot, server)) f.machineId = *id;
    auto now = std::chrono::system_clock::now();
    auto facts =
        readHostFacts(paths.hostRoot, std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count());
    f.cpuModel = facts.cpuModel;
    f.bootTime = facts.bootTime;
    f.uptimeSeconds = facts.uptimeSeconds;
    struct utsname u;
    if (::uname(&u) == 0) f.architecture = u.machine;
    if (auto sig = fs::readFile(fs::join(paths.hostRoot, "proc/version_signature"), 4096)) {
        std::istringstream in(*sig);
        std::string ubuntu, ver;
        in >> ubuntu >> ver;
        f.runningKernel = ver;
    }
    f.nowRfc3339 = timeutil::formatRfc3339(now);
    return f;
}

}  // namespace

int showStatus(const CommandLine& line, const Paths& paths, const AgentState& st, bool cycleInProgress) {
    auto cfg = Config::load(paths.configFile());
    Config config = cfg ? *cfg : Config();
    StatusOptions opt;
    opt.verbose = line.verbose;
    opt.showSecrets = line.showSecrets;
    if (line.showSecrets) {
        auto c = CredentialStore(paths.credentialFile()).load();
        if (c && c->has_value()) opt.secret = (*c)->secret;
    }
    StatusFacts facts = gatherFacts(paths, st, config);
    facts.cycleInProgress = cycleInProgress;
    if (line.format == "json") std::cout << renderJson(st, facts, opt);
    else if (line.format == "yaml") std::cout << renderYaml(st, facts, opt);
    if (!st.enabled) {
        std::cerr << "Machine is not enabled. To enable: livepatch-agent enable <token>\n";
        return kExitFailure;
    }
    if (line.format == "humane") std::cout << (line.cves ? renderCves(st) : renderHumane(st, facts, opt));
    return kExitOk;
}

bool CommandLine::privileged() const {
    return ::geteuid() == 0 || rootDir.has_value() || std::getenv("LIVEPATCH_AGENT_ROOT") != nullptr;
}

bool CommandLine::requireRoot() const {
    if (privileged()) return true;
    std::cerr << "error: `livepatch-agent " << command << "` must be run as root [permission]\n";
    return false;
}

bool CommandLine::requireNoArgs() const {
    if (args.empty()) return true;
    std::cerr << "error: `" << command << "` takes no arguments [invalid-argument]\n";
    return false;
}

int fail(const Error& e) {
    std::cerr << "error: " << e.message() << " [" << e.codeName() << "]\n";
    return exitCodeFor(e.code());
}

namespace {

// The value of a flag into the command line (names from flagTable()).
void applyFlag(ParsedArguments& p, const std::string& name, const char* value) {
    CommandLine& l = p.line;
    if (name == "help") p.help = true;
    else if (name == "version") p.version = true;
    else if (name == "format") l.format = value;
    else if (name == "verbose") l.verbose = true;
    else if (name == "show-secrets") l.showSecrets = true;
    else if (name == "root-dir") l.rootDir = value;
    else if (name == "allow-rollback") l.allowRollback = true;
    else if (name == "cves") l.cves = true;
    else if (name == "cve") l.cve = value;
}

Error optionError(const std::string& what) {
    return Error(ErrorCode::InvalidArgument, what + "; see livepatch-agent --help");
}

}  // namespace

Result<ParsedArguments> parseArguments(const std::vector<std::string>& argv) {
    ParsedArguments parsed;
    parsed.line.argv = argv;
    const auto& flags = flagTable();
    std::vector<option> longOptions;
    // "-": every non-option comes back in order as code 1 (no permutation,
    // whatever POSIXLY_CORRECT says); ":": a missing value is ':' not '?'.
    std::string shortOptions = "-:";
    for (size_t i = 0; i < flags.size(); ++i) {
        const int hasArg = flags[i].argument.empty() ? no_argument : required_argument;
        longOptions.push_back({flags[i].name.c_str(), hasArg, nullptr, 0});
        if (!flags[i].shortName.empty()) shortOptions += flags[i].shortName + (hasArg ? ":" : "");
    }
    longOptions.push_back({nullptr, 0, nullptr, 0});
    std::vector<std::string> words = argv.empty() ? std::vector<std::string>{"livepatch-agent"} : argv;
    std::vector<char*> cargv;
    for (auto& w : words) cargv.push_back(w.data());
    cargv.push_back(nullptr);

    std::vector<std::string> positional;
    std::vector<bool> seen(flags.size(), false);
    optind = 0;  // glibc: start over (a second parse in one process, as in tests)
    opterr = 0;  // errors are ours, in the project's format
    for (;;) {
        int index = -1;
        const int c = getopt_long(static_cast<int>(cargv.size() - 1), cargv.data(), shortOptions.c_str(),
                                  longOptions.data(), &index);
        if (c == -1) break;
        if (c == 1) {
            positional.emplace_back(optarg);
            continue;
        }
        // The option as given, without any "=value": a mistyped option may
        // carry a secret (--token=...), and this goes to the terminal.
        std::string given = cargv[optind - 1] ? cargv[optind - 1] : "";
        given = given.substr(0, std::min<size_t>(given.find('='), 40));
        if (c == '?') return optionError("unknown or ambiguous option \"" + given + "\"");
        if (c == ':') return optionError("option \"" + given + "\" needs a value");
        if (index < 0) {  // a short option: find its row
            for (size_t i = 0; i < flags.size(); ++i)
                if (flags[i].shortName == std::string(1, static_cast<char>(c))) index = static_cast<int>(i);
        }
        if (index < 0) return optionError("unknown option \"" + given + "\"");
        if (seen[index]) return optionError("--" + flags[index].name + " given more than once");
        seen[index] = true;
        applyFlag(parsed, flags[index].name, optarg);
    }
    for (int i = optind; i < static_cast<int>(cargv.size() - 1); ++i) positional.emplace_back(cargv[i]);  // after "--"
    if (!positional.empty()) {
        parsed.line.command = positional[0];
        parsed.line.args.assign(positional.begin() + 1, positional.end());
    }
    return parsed;
}

int runApplication(int argc, char** argv, const CommandHandler& handler) {
    auto parsed = parseArguments(std::vector<std::string>(argv, argv + argc));
    if (!parsed) return fail(parsed.error());
    CommandLine& line = parsed->line;
    if (parsed->version && !parsed->help) {
        // --version is `version` (what sos report and similar collectors call)
        if (!line.command.empty()) line.args.insert(line.args.begin(), line.command);
        line.command = "version";
        return handler(line);
    }
    if (parsed->help || line.command.empty()) {
        std::cout << usageText();
        return parsed->help ? kExitOk : kExitUsage;
    }
    if (const CommandInfo* c = findCommand(line.command); c && line.format != "humane") {
        if (std::find(c->formats.begin(), c->formats.end(), line.format) == c->formats.end()) {
            std::string allowed;
            for (const auto& f : c->formats) allowed += (allowed.empty() ? "" : "|") + f;
            std::cerr << "error: --format: "
                      << (allowed.empty() ? "`" + c->name + "` has no --format" : "expected " + allowed) << ", got \""
                      << line.format.substr(0, 40) << "\" [invalid-argument]\n";
            return kExitUsage;
        }
    }
    if (line.rootDir && line.rootDir->empty()) {
        // An empty value used to mean "no override" and silently used the
        // system's state: a typo in a script must not touch the real machine.
        std::cerr << "error: --root-dir: expected a directory, got an empty value [invalid-argument]\n";
        return kExitUsage;
    }
    try {
        return handler(line);
    } catch (const std::exception& e) {
        std::cerr << "error: " << e.what() << " [internal]\n";
        return kExitFailure;
    }
}

int usageError(const std::string& command) {
    const CommandInfo* c = findCommand(command);
    std::cerr << "error: usage: livepatch-agent " << command << (c && !c->arguments.empty() ? " " + c->arguments : "")
              << " [invalid-argument]\n";
    return kExitUsage;
}

int dispatch(const CommandLine& line, const std::vector<CommandRoute>& routes, const CommandHandler& otherwise) {
    auto route =
        std::find_if(routes.begin(), routes.end(), [&](const CommandRoute& r) { return r.name == line.command; });
    if (route == routes.end()) return otherwise(line);
    if (const CommandInfo* c = findCommand(line.command)) {
        if (c->takes == Takes::Nothing && !line.requireNoArgs()) return kExitUsage;
        if (c->takes == Takes::One && line.args.size() != 1) return usageError(c->name);
        const bool root = c->root == NeedsRoot::Yes || (c->root == NeedsRoot::ToChange && !line.args.empty());
        if (root && !line.requireRoot()) return kExitPermission;
    }
    return route->run(line);
}

}  // namespace livepatch::cli
