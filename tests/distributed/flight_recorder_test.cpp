// FlightRecorder: numbering, states, the step, the bounded window; and that backends feed it.
#include "distributed/flight_recorder.h"

#include <gtest/gtest.h>

#include "core/error.h"
#include "distributed/thread_ranks.h"

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

// Every backend numbers the same collective the same on every rank, and a timeout names it.
void expectRecorded(Communicator& comm) {
  std::vector<torch::Tensor> t{torch::ones({4})};
  comm.setStep(3);
  comm.allreduce(t, ReduceOp::kSum)->wait();
  comm.broadcast(t, 0)->wait();
  const auto records = comm.recentCollectives();
  ASSERT_GE(records.size(), 2u);
  const auto& last = records.back();
  EXPECT_EQ(last.op, "broadcast");
  EXPECT_EQ(last.bytes, 16);
  EXPECT_EQ(last.step, 3);
  EXPECT_EQ(last.state, CollectiveRecord::State::kCompleted);
  EXPECT_EQ(records[records.size() - 2].op, "allreduce");
  EXPECT_EQ(last.seq, records[records.size() - 2].seq + 1);
}

TEST(FlightRecorder, ShmAndGlooRecordTheirCollectives) {
  testing::runShmRanks(2, [](int, Communicator& comm) { expectRecorded(comm); });
  testing::runRanks(2, [](int, Communicator& comm) { expectRecorded(comm); });
}

TEST(FlightRecorder, TimeoutErrorsNameTheSequenceNumber) {
  ShmOptions options;
  options.timeout = std::chrono::milliseconds(300);
  testing::runShmRanks(
      2,
      [](int rank, Communicator& comm) {
        if (rank == 1) return;  // never joins
        comm.setStep(5);
        std::vector<torch::Tensor> t{torch::ones({4})};
        try {
          // Longer than the group's deadline: the backend's own timeout ends the wait.
          comm.allreduce(t, ReduceOp::kSum)->wait(std::chrono::seconds(10));
          ADD_FAILURE() << "expected TimeoutError";
        } catch (const TimeoutError& e) {
          EXPECT_NE(std::string(e.what()).find("collective #1 (allreduce of 16 bytes at step 5)"),
                    std::string::npos)
              << e.what();
        }
        EXPECT_EQ(comm.recentCollectives().back().state, CollectiveRecord::State::kFailed);
      },
      options);
}

}  // namespace
}  // namespace trainrun
