// The agent's Logger: Poco channels (terminal or syslog/journald) behind a
// level filter and a redaction pass, the last line of defence against a
// secret reaching a log.
#pragma once

#include <memory>
#include <string>

#include "livepatch/plugin.h"

namespace livepatch {

// Mask anything that looks like a credential: "Bearer x", "Macaroon x",
// UUIDs, long base64url runs (macaroons, machine tokens), URL userinfo.
std::string redactSecrets(const std::string& text);

// "trace|debug|info|warning|error" -> level (info if unknown).
LogLevel parseLogLevel(const std::string& name);

class AgentLogger : public Logger {
public:
    enum class Sink { Terminal, Syslog };
    // Sink::Syslog goes to the journal when run under systemd.
    AgentLogger(Sink sink, LogLevel level);
    ~AgentLogger() override;
    void log(LogLevel level, const std::string& message) noexcept override;
    void setLevel(LogLevel level) noexcept { level_ = level; }
    // Terminal when stderr is a tty or not under a service manager.
    static Sink defaultSink();

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
    LogLevel level_;
};

}  // namespace livepatch
