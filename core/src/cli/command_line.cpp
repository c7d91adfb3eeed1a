#include "cli/command_line.h"

#include <sys/utsname.h>
#include <unistd.h>

#include <Poco/Util/Option.h>
#include <Poco/Util/OptionException.h>

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

std::vector<std::string> normalizeArguments(const std::vector<std::string>& args) {
    static const std::vector<std::string> withValue = [] {
        std::vector<std::string> v;
        for (const auto& f : flagTable())
            if (!f.argument.empty()) v.push_back("--" + f.name);
        return v;
    }();
    std::vector<std::string> out;
    for (size_t i = 0; i < args.size(); ++i) {
        bool joined = false;
        for (const auto& opt : withValue) {
            if (args[i] == opt && i + 1 < args.size()) {
                out.push_back(opt + "=" + args[i + 1]);
                ++i;
                joined = true;
                break;
            }
        }
        if (!joined) out.push_back(args[i]);
    }
    return out;
}

AgentApplication::AgentApplication(CommandHandler handler, std::vector<std::string> rawArgv)
    : handler_(std::move(handler)) {
    line_.argv = std::move(rawArgv);
    setUnixOptions(true);
}

void AgentApplication::defineOptions(Poco::Util::OptionSet& options) {
    using Poco::Util::Option;
    for (const auto& f : flagTable()) {
        Option o(f.name, f.shortName, f.summary);
        o.required(false).repeatable(false);
        if (!f.argument.empty()) o.argument(f.argument);
        options.addOption(o);
    }
}

void AgentApplication::handleOption(const std::string& name, const std::string& value) {
    Application::handleOption(name, value);
    if (name == "help") helpRequested_ = true;
    else if (name == "version") versionRequested_ = true;
    else if (name == "format") line_.format = value;
    else if (name == "verbose") line_.verbose = true;
    else if (name == "show-secrets") line_.showSecrets = true;
    else if (name == "root-dir") line_.rootDir = value;
    else if (name == "allow-rollback") line_.allowRollback = true;
    else if (name == "cves") line_.cves = true;
    else if (name == "cve") line_.cve = value;
}

int AgentApplication::main(const std::vector<std::string>& args) {
    if (versionRequested_ && !helpRequested_) {
        line_.command = "version";  // --version is `version` (what sos report and similar collectors call)
        line_.args = args;
        return handler_(line_);
    }
    if (helpRequested_ || args.empty()) {
        std::cout << usageText();
        return args.empty() && !helpRequested_ ? kExitUsage : kExitOk;
    }
    line_.command = args[0];
    line_.args.assign(args.begin() + 1, args.end());
    if (const CommandInfo* c = findCommand(line_.command); c && line_.format != "humane") {
        if (std::find(c->formats.begin(), c->formats.end(), line_.format) == c->formats.end()) {
            std::string allowed;
            for (const auto& f : c->formats) allowed += (allowed.empty() ? "" : "|") + f;
            std::cerr << "error: --format: "
                      << (allowed.empty() ? "`" + c->name + "` has no --format" : "expected " + allowed) << ", got \""
                      << line_.format.substr(0, 40) << "\" [invalid-argument]\n";
            return kExitUsage;
        }
    }
    if (line_.rootDir && line_.rootDir->empty()) {
        // An empty value used to mean "no override" and silently used the
        // system's state: a typo in a script must not touch the real machine.
        std::cerr << "error: --root-dir: expected a directory, got an empty value [invalid-argument]\n";
        return kExitUsage;
    }
    return handler_(line_);
}

int runApplication(int argc, char** argv, const CommandHandler& handler) {
    std::vector<std::string> raw(argv, argv + argc);
    if (raw.empty()) raw.push_back("livepatch-agent");
    std::vector<std::string> norm = normalizeArguments(std::vector<std::string>(raw.begin() + 1, raw.end()));
    norm.insert(norm.begin(), raw[0]);
    std::vector<char*> cargv;
    for (auto& s : norm) cargv.push_back(s.data());
    cargv.push_back(nullptr);
    AgentApplication app(handler, raw);
    try {
        app.init(static_cast<int>(norm.size()), cargv.data());
    } catch (const Poco::Util::OptionException& e) {
        std::cerr << "error: " << e.displayText() << "; see livepatch-agent --help [invalid-argument]\n";
        return kExitUsage;
    } catch (const Poco::Exception& e) {
        std::cerr << "error: " << e.displayText() << " [internal]\n";
        return kExitFailure;
    }
    try {
        return app.run();
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
