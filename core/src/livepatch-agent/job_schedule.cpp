#include "livepatch-agent/job_schedule.h"

#include <algorithm>

namespace livepatch::agent {

void JobSchedule::patchApplied(TimePoint now) {
    using std::chrono::minutes;
    healthDue_ = {now + minutes(1), now + minutes(5), now + minutes(15)};
}

void JobSchedule::checked(TimePoint now, std::optional<std::chrono::milliseconds> delay) {
    nextCheck_ = delay ? now + *delay : TimePoint::max();
}

JobSchedule::Job JobSchedule::take(TimePoint now) {
    if (!healthDue_.empty() && healthDue_.front() <= now) {
        healthDue_.pop_front();
        return Job::Health;
    }
    if (nextCheck_ <= now) return Job::Check;
    return Job::None;
}

JobSchedule::TimePoint JobSchedule::wakeAt() const {
    return healthDue_.empty() ? nextCheck_ : std::min(nextCheck_, healthDue_.front());
}

}  // namespace livepatch::agent
