#include "logging/logger.h"

#include <sys/uio.h>
#include <syslog.h>
#include <unistd.h>

#include <Poco/AutoPtr.h>
#include <Poco/ConsoleChannel.h>
#include <Poco/FormattingChannel.h>
#include <Poco/Logger.h>
#include <Poco/PatternFormatter.h>
#include <Poco/SyslogChannel.h>

#include <cstdlib>
#include <regex>
#include <vector>

#include "logging/systemd_api.h"

namespace livepatch {

std::string redactSecrets(const std::string& text) {
    static const std::regex bearer(R"(((?:Bearer|Macaroon|Basic)\s+)[^\s"',;]+)", std::regex::icase);
    static const std::regex uuid(R"([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})");
    static const std::regex longToken(R"([A-Za-z0-9_\-]{40,}={0,2})");
    static const std::regex userinfo(R"((://)[^/@\s]+@)");
    std::string s = std::regex_replace(text, bearer, "$1***");
    s = std::regex_replace(s, uuid, "***");
    s = std::regex_replace(s, longToken, "***");
    s = std::regex_replace(s, userinfo, "$1***@");
    return s;
}

LogLevel parseLogLevel(const std::string& name) {
    if (name == "trace") return LogLevel::Trace;
    if (name == "debug") return LogLevel::Debug;
    if (name == "warning") return LogLevel::Warning;
    if (name == "error") return LogLevel::Error;
    return LogLevel::Info;
}

namespace {
// Where journald listens; its absence means "not under systemd's journal".
constexpr const char* kJournalSocket = "/run/systemd/journal/socket";

int syslogPriority(LogLevel level) {
    switch (level) {
    case LogLevel::Trace:
    case LogLevel::Debug: return LOG_DEBUG;
    case LogLevel::Info: return LOG_INFO;
    case LogLevel::Warning: return LOG_WARNING;
    case LogLevel::Error: return LOG_ERR;
    }
    return LOG_INFO;
}
}  // namespace

const char* messageIdOf(LogEvent event) noexcept {
    switch (event) {
    case LogEvent::PatchApplied: return "0c631205989647a6b6065d5f4d56e1c1";
    case LogEvent::PatchReverted: return "9e759210d214489a8eb6917c67026cb1";
    case LogEvent::PatchRefused: return "1d2d06f985c148d3a85c67a9c6f43057";
    case LogEvent::CheckFailed: return "2888adda934d45ae95cb59968b953646";
    }
    return "";
}

struct AgentLogger::Impl {
    Poco::Logger* logger = nullptr;
};

AgentLogger::AgentLogger(Sink sink, LogLevel level) : impl_(new Impl), sink_(sink), level_(level) {
    Poco::AutoPtr<Poco::Channel> channel;
    Poco::AutoPtr<Poco::PatternFormatter> fmt;
    if (sink == Sink::Syslog || sink == Sink::Journal) {  // Journal falls back to syslog if a send fails
        channel = new Poco::SyslogChannel("livepatch-agent", Poco::SyslogChannel::SYSLOG_PID,
                                          Poco::SyslogChannel::SYSLOG_DAEMON);
        fmt = new Poco::PatternFormatter("%t");
    } else {
        channel = new Poco::ConsoleChannel;  // stderr
        fmt = new Poco::PatternFormatter("livepatch-agent: %q: %t");
    }
    Poco::AutoPtr<Poco::FormattingChannel> fc(new Poco::FormattingChannel(fmt, channel));
    impl_->logger = &Poco::Logger::get(sink == Sink::Terminal ? "livepatch-agent.term" : "livepatch-agent.syslog");
    impl_->logger->setChannel(fc);
    impl_->logger->setLevel(Poco::Message::PRIO_TRACE);
}

AgentLogger::~AgentLogger() = default;

AgentLogger::Sink AgentLogger::systemSink() {
    return ::access(kJournalSocket, W_OK) == 0 ? Sink::Journal : Sink::Syslog;
}

AgentLogger::Sink AgentLogger::defaultSink() {
    if (::isatty(STDERR_FILENO)) return Sink::Terminal;
    const bool underSystemd = std::getenv("INVOCATION_ID") || std::getenv("JOURNAL_STREAM");
    if (underSystemd && ::access(kJournalSocket, W_OK) == 0) return Sink::Journal;
    if (underSystemd || std::getenv("SNAP_NAME")) return Sink::Syslog;
    return Sink::Terminal;
}

void AgentLogger::log(LogLevel level, const std::string& message) noexcept { write(level, message, nullptr, {}); }

void AgentLogger::event(LogLevel level, LogEvent event, const std::string& message,
                        const EventFields& fields) noexcept {
    write(level, message, messageIdOf(event), fields);
}

void AgentLogger::write(LogLevel level, const std::string& message, const char* messageId,
                        const EventFields& fields) noexcept {
    if (level < level_) return;
    try {
        // Every field passes the redaction: the version comes from the server.
        const std::string clean = redactSecrets(message);
        if (sink_ == Sink::Journal) {
            std::vector<std::string> entries = {"MESSAGE=" + clean, "PRIORITY=" + std::to_string(syslogPriority(level)),
                                                "SYSLOG_IDENTIFIER=livepatch-agent"};
            if (messageId) entries.push_back(std::string("MESSAGE_ID=") + messageId);
            if (!fields.errorCode.empty()) entries.push_back("LIVEPATCH_ERROR_CODE=" + redactSecrets(fields.errorCode));
            if (!fields.patchVersion.empty())
                entries.push_back("LIVEPATCH_PATCH_VERSION=" + redactSecrets(fields.patchVersion));
            std::vector<struct iovec> iov;
            for (auto& e : entries) iov.push_back({e.data(), e.size()});
            if (systemd::journalSend(iov.data(), static_cast<int>(iov.size()))) return;
        }
        const std::string line =
            fields.errorCode.empty() ? clean : clean + " [" + redactSecrets(fields.errorCode) + "]";
        switch (level) {
        case LogLevel::Trace: impl_->logger->trace(line); break;
        case LogLevel::Debug: impl_->logger->debug(line); break;
        case LogLevel::Info: impl_->logger->information(line); break;
        case LogLevel::Warning: impl_->logger->warning(line); break;
        case LogLevel::Error: impl_->logger->error(line); break;
        }
    } catch (...) {
    }
}

}  // namespace livepatch
