// When the daemon runs which job: the periodic check (delays from
// schedule/schedule.h, chosen by the caller) and the health reports 1, 5 and
// 15 minutes after a patch was applied. Pure and clock-free so tests can
// walk it through time; the daemon feeds it steady_clock.
#pragma once

#include <chrono>
#include <deque>
#include <optional>

namespace livepatch::agent {

class JobSchedule {
public:
    using TimePoint = std::chrono::steady_clock::time_point;
    enum class Job { None, Health, Check };

    // The first server check is due at `firstCheck` (a start time plus
    // computeFirstCheckDelay: spread, so a rebooted fleet is no herd).
    explicit JobSchedule(TimePoint firstCheck) : nextCheck_(firstCheck) {}

    // A patch was applied at `now`: health reports at +1, +5 and +15 min
    // (a later apply restarts the series).
    void patchApplied(TimePoint now);
    // A check finished at `now`; the next one after `delay` (none if nullopt:
    // periodic checks disabled).
    void checked(TimePoint now, std::optional<std::chrono::milliseconds> delay);
    // Check as soon as possible (configuration reloaded).
    void checkNow(TimePoint now) { nextCheck_ = now; }

    // The job due at `now`, health first; a returned Health is consumed.
    Job take(TimePoint now);
    // When something is next due (TimePoint::max() if nothing ever is).
    TimePoint wakeAt() const;

private:
    TimePoint nextCheck_;
    std::deque<TimePoint> healthDue_;
};

}  // namespace livepatch::agent
