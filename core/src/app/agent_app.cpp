#include "app/agent_app.h"

#include <sys/utsname.h>
#include <unistd.h>

#include <Poco/Util/HelpFormatter.h>
#include <Poco/Util/Option.h>
#include <Poco/Util/OptionException.h>

#include <algorithm>
#include <iostream>
#include <sstream>

#include "app/control_socket.h"
#include "app/daemon.h"
#include "app/engine_process.h"
#include "app/exit_codes.h"
#include "app/progress.h"
#include "app/status_render.h"
#include "config/config.h"
#include "state/agent_state.h"
#include "identity/host_facts.h"
#include "identity/machine_id.h"
#include "state/credential_store.h"
#include "state/paths.h"
#include "state/state_file.h"
#include "util/fs.h"
#include "util/timeutil.h"

namespace livepatch::app {

const char* const kUsage =
    "livepatch-agent [global options] COMMAND [arguments]\n"
    "\n"
    "Commands:\n"
    "  enable TOKEN|-            register with the server (auth token UUID or resource token; '-' reads stdin)\n"
    "  disable                   revert live patches and deregister\n"
    "  status [--verbose] [--format humane|json|yaml] [--show-secrets]\n"
    "                            show state (reads local state only; never blocks on the network)\n"
    "  config [key=value ...]    print all config, or set keys (all-or-nothing; key= clears; ca-certs=@stdin)\n"
    "  refresh                   check, download, verify and apply now (via the daemon if running)\n"
    "  kernel-upgrade-required   exit 1 if the server said the kernel needs an upgrade\n"
    "  plugins                   list loaded plugins and refused ones\n"
    "  clear-lock                clear the crash-safety guard after a crash during a load\n"
    "  version                   print the version\n"
    "  daemon                    run the periodic checker (systemd / snap service)\n"
    "\n"
    "Exit codes: 0 ok; 1 failure / not enabled (status) / upgrade required (kernel-upgrade-required);\n"
    "  2 usage or invalid value; 3 permission; 4 daemon unavailable; 5 network/server;\n"
    "  6 verification/policy refused; 7 load failed; 8 state corrupt; 9 signed catalogue stale.\n";

namespace {

Result<AgentState> readState(const Paths& paths) {
    StateFile file(paths.stateFile());
    auto payload = file.load();
    if (!payload) return payload.error();
    if (!payload->has_value()) return AgentState{};
    auto st = AgentState::fromJson(**payload);
    if (!st) return st.error().wrap(paths.stateFile());
    return st;
}

StatusFacts gatherFacts(const Paths& paths, const AgentState& st, const Config& cfg) {
    StatusFacts f;
    f.clientVersion = LIVEPATCH_AGENT_VERSION;
    const std::string server = st.serverUrl.empty() ? cfg.getOr("remote-server", "") : st.serverUrl;
    if (auto id = appSpecificMachineId(paths.hostRoot, server)) f.machineId = *id;
    auto now = std::chrono::system_clock::now();
    auto facts = readHostFacts(paths.hostRoot, std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count());
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

// Hand the command to the engine binary (same argv, same environment).
int runInEngine(const CommandLine& line) {
    auto engine = locateEngine(::geteuid() == 0);
    if (!engine) return fail(engine.error());
    return fail(execEngine(*engine, line.argv));
}

}  // namespace

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
    static const std::vector<std::string> withValue = {"--format", "--root-dir"};
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

AgentApplication::AgentApplication(CommandHandler handler, std::vector<std::string> rawArgv) : handler_(std::move(handler)) {
    line_.argv = std::move(rawArgv);
    setUnixOptions(true);
}

void AgentApplication::defineOptions(Poco::Util::OptionSet& options) {
    using Poco::Util::Option;
    options.addOption(Option("help", "h", "show help").required(false).repeatable(false));
    options.addOption(Option("format", "", "status format: humane, json or yaml").required(false).argument("FORMAT"));
    options.addOption(Option("verbose", "v", "more detail in status").required(false));
    options.addOption(Option("show-secrets", "", "include the credential in status (root only)").required(false));
    options.addOption(Option("root-dir", "", "keep all state under DIR (tests)").required(false).argument("DIR"));
    options.addOption(Option("allow-rollback", "", "refresh: allow applying a lower patch version").required(false));
}

void AgentApplication::handleOption(const std::string& name, const std::string& value) {
    Application::handleOption(name, value);
    if (name == "help") helpRequested_ = true;
    else if (name == "format") line_.format = value;
    else if (name == "verbose") line_.verbose = true;
    else if (name == "show-secrets") line_.showSecrets = true;
    else if (name == "root-dir") line_.rootDir = value;
    else if (name == "allow-rollback") line_.allowRollback = true;
}

int AgentApplication::main(const std::vector<std::string>& args) {
    if (helpRequested_ || args.empty()) {
        std::cout << kUsage;
        return args.empty() && !helpRequested_ ? kExitUsage : kExitOk;
    }
    line_.command = args[0];
    line_.args.assign(args.begin() + 1, args.end());
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

int frontEndCommand(const CommandLine& line) {
    const std::string& cmd = line.command;
    if (cmd == "version") {
        if (!line.requireNoArgs()) return kExitUsage;
        std::cout << "livepatch-agent " << LIVEPATCH_AGENT_VERSION << " (plugin SDK " << LIVEPATCH_SDK_VERSION << ", ABI "
                  << LIVEPATCH_SDK_ABI_VERSION << ")\n";
        return kExitOk;
    }

    if (cmd == "status" || cmd == "kernel-upgrade-required") {
        if (!line.requireNoArgs()) return kExitUsage;
        if (line.format != "humane" && line.format != "json" && line.format != "yaml") {
            std::cerr << "error: --format: expected humane|json|yaml, got \"" << line.format << "\" [invalid-argument]\n";
            return kExitUsage;
        }
        if (line.showSecrets && !line.privileged()) {
            std::cerr << "error: --show-secrets requires root [permission]\n";
            return kExitPermission;
        }
        Paths paths = Paths::resolve(Paths::processEnvironment(), line.rootDir);
        auto st = readState(paths);
        if (!st) return fail(st.error());
        if (cmd == "kernel-upgrade-required") {
            if (st->supported == "kernel-upgrade-required" || st->supported == "kernel-end-of-life") {
                std::cout << "A kernel upgrade is required: the server reports \"" << st->supported << "\""
                          << (st->upgradeRequiredDate.empty() ? "" : " (by " + st->upgradeRequiredDate + ")") << "\n";
                return kExitFailure;
            }
            std::cout << (st->enabled ? "No kernel upgrade required\n" : "No kernel upgrade required (machine is not enabled)\n");
            return kExitOk;
        }
        auto cfg = Config::load(paths.configFile());
        Config config = cfg ? *cfg : Config();
        StatusOptions opt;
        opt.verbose = line.verbose;
        opt.showSecrets = line.showSecrets;
        if (line.showSecrets) {
            auto c = CredentialStore(paths.credentialFile()).load();
            if (c && c->has_value()) opt.secret = (*c)->secret;
        }
        StatusFacts facts = gatherFacts(paths, *st, config);
        if (line.format == "json") std::cout << renderJson(*st, facts, opt);
        else if (line.format == "yaml") std::cout << renderYaml(*st, facts, opt);
        if (!st->enabled) {
            std::cerr << "Machine is not enabled. To enable: livepatch-agent enable <token>\n";
            return kExitFailure;
        }
        if (line.format == "humane") std::cout << renderHumane(*st, facts, opt);
        return kExitOk;
    }

    if (cmd == "config") {
        if (!line.args.empty()) return runInEngine(line);  // changes are validated and saved by the engine binary
        Paths paths = Paths::resolve(Paths::processEnvironment(), line.rootDir);
        auto cfg = Config::load(paths.configFile());
        if (!cfg) return fail(cfg.error());
        for (const auto& kv : cfg->display(false)) {
            std::string v = kv.second;
            if (v.find('\n') != std::string::npos) v = "<" + std::to_string(std::count(v.begin(), v.end(), '\n')) + " lines of PEM>";
            std::cout << kv.first << ": " << v << "\n";
        }
        return kExitOk;
    }

    if (cmd == "refresh") {
        // Through the running daemon if there is one (it serialises with its
        // own checks and streams progress); otherwise in the engine binary.
        if (!line.requireNoArgs()) return kExitUsage;
        if (!line.requireRoot()) return kExitPermission;
        Paths paths = Paths::resolve(Paths::processEnvironment(), line.rootDir);
        ProgressPrinter progress;
        auto viaDaemon = sendControl(paths.socketPath(), line.allowRollback ? "refresh allow-rollback" : "refresh",
                                     [&](const std::string& l) { progress.onLine(l); });
        if (!viaDaemon) return runInEngine(line);
        progress.finish();
        (viaDaemon->first == 0 ? std::cout : std::cerr) << (viaDaemon->first == 0 ? "" : "error: ") << viaDaemon->second << "\n";
        return viaDaemon->first;
    }

    if (cmd == "daemon") {
        if (!line.requireNoArgs()) return kExitUsage;
        if (!line.requireRoot()) return kExitPermission;
        return runDaemon(line.rootDir);
    }

    static const char* const engineCommands[] = {"enable", "disable", "plugins", "clear-lock"};
    for (const char* c : engineCommands)
        if (cmd == c) return runInEngine(line);

    std::cerr << "error: unknown command \"" << cmd.substr(0, 40) << "\"; see livepatch-agent --help [invalid-argument]\n";
    return kExitUsage;
}

int runAgent(int argc, char** argv) { return runApplication(argc, argv, frontEndCommand); }

}  // namespace livepatch::app
