#include "logging/logger.h"

#include <unistd.h>

#include <Poco/AutoPtr.h>
#include <Poco/ConsoleChannel.h>
#include <Poco/FormattingChannel.h>
#include <Poco/Logger.h>
#include <Poco/PatternFormatter.h>
#include <Poco/SyslogChannel.h>

#include <cstdlib>
#include <regex>

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

struct AgentLogger::Impl {
    Poco::Logger* logger = nullptr;
};

AgentLogger::AgentLogger(Sink sink, LogLevel level) : impl_(new Impl), level_(level) {
    Poco::AutoPtr<Poco::Channel> channel;
    Poco::AutoPtr<Poco::PatternFormatter> fmt;
    if (sink == Sink::Syslog) {
        channel = new Poco::SyslogChannel("livepatch-agent", Poco::SyslogChannel::SYSLOG_PID,
                                          Poco::SyslogChannel::SYSLOG_DAEMON);
        fmt = new Poco::PatternFormatter("%t");
    } else {
        channel = new Poco::ConsoleChannel;  // stderr
        fmt = new Poco::PatternFormatter("livepatch-agent: %q: %t");
    }
    Poco::AutoPtr<Poco::FormattingChannel> fc(new Poco::FormattingChannel(fmt, channel));
    impl_->logger = &Poco::Logger::get(sink == Sink::Syslog ? "livepatch-agent.syslog" : "livepatch-agent.term");
    impl_->logger->setChannel(fc);
    impl_->logger->setLevel(Poco::Message::PRIO_TRACE);
}

AgentLogger::~AgentLogger() = default;

AgentLogger::Sink AgentLogger::defaultSink() {
    if (::isatty(STDERR_FILENO)) return Sink::Terminal;
    if (std::getenv("INVOCATION_ID") || std::getenv("SNAP_NAME")) return Sink::Syslog;
    return Sink::Terminal;
}

void AgentLogger::log(LogLevel level, const std::string& message) noexcept {
    if (level < level_) return;
    try {
        const std::string clean = redactSecrets(message);
        switch (level) {
        case LogLevel::Trace: impl_->logger->trace(clean); break;
        case LogLevel::Debug: impl_->logger->debug(clean); break;
        case LogLevel::Info: impl_->logger->information(clean); break;
        case LogLevel::Warning: impl_->logger->warning(clean); break;
        case LogLevel::Error: impl_->logger->error(clean); break;
        }
    } catch (...) {
    }
}

}  // namespace livepatch
