// FlightRecorder: numbering, states, the step, the bounded window (backends feeding it: the
// communicator conformance suite).
#include "distributed/flight_recorder.h"

#include <gtest/gtest.h>

namespace trainrun {
namespace {

TEST(FlightRecorder, NumbersCollectivesInIssueOrderWithTheAnnouncedStep) {
  FlightRecorder recorder;
  EXPECT_EQ(recorder.lastSeq(), 0u);
  const CollectiveRecord a = recorder.issue("allreduce", 4096);
  recorder.setStep(7);
  const CollectiveRecord b = recorder.issue("broadcast", 8);
  EXPECT_EQ(a.seq, 1u);
  EXPECT_EQ(a.step, -1);
  EXPECT_EQ(b.seq, 2u);
  EXPECT_EQ(b.describe(), "collective #2 (broadcast of 8 bytes at step 7)");
  recorder.finish(a.seq, /*ok=*/true);
  recorder.finish(b.seq, /*ok=*/false);
  recorder.finish(b.seq, /*ok=*/true);  // the first verdict stands
  const auto records = recorder.snapshot();
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[0].state, CollectiveRecord::State::kCompleted);
  EXPECT_EQ(records[1].state, CollectiveRecord::State::kFailed);
  EXPECT_STREQ(stateName(records[1].state), "failed");
}

TEST(FlightRecorder, SummaryNamesTheLastCollectivesAndWhatIsStillOpen) {
  FlightRecorder recorder;
  EXPECT_EQ(summarize(recorder.snapshot()), "none issued");
  for (int i = 0; i < 6; ++i) recorder.finish(recorder.issue("allreduce", 64).seq, true);
  recorder.setStep(9);
  recorder.issue("broadcast", 8);
  const std::string line = summarize(recorder.snapshot(), 2);
  EXPECT_EQ(line.rfind("#6 allreduce of 64 bytes at step -1 completed; #7 broadcast of 8 bytes "
                       "at step 9 issued ",
                       0),
            0u)
      << line;
  EXPECT_NE(line.find(" s ago"), std::string::npos) << line;
}

TEST(FlightRecorder, ATagNamesTheNextCollectiveOnly) {
  FlightRecorder recorder;
  recorder.setTag("bucket 3");
  recorder.setStep(5);
  EXPECT_EQ(recorder.step(), 5);
  EXPECT_EQ(recorder.issue("allreduce", 64).tag, "bucket 3");
  EXPECT_EQ(recorder.issue("allreduce", 64).tag, "");
  EXPECT_EQ(recorder.snapshot()[0].tag, "bucket 3");
}

TEST(FlightRecorder, KeepsOnlyTheLastCapacityRecords) {
  FlightRecorder recorder(3);
  for (int i = 0; i < 10; ++i) recorder.issue("allreduce", i);
  recorder.finish(2, /*ok=*/true);  // left the window: ignored
  const auto records = recorder.snapshot();
  ASSERT_EQ(records.size(), 3u);
  EXPECT_EQ(records.front().seq, 8u);
  EXPECT_EQ(records.back().seq, 10u);
  EXPECT_EQ(recorder.lastSeq(), 10u);
}

}  // namespace
}  // namespace trainrun
