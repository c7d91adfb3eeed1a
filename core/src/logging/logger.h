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

// Events an operator searches the journal for; each has a fixed MESSAGE_ID
// (`journalctl MESSAGE_ID=...`, README "Logging").
enum class LogEvent { PatchApplied, PatchReverted, PatchRefused, CheckFailed };

// The 128-bit journal MESSAGE_ID of an event (32 lowercase hex digits).
const char* messageIdOf(LogEvent event) noexcept;

// Structured fields of an event; empty ones are left out.
struct EventFields {
    std::string errorCode;     // LIVEPATCH_ERROR_CODE, e.g. "checksum-mismatch"
    std::string patchVersion;  // LIVEPATCH_PATCH_VERSION
};

class AgentLogger : public Logger {
public:
    // Journal: native journald protocol with structured fields (under systemd);
    // Syslog: plain syslog(3) otherwise for services; Terminal: stderr.
    enum class Sink { Terminal, Syslog, Journal };
    AgentLogger(Sink sink, LogLevel level);
    ~AgentLogger() override;
    void log(LogLevel level, const std::string& message) noexcept override;
    // An event with its MESSAGE_ID and fields in the journal; elsewhere a
    // plain line ending in "[<error code>]" when there is one.
    void event(LogLevel level, LogEvent event, const std::string& message, const EventFields& fields) noexcept;
    void setLevel(LogLevel level) noexcept { level_ = level; }
    // Terminal when stderr is a tty or not under a service manager; Journal
    // when systemd started us and journald listens; Syslog otherwise.
    static Sink defaultSink();
    // The system log even from a terminal (Journal if journald listens, else
    // Syslog): where a CLI-run refresh, enable or disable records its event.
    static Sink systemSink();

private:
    void write(LogLevel level, const std::string& message, const char* messageId, const EventFields& fields) noexcept;
    struct Impl;
    std::unique_ptr<Impl> impl_;
    Sink sink_;
    LogLevel level_;
};

}  // namespace livepatch
