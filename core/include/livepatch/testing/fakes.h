// livepatch-agent plugin SDK: test doubles for the injected services.
// Header-only; vendors may use them in their own plugin tests.
#pragma once

#include <sys/resource.h>

#include <csignal>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "livepatch/plugin.h"

namespace livepatch::testing {

// The config a plugin sees: the values set, else (as in the agent) the
// default of a declared key: declare(plugin.configKeys()).
class MapConfigView : public ConfigView {
public:
    MapConfigView() = default;
    explicit MapConfigView(std::map<std::string, std::string> values) : values_(std::move(values)) {}
    std::optional<std::string> get(const std::string& key) const noexcept override {
        auto it = values_.find(key);
        if (it != values_.end()) return it->second;
        auto d = defaults_.find(key);
        if (d != defaults_.end()) return d->second;
        return std::nullopt;
    }
    void set(const std::string& key, const std::string& value) { values_[key] = value; }
    MapConfigView& declare(const std::vector<ConfigKey>& keys) {
        for (const auto& k : keys) defaults_[k.name] = k.defaultValue;
        return *this;
    }

private:
    std::map<std::string, std::string> values_;
    std::map<std::string, std::string> defaults_;
};

class CapturingLogger : public Logger {
public:
    void log(LogLevel level, const std::string& message) noexcept override {
        std::lock_guard<std::mutex> lock(mu_);
        lines_.push_back({level, message});
    }
    std::vector<std::pair<LogLevel, std::string>> lines() const {
        std::lock_guard<std::mutex> lock(mu_);
        return lines_;
    }
    // True if any captured line contains needle (use to prove secrets are absent).
    bool contains(const std::string& needle) const {
        std::lock_guard<std::mutex> lock(mu_);
        for (const auto& l : lines_)
            if (l.second.find(needle) != std::string::npos) return true;
        return false;
    }

private:
    mutable std::mutex mu_;
    std::vector<std::pair<LogLevel, std::string>> lines_;
};

// A clock that only moves when told to; sleepFor advances it instantly and
// records the requested durations.
class ManualClock : public Clock {
public:
    std::chrono::system_clock::time_point now() const noexcept override {
        std::lock_guard<std::mutex> lock(mu_);
        return wall_;
    }
    std::chrono::steady_clock::time_point steadyNow() const noexcept override {
        std::lock_guard<std::mutex> lock(mu_);
        return steady_;
    }
    bool sleepFor(std::chrono::milliseconds d, const CancelToken* cancel) noexcept override {
        if (cancel && cancel->cancelled()) return false;
        std::lock_guard<std::mutex> lock(mu_);
        sleeps_.push_back(d);
        wall_ += d;
        steady_ += d;
        return true;
    }
    void advance(std::chrono::milliseconds d) {
        std::lock_guard<std::mutex> lock(mu_);
        wall_ += d;
        steady_ += d;
    }
    void setWall(std::chrono::system_clock::time_point t) {
        std::lock_guard<std::mutex> lock(mu_);
        wall_ = t;
    }
    std::vector<std::chrono::milliseconds> sleeps() const {
        std::lock_guard<std::mutex> lock(mu_);
        return sleeps_;
    }

private:
    mutable std::mutex mu_;
    std::chrono::system_clock::time_point wall_{std::chrono::seconds(1700000000)};
    std::chrono::steady_clock::time_point steady_{};
    std::vector<std::chrono::milliseconds> sleeps_;
};

// While alive, writes past `bytes` in any file fail (EFBIG) the way they do
// on a full file system, without needing one (SIGXFSZ ignored meanwhile).
class FileSizeLimit {
public:
    explicit FileSizeLimit(rlim_t bytes) {
        ::getrlimit(RLIMIT_FSIZE, &old_);
        oldHandler_ = std::signal(SIGXFSZ, SIG_IGN);
        struct rlimit small = old_;
        small.rlim_cur = bytes;
        ::setrlimit(RLIMIT_FSIZE, &small);
    }
    ~FileSizeLimit() {
        ::setrlimit(RLIMIT_FSIZE, &old_);
        std::signal(SIGXFSZ, oldHandler_);
    }
    FileSizeLimit(const FileSizeLimit&) = delete;
    FileSizeLimit& operator=(const FileSizeLimit&) = delete;

private:
    struct rlimit old_ {};
    void (*oldHandler_)(int) = nullptr;
};

}  // namespace livepatch::testing
