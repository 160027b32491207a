// Tests of exit-status wording, the summary line and the launcher's exit code.
#include "launch/run_summary.h"

#include <gtest/gtest.h>
#include <sys/wait.h>

#include <csignal>

namespace trainrun::launch {
namespace {

ExitStatus exited(int code) { return ExitStatus{false, code, 0, false}; }
ExitStatus killed(int sig) { return ExitStatus{true, 0, sig, false}; }
constexpr std::chrono::milliseconds kGrace{10000};

TEST(ExitStatusTest, FromWaitStatus) {
  ExitStatus s = ExitStatus::fromWaitStatus(3 << 8);  // what waitpid reports for exit(3)
  EXPECT_FALSE(s.signaled);
  EXPECT_EQ(s.code, 3);
  EXPECT_EQ(s.shellCode(), 3);
  ExitStatus k = ExitStatus::fromWaitStatus(SIGKILL);
  EXPECT_TRUE(k.signaled);
  EXPECT_EQ(k.signal, SIGKILL);
  EXPECT_EQ(k.shellCode(), 137);
  EXPECT_TRUE(ExitStatus::fromWaitStatus(0).ok());
}

TEST(ExitStatusTest, Words) {
  EXPECT_EQ(exited(3).describe(), "exit code 3");
  EXPECT_EQ(killed(SIGSEGV).describe(), "killed by SIGSEGV");
  EXPECT_EQ(signalName(SIGTERM), "SIGTERM");
  EXPECT_EQ(signalName(SIGRTMIN + 3), "signal " + std::to_string(SIGRTMIN + 3));
  EXPECT_EQ(exited(1).hint(), "");
}

TEST(RunSummaryTest, FailureWithExitCode) {
  AgentResult r;
  r.first_failure = RankFailure{1, exited(3), ""};
  r.stopped = 1;
  EXPECT_EQ(summaryLine(r, kGrace),
            "trainrun: rank 1 failed first: exit code 3 (stopped 1 other rank)");
  EXPECT_EQ(launcherExitCode(r), 3);
}

// The error a Python rank's @record wrote to its TORCHELASTIC_ERROR_FILE, and the file when kept.
TEST(RunSummaryTest, FailureWithARecordedError) {
  AgentResult r;
  r.first_failure = RankFailure{1, exited(1), "", "ValueError: bad batch", "/logs/a/0/error.json"};
  r.stopped = 1;
  EXPECT_EQ(summaryLine(r, kGrace),
            "trainrun: rank 1 failed first: exit code 1: ValueError: bad batch (stopped 1 other "
            "rank; its traceback: /logs/a/0/error.json)");
  r.first_failure->error_file = "";  // a private folder, removed at the end: not named
  EXPECT_EQ(summaryLine(r, kGrace),
            "trainrun: rank 1 failed first: exit code 1: ValueError: bad batch (stopped 1 other "
            "rank)");
}

TEST(RunSummaryTest, SigkillSuggestsOom) {
  AgentResult r;
  r.first_failure = RankFailure{0, killed(SIGKILL), ""};
  r.stopped = 3;
  EXPECT_EQ(summaryLine(r, kGrace),
            "trainrun: rank 0 failed first: killed by SIGKILL (likely an out-of-memory kill; "
            "check dmesg; stopped 3 other ranks)");
  EXPECT_EQ(launcherExitCode(r), 128 + SIGKILL);
}

TEST(RunSummaryTest, SingleRankFailureHasNoStopNote) {
  AgentResult r;
  r.first_failure = RankFailure{0, exited(1), ""};
  EXPECT_EQ(summaryLine(r, kGrace), "trainrun: rank 0 failed first: exit code 1");
}

TEST(RunSummaryTest, ForcedKillsAreNoted) {
  AgentResult r;
  r.first_failure = RankFailure{2, exited(1), ""};
  r.stopped = 2;
  r.force_killed = 1;
  EXPECT_EQ(summaryLine(r, std::chrono::milliseconds(1500)),
            "trainrun: rank 2 failed first: exit code 1 (stopped 2 other ranks; 1 needed SIGKILL "
            "after the 1.5 s grace period)");
}

TEST(RunSummaryTest, AHangSaysWhomItKilledAtOnceAndWhatItCost) {
  AgentResult r;
  r.hang = "rank 1 (node 0) did not join allreduce #41 (bucket 0, 332 KiB) at step 20";
  r.hung_killed = {"rank 1 (stopped by a signal)"};
  r.hang_cost_ms = 16240;
  r.stopped = 3;
  EXPECT_EQ(
      summaryLine(r, kGrace),
      "trainrun: hang: rank 1 (node 0) did not join allreduce #41 (bucket 0, 332 KiB) at step "
      "20; stopped 3 ranks (killed at once: rank 1 (stopped by a signal); the hang cost 16.2 s "
      "from the last completed collective to the exit)");
  EXPECT_EQ(launcherExitCode(r), 1);
}

TEST(RunSummaryTest, AHungRankThatFailedFirstIsNotCalledAnOomKill) {
  AgentResult r;
  r.first_failure = RankFailure{1, killed(SIGKILL), "did not answer its dump request"};
  r.stopped = 2;
  EXPECT_EQ(summaryLine(r, kGrace),
            "trainrun: rank 1 failed first: hung (did not answer its dump request) and killed by "
            "the launcher (stopped 2 other ranks)");
}

TEST(RunSummaryTest, ReceivedSignal) {
  AgentResult r;
  r.received_signal = SIGINT;
  r.stopped = 2;
  EXPECT_EQ(summaryLine(r, kGrace), "trainrun: received SIGINT; stopped 2 ranks");
  EXPECT_EQ(launcherExitCode(r), 130);
}

TEST(RunSummaryTest, PreemptionExitsWithTempfail) {
  AgentResult r;
  r.received_signal = SIGTERM;
  r.preemption = PreemptNotice{std::chrono::system_clock::now(), "SIGTERM", true};
  r.preemption_outcome =
      "emergency checkpoint committed at step 812 in 0.05 s, 19 s before the "
      "deadline";
  r.stopped = 2;
  EXPECT_EQ(summaryLine(r, kGrace),
            "trainrun: preempted (SIGTERM); emergency checkpoint committed at step 812 in 0.05 s, "
            "19 s before the deadline; stopped 2 ranks");
  EXPECT_EQ(launcherExitCode(r), 143);
}

TEST(RunSummaryTest, PreemptionWithoutOutcomeNamesTheDeadlineKill) {
  AgentResult r;
  r.preemption = PreemptNotice{std::chrono::system_clock::now(),
                               "spot interruption notice: terminate at 2026-11-26T10:00:00Z", true};
  r.stopped = 2;
  r.force_killed = 2;
  EXPECT_EQ(summaryLine(r, kGrace),
            "trainrun: preempted (spot interruption notice: terminate at 2026-11-26T10:00:00Z); "
            "the ranks reported no emergency checkpoint; stopped 2 ranks (2 needed SIGKILL at "
            "the deadline)");
  EXPECT_EQ(launcherExitCode(r), 143);
}

TEST(RunSummaryTest, PreemptionAfterEveryRankFinishedIsSuccess) {
  AgentResult r;
  r.preemption = PreemptNotice{std::chrono::system_clock::now(), "SIGTERM", true};
  r.stopped = 2;
  r.stopped_ok = 2;
  EXPECT_EQ(summaryLine(r, kGrace),
            "trainrun: preempted (SIGTERM) as every rank had finished; the run is complete");
  EXPECT_EQ(launcherExitCode(r), 0);
}

// Kubeflow's ExitCode policy retries 128..255: a lost node is retried, as a preemption is.
TEST(RunSummaryTest, LostNodeIsRetryable) {
  AgentResult r;
  r.peer_failure = "node 1 (192.0.2.2) failed first: its agent stopped heartbeating for 10 s";
  EXPECT_EQ(launcherExitCode(r), 129);
  EXPECT_GE(launcherExitCode(r), 128);
}

TEST(RunSummaryTest, SuccessIsSilent) {
  AgentResult r;
  EXPECT_EQ(summaryLine(r, kGrace), "");
  EXPECT_EQ(launcherExitCode(r), 0);
}

}  // namespace
}  // namespace trainrun::launch
