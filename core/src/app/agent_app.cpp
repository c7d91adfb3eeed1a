#include "app/agent_app.h"

#include <signal.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <Poco/Util/HelpFormatter.h>
#include <Poco/Util/Option.h>
#include <Poco/Util/OptionException.h>

#include <iostream>
#include <memory>
#include <random>
#include <sstream>
#include <thread>

#include "app/control_socket.h"
#include "app/daemon.h"
#include "app/exit_codes.h"
#include "app/runtime.h"
#include "app/status_render.h"
#include "app/system_clock.h"
#include "config/config.h"
#include "engine/engine.h"
#include "host/plugin_host.h"
#include "logging/logger.h"
#include "protocol/host_facts.h"
#include "protocol/machine_id.h"
#include "state/credential_store.h"
#include "state/paths.h"
#include "state/state_file.h"
#include "util/fs.h"
#include "util/timeutil.h"

namespace livepatch::app {

namespace {

const char* kUsage =
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
    "  6 verification/policy refused; 7 load failed; 8 state corrupt.\n";

bool testRootActive(const std::optional<std::string>& rootDir) {
    return rootDir.has_value() || std::getenv("LIVEPATCH_AGENT_ROOT") != nullptr;
}

int fail(const Error& e) {
    std::cerr << "error: " << e.message() << " [" << e.codeName() << "]\n";
    return exitCodeFor(e.code());
}

Status makeRuntime(Runtime& rt, const std::optional<std::string>& rootDir, bool withPlugins, bool withEngine, bool createDirs) {
    RuntimeOptions o;
    o.plugins = withPlugins;
    o.engine = withEngine;
    o.createDirs = createDirs;
    return rt.build(rootDir, o);
}

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

std::string progressBar(const std::string& phase, unsigned long long done, unsigned long long total) {
    std::ostringstream o;
    o << "\r" << phase << ": ";
    if (total > 0) {
        int width = 30;
        int filled = static_cast<int>(width * std::min(done, total) / total);
        o << "[" << std::string(filled, '#') << std::string(width - filled, ' ') << "] " << (100 * std::min(done, total) / total) << "% ";
    }
    o << done / 1024 << " KiB";
    return o.str();
}

}  // namespace

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

AgentApplication::AgentApplication() { setUnixOptions(true); }

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
    else if (name == "format") format_ = value;
    else if (name == "verbose") verbose_ = true;
    else if (name == "show-secrets") showSecrets_ = true;
    else if (name == "root-dir") rootDir_ = value;
    else if (name == "allow-rollback") allowRollback_ = true;
}

