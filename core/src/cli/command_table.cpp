#include "cli/command_table.h"

#include <sstream>

namespace livepatch::cli {

namespace {

constexpr size_t kWidth = 79;  // humane output stays under 80 columns

// Greedy word wrap of `text`, every line prefixed with `indent`.
std::string wrap(const std::string& text, const std::string& indent) {
    std::istringstream words(text);
    std::string word, line, out;
    while (words >> word) {
        if (!line.empty() && indent.size() + line.size() + 1 + word.size() > kWidth) {
            out += indent + line + "\n";
            line.clear();
        }
        line += (line.empty() ? "" : " ") + word;
    }
    if (!line.empty()) out += indent + line + "\n";
    return out;
}

std::string joined(const std::vector<std::string>& items, const std::string& sep) {
    std::string out;
    for (const auto& i : items) out += (out.empty() ? "" : sep) + i;
    return out;
}

std::string flagSynopsis(const FlagInfo& f) { return "--" + f.name + (f.argument.empty() ? "" : " " + f.argument); }

// "status [--verbose] [--format FORMAT] ..." for the synopsis line.
std::string commandSynopsis(const CommandInfo& c) {
    std::string s = c.name + (c.arguments.empty() ? "" : " " + c.arguments);
    for (const auto& name : c.flags) s += " [" + flagSynopsis(*findFlag(name)) + "]";
    return s;
}

// Words a bash `case` pattern and `compgen -W` can take as they are.
std::string words(const std::vector<std::string>& items, const std::string& prefix = "") {
    std::string out;
    for (const auto& i : items) out += (out.empty() ? "" : " ") + prefix + i;
    return out;
}

}  // namespace

const std::vector<FlagInfo>& flagTable() {
    static const std::vector<FlagInfo> flags = {
        {"help", "h", "", "show this help"},
        {"version", "", "", "print the version (same as `version`)"},
        {"root-dir", "", "DIR", "keep all state under DIR (tests)"},
        {"format", "", "FORMAT", "output format (see each command)"},
        {"verbose", "v", "", "status: more detail"},
        {"show-secrets", "", "", "status: include the credential (root only)"},
        {"cves", "", "", "status: list each fix with its patched state"},
        {"cve", "", "ID", "status: exit 0 if fix ID is patched, 1 if not"},
        {"allow-rollback", "", "", "refresh: allow applying a lower patch version"},
    };
    return flags;
}

const std::vector<std::string>& globalFlags() {
    static const std::vector<std::string> names = {"help", "version", "root-dir"};
    return names;
}

const std::vector<CommandInfo>& commandTable() {
    // One row per command reads better than one field per line.
    // clang-format off
    static const std::vector<CommandInfo> commands = {
        {"enable", "TOKEN|-", "register with the server (auth token UUID or resource token; '-' reads stdin)", {}, {},
         RunsIn::Engine, NeedsRoot::Yes, Takes::One},
        {"disable", "", "revert live patches, deregister, delete the credential", {}, {}, RunsIn::Engine, NeedsRoot::Yes,
         Takes::Nothing},
        {"status", "",
         "show the state from the local state file only (never the network, never the daemon)",
         {"verbose", "format", "show-secrets", "cves", "cve"},
         {"humane", "json", "yaml", "prometheus", "motd"},
         RunsIn::FrontEnd, NeedsRoot::No, Takes::Nothing},
        {"config", "[KEY=VALUE ...]",
         "print every key with its owner (core or a plugin), or set keys (all-or-nothing; KEY= restores the default; "
         "ca-certs=@stdin reads stdin)", {}, {},
         RunsIn::Engine, NeedsRoot::ToChange, Takes::Any},
        {"refresh", "", "check, download, verify and apply now (through the daemon if it runs)", {"allow-rollback"}, {},
         RunsIn::FrontEnd, NeedsRoot::Yes, Takes::Nothing},
        {"kernel-upgrade-required", "", "exit 1 if the server said the kernel needs an upgrade, else 0", {}, {},
         RunsIn::FrontEnd, NeedsRoot::No, Takes::Nothing},
        {"plugins", "", "list loaded plugins (name, role, version, file) and refused ones", {"format"}, {"humane", "json"},
         RunsIn::Engine, NeedsRoot::No, Takes::Nothing},
        {"clear-lock", "", "clear the crash-safety guard after a crash during a load", {}, {}, RunsIn::Engine, NeedsRoot::Yes,
         Takes::Nothing},
        {"version", "", "print the version", {}, {}, RunsIn::FrontEnd, NeedsRoot::No, Takes::Nothing},
        {"daemon", "", "run the periodic checker (systemd unit or snap service)", {}, {}, RunsIn::FrontEnd, NeedsRoot::Yes,
         Takes::Nothing},
        {"completion", "bash|zsh", "print the bash or zsh completion script", {}, {}, RunsIn::Engine, NeedsRoot::No,
         Takes::One},
    };
    // clang-format on
    return commands;
}

const CommandInfo* findCommand(const std::string& name) {
    for (const auto& c : commandTable())
        if (c.name == name) return &c;
    return nullptr;
}

const FlagInfo* findFlag(const std::string& name) {
    for (const auto& f : flagTable())
        if (f.name == name) return &f;
    return nullptr;
}

std::string usageText() {
    std::ostringstream out;
    out << "Usage: livepatch-agent [--root-dir DIR] COMMAND [ARGUMENTS] [FLAGS]\n"
        << "       livepatch-agent --version | --help\n\nCommands:\n";
    for (const auto& c : commandTable()) {
        out << wrap(commandSynopsis(c), "  ");
        out << wrap(c.summary, "      ");
        if (!c.formats.empty())
            out << wrap("--format: " + joined(c.formats, ", ") + " (default " + c.formats[0] + ")", "      ");
    }
    out << "\nFlags:\n";
    for (const auto& f : flagTable()) {
        std::string head = (f.shortName.empty() ? "    " : "-" + f.shortName + ", ") + flagSynopsis(f);
        out << "  " << head << std::string(head.size() < 22 ? 22 - head.size() : 1, ' ') << f.summary << "\n";
    }
    out << "\n"
        << wrap(
               "Exit codes: 0 ok; 1 failure, not enabled (status), not patched (status --cve), upgrade required "
               "(kernel-upgrade-required); 2 usage or invalid value; 3 permission; 4 daemon unavailable; "
               "5 network/server; 6 verification/policy refused; 7 load failed; 8 state corrupt; "
               "9 signed catalogue stale.",
               "");
    out << "See livepatch-agent(8).\n";
    return out.str();
}

namespace {
// What both completion scripts are made of, so the two shells cannot drift.
// Flags whose next word is their value (the scripts skip it to find the command).
std::vector<std::string> valuedFlags() {
    std::vector<std::string> valued;
    for (const auto& f : flagTable())
        if (!f.argument.empty()) valued.push_back("--" + f.name);
    return valued;
}
// The words a command's own position completes to: the global flags (a
// shell variable in both scripts) and the command's flags.
std::string commandFlagWords(const CommandInfo& c) {
    return "$global" + std::string(c.flags.empty() ? "" : " " + words(c.flags, "--"));
}
// The shells `completion` writes a script for.
const char* const kCompletionShells = "bash zsh";
}  // namespace

std::string bashCompletion(const std::vector<std::string>& keys) {
    std::vector<std::string> commandNames;
    for (const auto& c : commandTable()) commandNames.push_back(c.name);
    const std::vector<std::string> valued = valuedFlags();

    std::ostringstream s;
    s << "# bash completion for livepatch-agent; generated by `livepatch-agent completion bash`\n"
      << "# from the CLI's own command table: do not edit.\n"
      << "_livepatch_agent() {\n"
      << "    local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]} cmd= i\n"
      << "    for ((i = 1; i < COMP_CWORD; i++)); do\n"
      << "        case ${COMP_WORDS[i]} in\n"
      << "            " << joined(valued, "|") << ") ((i++)) ;;\n"
      << "            -*) ;;\n"
      << "            *) cmd=${COMP_WORDS[i]}; break ;;\n"
      << "        esac\n"
      << "    done\n"
      << "    case $prev in\n"
      << "        --root-dir) COMPREPLY=($(compgen -d -- \"$cur\")); return ;;\n"
      << "        --cve|=) COMPREPLY=(); return ;;  # an id, or a config value after KEY=\n"
      << "        --format)\n"
      << "            case $cmd in\n";
    for (const auto& c : commandTable())
        if (!c.formats.empty())
            s << "                " << c.name << ") COMPREPLY=($(compgen -W \"" << words(c.formats)
              << "\" -- \"$cur\")) ;;\n";
    s << "            esac\n"
      << "            return ;;\n"
      << "    esac\n"
      << "    local global=\"" << words(globalFlags(), "--") << "\"\n"
      << "    case $cmd in\n"
      << "        '') COMPREPLY=($(compgen -W \"" << words(commandNames) << " $global\" -- \"$cur\")) ;;\n";
    for (const auto& c : commandTable()) {
        s << "        " << c.name << ")\n";
        const std::string flagWords = commandFlagWords(c);
        if (c.name == "config") {
            // KEY= completes to the key and leaves the cursor after '='.
            s << "            if [[ $cur == -* ]]; then COMPREPLY=($(compgen -W \"" << flagWords << "\" -- \"$cur\"))\n"
              << "            else compopt -o nospace 2>/dev/null; COMPREPLY=($(compgen -S = -W \"" << words(keys)
              << "\" -- \"$cur\")); fi ;;\n";
        } else if (c.name == "completion") {
            s << "            COMPREPLY=($(compgen -W \"" << kCompletionShells << " " << flagWords
              << "\" -- \"$cur\")) ;;\n";
        } else {
            s << "            COMPREPLY=($(compgen -W \"" << flagWords << "\" -- \"$cur\")) ;;\n";
        }
    }
    s << "    esac\n"
      << "}\n"
      << "complete -F _livepatch_agent livepatch-agent\n";
    return s.str();
}

namespace {
// A word inside zsh single quotes.
std::string zshQuoted(const std::string& text) {
    std::string out = "'";
    for (char c : text) out += (c == '\'') ? std::string("'\\''") : std::string(1, c);
    return out + "'";
}
}  // namespace

std::string zshCompletion(const std::vector<std::string>& keys) {
    const std::vector<std::string> valued = valuedFlags();

    std::ostringstream s;
    s << "#compdef livepatch-agent\n"
      << "# zsh completion for livepatch-agent; generated by `livepatch-agent completion zsh`\n"
      << "# from the CLI's own command table: do not edit.\n"
      << "_livepatch-agent() {\n"
      << "    local -a commands global\n"
      << "    commands=(\n";
    for (const auto& c : commandTable()) s << "        " << zshQuoted(c.name + ":" + c.summary) << "\n";
    s << "    )\n"
      << "    global=(" << words(globalFlags(), "--") << ")\n"
      << "    local cmd= i\n"
      << "    for ((i = 2; i < CURRENT; i++)); do\n"
      << "        case ${words[i]} in\n"
      << "            " << joined(valued, "|") << ") ((i++)) ;;\n"
      << "            -*) ;;\n"
      << "            *) cmd=${words[i]}; break ;;\n"
      << "        esac\n"
      << "    done\n"
      << "    case ${words[CURRENT-1]} in\n"
      << "        --root-dir) _files -/; return ;;\n"
      << "        --cve) return ;;  # an id\n"
      << "        --format)\n"
      << "            case $cmd in\n";
    for (const auto& c : commandTable())
        if (!c.formats.empty()) s << "                " << c.name << ") compadd -- " << words(c.formats) << " ;;\n";
    s << "            esac\n"
      << "            return ;;\n"
      << "    esac\n"
      << "    if [[ -z $cmd ]]; then\n"
      << "        if [[ ${words[CURRENT]} == -* ]]; then compadd -- $global; else _describe command commands; fi\n"
      << "        return\n"
      << "    fi\n"
      << "    case $cmd in\n";
    for (const auto& c : commandTable()) {
        const std::string flagWords = commandFlagWords(c);
        s << "        " << c.name << ")\n";
        if (c.name == "config") {
            // KEY= completes to the key, the cursor left after '='.
            s << "            if [[ ${words[CURRENT]} == -* ]]; then compadd -- " << flagWords << "\n"
              << "            elif [[ ${words[CURRENT]} != *=* ]]; then compadd -S = -- " << words(keys) << "; fi ;;\n";
        } else if (c.name == "completion") {
            s << "            compadd -- " << kCompletionShells << " " << flagWords << " ;;\n";
        } else {
            s << "            compadd -- " << flagWords << " ;;\n";
        }
    }
    s << "    esac\n"
      << "}\n"
      << "# Autoloaded from $fpath the file is the function's body; sourced, it only defines it.\n"
      << "if [[ $funcstack[1] == _livepatch-agent ]]; then _livepatch-agent \"$@\"; fi\n";
    return s.str();
}

}  // namespace livepatch::cli
