// The real clock; sleepFor wakes early on cancellation or wake().
#pragma once

#include <condition_variable>
#include <mutex>

#include "livepatch/plugin.h"

namespace livepatch::cli {

class SystemClock : public Clock {
public:
    std::chrono::system_clock::time_point now() const noexcept override { return std::chrono::system_clock::now(); }
    std::chrono::steady_clock::time_point steadyNow() const noexcept override {
        return std::chrono::steady_clock::now();
    }
    // Sleeps without periodic wake-ups (an idle daemon must not poll):
    // whoever cancels also calls wake().
    bool sleepFor(std::chrono::milliseconds d, const CancelToken* cancel) noexcept override {
        auto deadline = std::chrono::steady_clock::now() + d;
        std::unique_lock<std::mutex> lock(mu_);
        const unsigned long long gen = generation_;
        cv_.wait_until(lock, deadline, [&] { return generation_ != gen || (cancel && cancel->cancelled()); });
        return generation_ == gen && !(cancel && cancel->cancelled());
    }
    // Wake every sleeper (e.g. a refresh request or SIGTERM).
    void wake() {
        std::lock_guard<std::mutex> lock(mu_);
        ++generation_;
        cv_.notify_all();
    }

private:
    std::mutex mu_;
    std::condition_variable cv_;
    unsigned long long generation_ = 0;
};

}  // namespace livepatch::cli
