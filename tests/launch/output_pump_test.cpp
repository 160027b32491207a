// Tests of OutputPump: prefixes, whole lines across reads, partial last lines, EOF timeout.
#include "launch/output_pump.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <string>

namespace trainrun::launch {
namespace {

// Reads everything from `fd` until EOF.
std::string readAll(int fd) {
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof(buf))) > 0) out.append(buf, static_cast<size_t>(n));
  return out;
}

void writeAll(int fd, const std::string& s) {
  ASSERT_EQ(::write(fd, s.data(), s.size()), (ssize_t)s.size());
}

TEST(OutputPumpTest, PrefixesWholeLinesAndFlushesPartialAtEof) {
  int src[2], dst[2];
  ASSERT_EQ(::pipe(src), 0);
  ASSERT_EQ(::pipe(dst), 0);
  {
    OutputPump pump;
    pump.add(src[0], dst[1], "[rank 3] ");
    pump.start();
    writeAll(src[1], "hel");
    usleep(20000);  // the pump sees a partial line first and must hold it
    writeAll(src[1], "lo\nworld\n\nlast");
    ::close(src[1]);
    EXPECT_TRUE(pump.finish(std::chrono::seconds(5)));
  }
  ::close(dst[1]);
  EXPECT_EQ(readAll(dst[0]), "[rank 3] hello\n[rank 3] world\n[rank 3] \n[rank 3] last\n");
  ::close(dst[0]);
}

// A log file gets the rank's own lines, unprefixed; out_fd -1 keeps them off the console.
TEST(OutputPumpTest, CopiesLinesToAFileWithOrWithoutTheConsole) {
  int tee_src[2], redirect_src[2], dst[2], tee_file[2], redirect_file[2];
  for (int* p : {tee_src, redirect_src, dst, tee_file, redirect_file}) ASSERT_EQ(::pipe(p), 0);
  {
    OutputPump pump;
    pump.add(tee_src[0], dst[1], "[rank 0] ", tee_file[1]);
    pump.add(redirect_src[0], -1, "[rank 1] ", redirect_file[1]);
    pump.start();
    writeAll(tee_src[1], "both\npartial");
    writeAll(redirect_src[1], "file only\n");
    ::close(tee_src[1]);
    ::close(redirect_src[1]);
    EXPECT_TRUE(pump.finish(std::chrono::seconds(5)));
  }  // the pump closed both files: their readers see EOF
  ::close(dst[1]);
  EXPECT_EQ(readAll(dst[0]), "[rank 0] both\n[rank 0] partial\n");
  EXPECT_EQ(readAll(tee_file[0]), "both\npartial\n");
  EXPECT_EQ(readAll(redirect_file[0]), "file only\n");
  for (int fd : {dst[0], tee_file[0], redirect_file[0]}) ::close(fd);
}

TEST(OutputPumpTest, SourcesAddedWhileRunningArePumped) {
  int first[2], second[2], dst[2];
  ASSERT_EQ(::pipe(first), 0);
  ASSERT_EQ(::pipe(second), 0);
  ASSERT_EQ(::pipe(dst), 0);
  {
    OutputPump pump;
    pump.add(first[0], dst[1], "[rank 0] ");
    pump.start();
    writeAll(first[1], "before\n");
    ::close(first[1]);  // every source at EOF: the pump idles, it does not stop
    usleep(50000);
    pump.add(second[0], dst[1], "[rank 1] ");  // a restarted rank
    writeAll(second[1], "after\n");
    ::close(second[1]);
    EXPECT_TRUE(pump.finish(std::chrono::seconds(5)));
  }
  ::close(dst[1]);
  EXPECT_EQ(readAll(dst[0]), "[rank 0] before\n[rank 1] after\n");
  ::close(dst[0]);
}

TEST(OutputPumpTest, FinishGivesUpOnAPipeHeldOpen) {
  int src[2], dst[2];
  ASSERT_EQ(::pipe(src), 0);
  ASSERT_EQ(::pipe(dst), 0);
  {
    OutputPump pump;
    pump.add(src[0], dst[1], "[rank 0] ");
    pump.start();
    writeAll(src[1], "done\nhalf");
    EXPECT_FALSE(pump.finish(std::chrono::milliseconds(100)));  // writer never closes
  }
  ::close(src[1]);
  ::close(dst[1]);
  EXPECT_EQ(readAll(dst[0]), "[rank 0] done\n[rank 0] half\n");
  ::close(dst[0]);
}

TEST(OutputPumpTest, CutsRunawayLines) {
  int src[2], dst[2];
  ASSERT_EQ(::pipe(src), 0);
  ASSERT_EQ(::pipe(dst), 0);
  std::string out;
  {
    OutputPump pump;
    pump.add(src[0], dst[1], "> ");
    pump.start();
    std::thread reader([&] { out = readAll(dst[0]); });
    std::string big(OutputPump::kMaxLineBytes + 10, 'x');
    writeAll(src[1], big);
    ::close(src[1]);
    EXPECT_TRUE(pump.finish(std::chrono::seconds(5)));
    ::close(dst[1]);
    reader.join();
  }
  EXPECT_EQ(out, "> " + std::string(OutputPump::kMaxLineBytes, 'x') + "\n> xxxxxxxxxx\n");
  ::close(dst[0]);
}

}  // namespace
}  // namespace trainrun::launch
