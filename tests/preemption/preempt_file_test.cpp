// Tests of the preemption notice file's format.
#include "preemption/preempt_file.h"

#include <gtest/gtest.h>

namespace trainrun {
namespace {

TEST(PreemptFileTest, RoundTrips) {
  PreemptNotice n;
  n.deadline = std::chrono::system_clock::time_point(std::chrono::milliseconds(1795687200123));
  n.reason = "spot interruption notice: terminate at 2026-11-26T10:00:00Z";
  n.save = true;
  const std::string text = formatPreemptNotice(n);
  EXPECT_EQ(text,
            "deadline_unix_ms=1795687200123\nsave=1\nreason=spot interruption notice: terminate "
            "at 2026-11-26T10:00:00Z\n");
  auto back = parsePreemptNotice(text);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->deadline, n.deadline);
  EXPECT_EQ(back->reason, n.reason);
  EXPECT_TRUE(back->save);
}

TEST(PreemptFileTest, NeedsADeadlineAndIgnoresUnknownKeys) {
  EXPECT_FALSE(parsePreemptNotice("save=1\nreason=SIGTERM\n"));
  EXPECT_FALSE(parsePreemptNotice("deadline_unix_ms=soon\n"));
  auto n = parsePreemptNotice("leaving_nodes=3\ndeadline_unix_ms=5\n");
  ASSERT_TRUE(n);
  EXPECT_FALSE(n->save);
  EXPECT_EQ(preemptOutcomePath("/tmp/x/notice"), "/tmp/x/notice.outcome");
}

}  // namespace
}  // namespace trainrun
