#include <gtest/gtest.h>

#include <chrono>

#include "livepatch-agent/job_schedule.h"

using namespace livepatch::agent;

#include "livepatch-agent/job_schedule.h"

TEST(JobSchedule, FirstCheckWaitsForItsSpreadDelayButAReloadChecksAtOnce) {
    using namespace std::chrono;
    const JobSchedule::TimePoint t0{};
    JobSchedule s(t0 + minutes(37));  // start + computeFirstCheckDelay
    EXPECT_EQ(s.take(t0), JobSchedule::Job::None) << "no check in the boot minute";
    EXPECT_EQ(s.wakeAt(), t0 + minutes(37));
    EXPECT_EQ(s.take(t0 + minutes(37)), JobSchedule::Job::Check);
    JobSchedule enabled(t0 + minutes(37));
    enabled.checkNow(t0 + minutes(2));  // enable / config change: reload
    EXPECT_EQ(enabled.take(t0 + minutes(2)), JobSchedule::Job::Check);
}

TEST(JobSchedule, ChecksAtStartThenAfterTheChosenDelay) {
    using namespace std::chrono;
    const JobSchedule::TimePoint t0{};
    JobSchedule s(t0);
    EXPECT_EQ(s.take(t0), JobSchedule::Job::Check);
    s.checked(t0, minutes(60));
    EXPECT_EQ(s.take(t0 + minutes(59)), JobSchedule::Job::None);
    EXPECT_EQ(s.wakeAt(), t0 + minutes(60));
    EXPECT_EQ(s.take(t0 + minutes(60)), JobSchedule::Job::Check);
    s.checked(t0 + minutes(60), std::nullopt);  // check-interval=0
    EXPECT_EQ(s.wakeAt(), JobSchedule::TimePoint::max());
    s.checkNow(t0 + minutes(61));  // reload
    EXPECT_EQ(s.take(t0 + minutes(61)), JobSchedule::Job::Check);
}

TEST(JobSchedule, HealthReportsOneFiveAndFifteenMinutesAfterAnApply) {
    using namespace std::chrono;
    const JobSchedule::TimePoint t0{};
    JobSchedule s(t0);
    s.checked(t0, hours(1));
    s.patchApplied(t0);
    std::vector<minutes> reports;
    for (auto t = t0; t < t0 + minutes(59); t += seconds(10)) {
        while (s.take(t) == JobSchedule::Job::Health) reports.push_back(duration_cast<minutes>(t - t0));
        EXPECT_LE(s.wakeAt(), t0 + hours(1));
    }
    EXPECT_EQ(reports, (std::vector<minutes>{minutes(1), minutes(5), minutes(15)}));
    EXPECT_EQ(s.wakeAt(), t0 + hours(1)) << "after the third report only the check is left";

    // A second apply during the series starts it again from that apply.
    JobSchedule r(t0);
    r.checked(t0, hours(1));
    r.patchApplied(t0);
    EXPECT_EQ(r.take(t0 + minutes(1)), JobSchedule::Job::Health);
    r.patchApplied(t0 + minutes(2));
    EXPECT_EQ(r.wakeAt(), t0 + minutes(3));
    EXPECT_EQ(r.take(t0 + minutes(3)), JobSchedule::Job::Health);
    EXPECT_EQ(r.take(t0 + minutes(5)), JobSchedule::Job::None) << "the old +5 min report is gone";
    EXPECT_EQ(r.take(t0 + minutes(7)), JobSchedule::Job::Health);
}

TEST(JobSchedule, HealthComesBeforeADueCheck) {
    using namespace std::chrono;
    const JobSchedule::TimePoint t0{};
    JobSchedule s(t0);
    s.patchApplied(t0 - minutes(1));
    EXPECT_EQ(s.take(t0), JobSchedule::Job::Health);
    EXPECT_EQ(s.take(t0), JobSchedule::Job::Check);
}