int AgentApplication::main(const std::vector<std::string>& args) {
    if (helpRequested_ || args.empty()) {
        std::cout << kUsage;
        return args.empty() && !helpRequested_ ? kExitUsage : kExitOk;
    }
    const std::string cmd = args[0];
    const std::vector<std::string> rest(args.begin() + 1, args.end());
    const bool privileged = ::geteuid() == 0 || testRootActive(rootDir_);
    auto needRoot = [&]() -> bool {
        if (privileged) return true;
        std::cerr << "error: `livepatch-agent " << cmd << "` must be run as root [permission]\n";
        return false;
    };
    auto noArgs = [&]() -> bool {
        if (rest.empty()) return true;
        std::cerr << "error: `" << cmd << "` takes no arguments [invalid-argument]\n";
        return false;
    };

    if (cmd == "version") {
        if (!noArgs()) return kExitUsage;
        std::cout << "livepatch-agent " << LIVEPATCH_AGENT_VERSION << " (plugin SDK " << LIVEPATCH_SDK_VERSION << ", ABI "
                  << LIVEPATCH_SDK_ABI_VERSION << ")\n";
        return kExitOk;
    }

    if (cmd == "status" || cmd == "kernel-upgrade-required") {
        if (!noArgs()) return kExitUsage;
        if (format_ != "humane" && format_ != "json" && format_ != "yaml") {
            std::cerr << "error: --format: expected humane|json|yaml, got \"" << format_ << "\" [invalid-argument]\n";
            return kExitUsage;
        }
        if (showSecrets_ && ::geteuid() != 0 && !testRootActive(rootDir_)) {
            std::cerr << "error: --show-secrets requires root [permission]\n";
            return kExitPermission;
        }
        Paths paths = Paths::resolve(Paths::processEnvironment(), rootDir_);
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
        opt.verbose = verbose_;
        opt.showSecrets = showSecrets_;
        if (showSecrets_) {
            auto c = CredentialStore(paths.credentialFile()).load();
            if (c && c->has_value()) opt.secret = (*c)->secret;
        }
        StatusFacts facts = gatherFacts(paths, *st, config);
        if (format_ == "json") std::cout << renderJson(*st, facts, opt);
        else if (format_ == "yaml") std::cout << renderYaml(*st, facts, opt);
        if (!st->enabled) {
            std::cerr << "Machine is not enabled. To enable: livepatch-agent enable <token>\n";
            return kExitFailure;
        }
        if (format_ == "humane") std::cout << renderHumane(*st, facts, opt);
        return kExitOk;
    }

    if (cmd == "config") {
        Paths paths = Paths::resolve(Paths::processEnvironment(), rootDir_);
        auto cfg = Config::load(paths.configFile());
        if (!cfg) return fail(cfg.error());
        if (rest.empty()) {
            for (const auto& kv : cfg->display(false)) {
                std::string v = kv.second;
                if (v.find('\n') != std::string::npos) v = "<" + std::to_string(std::count(v.begin(), v.end(), '\n')) + " lines of PEM>";
                std::cout << kv.first << ": " << v << "\n";
            }
            return kExitOk;
        }
        if (!needRoot()) return kExitPermission;
        std::vector<std::string> assignments;
        for (const auto& a : rest) {
            auto eq = a.find('=');
            if (eq != std::string::npos && a.substr(eq + 1) == "@stdin") {
                std::stringstream in;
                in << std::cin.rdbuf();
                assignments.push_back(a.substr(0, eq + 1) + in.str());
            } else {
                assignments.push_back(a);
            }
        }
        auto s = cfg->apply(assignments);
        if (!s) return fail(s.error());
        auto ensured = paths.ensure();
        if (!ensured) return fail(ensured.error());
        s = cfg->save(paths.configFile());
        if (!s) return fail(s.error());
        (void)sendControl(paths.socketPath(), "reload", nullptr);  // a running daemon picks it up
        std::cout << "configuration updated\n";
        return kExitOk;
    }

    if (cmd == "plugins") {
        if (!noArgs()) return kExitUsage;
        Runtime rt;
        auto r = makeRuntime(rt, rootDir_, true, false, false);
        if (!r && !rt.host) return fail(r.error());
        for (const auto& p : rt.host->loaded())
            std::cout << p.info.name << "\t" << pluginRoleName(p.info.role) << "\t" << p.info.version << "\t" << p.path << "\n";
        for (const auto& e : rt.pluginErrors) std::cerr << "refused: " << e.message() << "\n";
        if (!r) return fail(r.error());
        return rt.pluginErrors.empty() ? kExitOk : kExitFailure;
    }

    if (cmd == "clear-lock") {
        if (!noArgs()) return kExitUsage;
        if (!needRoot()) return kExitPermission;
        Runtime rt;
        auto r = makeRuntime(rt, rootDir_, true, true, true);
        if (!r) return fail(r.error());
        auto s = rt.engine->clearCrashGuard();
        if (!s) return fail(s.error());
        std::cout << "crash guard cleared; the next check will load patches again\n";
        return kExitOk;
    }

    if (cmd == "enable") {
        if (rest.size() != 1) {
            std::cerr << "error: usage: livepatch-agent enable TOKEN (or '-' to read it from stdin) [invalid-argument]\n";
            return kExitUsage;
        }
        if (!needRoot()) return kExitPermission;
        std::string token = rest[0];
        if (token == "-") std::getline(std::cin, token);
        while (!token.empty() && std::isspace(static_cast<unsigned char>(token.back()))) token.pop_back();
        Runtime rt;
        auto r = makeRuntime(rt, rootDir_, true, true, true);
        if (!r) return fail(r.error());
        auto s = rt.engine->enable(token);
        if (!s) return fail(s.error());
        std::cout << "Successfully enabled; checking for patches.\n";
        CancelToken cancel;
        auto cycle = rt.engine->runCycle(CycleKind::Refresh, nullptr, &cancel);
        if (!cycle) {
            std::cerr << "warning: first check failed: " << cycle.error().message() << "\n";
            return kExitOk;  // enabled; the daemon retries
        }
        std::cout << cycle->summary << "\n";
        (void)sendControl(rt.paths.socketPath(), "reload", nullptr);
        return kExitOk;
    }

    if (cmd == "disable") {
        if (!noArgs()) return kExitUsage;
        if (!needRoot()) return kExitPermission;
        Runtime rt;
        auto r = makeRuntime(rt, rootDir_, true, true, true);
        if (!r) return fail(r.error());
        CancelToken cancel;
        auto s = rt.engine->disable(&cancel);
        if (!s) return fail(s.error());
        (void)sendControl(rt.paths.socketPath(), "reload", nullptr);
        std::cout << "Machine disabled; live patches reverted.\n";
        return kExitOk;
    }

    if (cmd == "refresh") {
        if (!noArgs()) return kExitUsage;
        if (!needRoot()) return kExitPermission;
        const bool tty = ::isatty(STDOUT_FILENO);
        std::string lastPhase;
        auto show = [tty, &lastPhase](const std::string& phase, unsigned long long done, unsigned long long total) {
            const bool newPhase = phase != lastPhase;
            if (newPhase && tty && lastPhase == "download") std::cout << "\n";
            lastPhase = phase;
            if (phase == "download" && tty) {
                std::cout << progressBar(phase, done, total) << std::flush;  // redrawn in place
            } else if (newPhase) {
                std::cout << phase << "..." << (phase == "download" && total ? " (" + std::to_string(total / 1024) + " KiB)" : "")
                          << "\n" << std::flush;
            }
        };
        Paths paths = Paths::resolve(Paths::processEnvironment(), rootDir_);
        auto viaDaemon = sendControl(paths.socketPath(), allowRollback_ ? "refresh allow-rollback" : "refresh", [&](const std::string& line) {
            std::istringstream in(line);
            std::string word, phase;
            unsigned long long done = 0, total = 0;
            in >> word >> phase >> done >> total;
            if (word == "progress") show(phase, done, total);
        });
        if (viaDaemon) {
            if (tty && lastPhase == "download") std::cout << "\n";
            (viaDaemon->first == 0 ? std::cout : std::cerr) << (viaDaemon->first == 0 ? "" : "error: ") << viaDaemon->second << "\n";
            return viaDaemon->first;
        }
        Runtime rt;
        auto r = makeRuntime(rt, rootDir_, true, true, true);
        if (!r) return fail(r.error());
        CancelToken cancel;
        if (allowRollback_) rt.engine->allowRollbackOnce();
        auto cycle = rt.engine->runCycle(CycleKind::Refresh, show, &cancel);
        if (tty && lastPhase == "download") std::cout << "\n";
        if (!cycle) return fail(cycle.error());
        std::cout << cycle->summary << "\n";
        return kExitOk;
    }

    if (cmd == "daemon") {
        if (!noArgs()) return kExitUsage;
        if (!needRoot()) return kExitPermission;
        return runDaemon(rootDir_);
    }

    std::cerr << "error: unknown command \"" << cmd.substr(0, 40) << "\"; see livepatch-agent --help [invalid-argument]\n";
    return kExitUsage;
}

int runAgent(int argc, char** argv) {
    std::vector<std::string> raw(argv, argv + argc);
    std::vector<std::string> norm = normalizeArguments(std::vector<std::string>(raw.begin() + 1, raw.end()));
    norm.insert(norm.begin(), raw.empty() ? "livepatch-agent" : raw[0]);
    std::vector<char*> cargv;
    for (auto& s : norm) cargv.push_back(s.data());
    cargv.push_back(nullptr);
    AgentApplication app;
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

}  // namespace livepatch::app
