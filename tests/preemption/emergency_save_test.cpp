// Tests of the emergency-save decision: measured or estimated saves against the deadline.
#include "preemption/emergency_save.h"

#include <gtest/gtest.h>

namespace trainrun {
namespace {

SaveBudget measured(double last, double left) {
  SaveBudget b;
  b.step = 812;
  b.last_save_seconds = last;
  b.seconds_left = left;
  b.world_size = 2;
  b.committed_step = 800;
  return b;
}

TEST(EmergencySaveTest, AMeasuredSaveThatFitsIsWritten) {
  SavePlan p = planEmergencySave(measured(0.4, 20));
  EXPECT_TRUE(p.save);
  EXPECT_FALSE(p.wait_inflight);
  EXPECT_EQ(p.why_not, "");
  EXPECT_EQ(p.basis, "the last save took 0.40 s");
}

TEST(EmergencySaveTest, AMeasuredSaveThatDoesNotFitIsSaidInOneLine) {
  SavePlan p = planEmergencySave(measured(41, 12));
  EXPECT_FALSE(p.save);
  EXPECT_EQ(p.why_not,
            "the last save took 41 s and 12 s are left before the deadline; the run resumes "
            "from step 800");
}

TEST(EmergencySaveTest, TheMarginIsAQuarterAndOneSecond) {
  EXPECT_FALSE(planEmergencySave(measured(1, 2.2)).save);  // 1.25 + 1 > 2.2
  EXPECT_TRUE(planEmergencySave(measured(1, 2.3)).save);
  EXPECT_FALSE(planEmergencySave(measured(0.01, 0.9)).save);  // a notice 1 s out
}

TEST(EmergencySaveTest, WithoutAMeasuredSaveTheBytesGiveAConservativeEstimate) {
  SaveBudget b = measured(0, 0);
  b.last_save_seconds.reset();
  b.state_bytes = 1'000'000'000;  // 500 MB per rank at 50 MB/s: 10 s, plus 1 s
  b.committed_step = -1;
  b.seconds_left = 14;
  SavePlan p = planEmergencySave(b);
  EXPECT_FALSE(p.save);
  EXPECT_DOUBLE_EQ(p.estimate_seconds, 11);
  EXPECT_EQ(p.why_not,
            "no save measured yet: 500 MB per rank at a conservative 50 MB/s needs about 11 s and "
            "14 s are left before the deadline; the run starts over (no checkpoint is committed)");
  b.seconds_left = 15;
  EXPECT_TRUE(planEmergencySave(b).save);
}

TEST(EmergencySaveTest, ASaveInFlightIsFinishedFirstWhenBothFit) {
  SaveBudget b = measured(4, 20);
  b.inflight_step = 810;
  b.inflight_seconds = 1;  // about 3 s more
  SavePlan p = planEmergencySave(b);
  EXPECT_TRUE(p.wait_inflight);
  EXPECT_TRUE(p.save);
  b.seconds_left = 8;  // 3 s fit, 3 + 4 s do not
  p = planEmergencySave(b);
  EXPECT_TRUE(p.wait_inflight);
  EXPECT_FALSE(p.save);
  EXPECT_EQ(p.why_not,
            "the save of step 810 in flight needs about 3.0 s more and the last save took 4.0 s "
            "and 8.0 s are left before the deadline; the run resumes from step 810");
  b.seconds_left = 3;  // not even the save in flight fits: abandoned uncommitted
  p = planEmergencySave(b);
  EXPECT_FALSE(p.wait_inflight);
  EXPECT_FALSE(p.save);
  EXPECT_NE(p.why_not.find("the run resumes from step 800"), std::string::npos) << p.why_not;
}

TEST(EmergencySaveTest, ThisStepInFlightIsWaitedForAndCommittedNeedsNothing) {
  SaveBudget in_flight = measured(4, 20);
  in_flight.inflight_step = 812;
  in_flight.inflight_seconds = 1;
  SaveBudget committed = measured(4, 1);
  committed.committed_step = 812;
  for (const SaveBudget& b : {in_flight, committed}) {
    SavePlan p = planEmergencySave(b);
    EXPECT_EQ(p.wait_inflight, b.inflight_step == 812);
    EXPECT_FALSE(p.save);
    EXPECT_EQ(p.why_not, "");
  }
}

TEST(EmergencySaveTest, FormatsSeconds) {
  EXPECT_EQ(formatSeconds(0.0031), "0.003 s");
  EXPECT_EQ(formatSeconds(0.0512), "0.05 s");
  EXPECT_EQ(formatSeconds(1.24), "1.2 s");
  EXPECT_EQ(formatSeconds(41.4), "41 s");
}

}  // namespace
}  // namespace trainrun
