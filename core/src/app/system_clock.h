// The real clock; sleepFor wakes early on cancellation or wake().
#pragma once

#include <condition_variable>
#include <mutex>

#include "livepatch/plugin.h"

namespace livepatch::app {

class SystemClock : public Clock {
public:
    std::chrono::system_clock::time_point now() const noexcept override { return std::chrono::system_clock::now(); }
    std::chrono::steady_clock::time_point steadyNow() const noexcept override { return std::chrono::steady_clock::now(); }
    bool sleepFor(std::chrono::milliseconds d, const CancelToken* cancel) noexcept override {
        auto deadline = std::chrono::steady_clock::now() + d;
        std::unique_lock<std::mutex> lock(mu_);
        unsigned long long gen = generation_;
        while (std::chrono::steady_clock::now() < deadline) {
            if (cancel && cancel->cancelled()) return false;
            if (generation_ != gen) return false;
            auto slice = std::min<std::chrono::steady_clock::duration>(deadline - std::chrono::steady_clock::now(),
                                                                       std::chrono::milliseconds(250));
            cv_.wait_for(lock, slice);
        }
        return !(cancel && cancel->cancelled());
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

}  // namespace livepatch::app
