// Tests of RankLogs: torchrun's stream choices, each rank stream's route, the folder layout.
#include "launch/rank_logs.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "core/error.h"
#include "support/error_of.h"
#include "support/temp_dir.h"

namespace fs = std::filesystem;

namespace trainrun::launch {
namespace {

using testing::errorOf;

TEST(RankLogsTest, StreamChoicesForEveryRankOrPerRank) {
  EXPECT_EQ(parseStdStreams("--tee", "3").of(7), 3);
  const StdStreams per = parseStdStreams("--redirects", "0:1,2:3");
  EXPECT_EQ(per.of(0), kStdOut);
  EXPECT_EQ(per.of(1), 0);  // not named: none
  EXPECT_EQ(per.of(2), kStdOut | kStdErr);
  EXPECT_FALSE(parseStdStreams("--tee", "0").any());
  EXPECT_EQ(parseLocalRanks("--local-ranks-filter", "0, 2"), (std::set<int>{0, 2}));
  EXPECT_TRUE(parseLocalRanks("--local-ranks-filter", "").empty());  // torchrun's default: all
}

TEST(RankLogsTest, BadChoicesAreOneLineWithTheForm) {
  const std::string form =
      "--redirects '4' is not a stream choice; use 0 (none), 1 (stdout), 2 (stderr) or 3 (both) "
      "for every local rank, or per local rank as in --redirects 0:3,1:2";
  EXPECT_EQ(errorOf<ConfigError>([] { parseStdStreams("--redirects", "4"); }), form);
  for (const char* bad : {"", "x", "0:", ":1", "0:1,0:2", "0:4", "-1:1", "1.5"})
    EXPECT_EQ(errorOf<ConfigError>([&] { parseStdStreams("--tee", bad); }).rfind("--tee '", 0), 0u)
        << bad;
  EXPECT_EQ(errorOf<ConfigError>([] { parseLocalRanks("--local-ranks-filter", "0,a"); }),
            "--local-ranks-filter '0,a' is not a list of local ranks; use e.g. "
            "--local-ranks-filter 0 or --local-ranks-filter 0,1");
}

// The console and file of each stream, as torchrun routes them.
TEST(RankLogsTest, RoutesFollowTorchrun) {
  RankLogOptions o;
  o.redirects = parseStdStreams("-r", "0:1");  // rank 0's stdout: file only
  o.tee = parseStdStreams("-t", "1:3");        // rank 1: both streams to file and console
  auto route = [&](int rank, int stream) { return routeOf(o, rank, stream, "D"); };
  EXPECT_EQ(route(0, kStdOut).file, "D/stdout.log");
  EXPECT_FALSE(route(0, kStdOut).console);
  EXPECT_TRUE(route(0, kStdErr).file.empty());
  EXPECT_TRUE(route(0, kStdErr).console);
  EXPECT_EQ(route(1, kStdErr).file, "D/stderr.log");
  EXPECT_TRUE(route(1, kStdErr).console);
  EXPECT_TRUE(route(2, kStdOut).console);  // not named anywhere: the console only
  EXPECT_TRUE(route(2, kStdOut).file.empty());

  o.console = {0};                          // --local-ranks-filter 0
  EXPECT_FALSE(route(1, kStdOut).console);  // tee'd but filtered: its file only
  EXPECT_FALSE(route(1, kStdErr).console);
  EXPECT_FALSE(route(2, kStdOut).console);  // no file: stdout dropped
  EXPECT_TRUE(route(2, kStdErr).console);   // no file: stderr still shows
  EXPECT_TRUE(route(0, kStdErr).console);
}

class RankLogsDir : public ::testing::Test {
 protected:
  testing::TempDir tmp_{"trainrun_rank_logs"};
  const std::string dir_ = tmp_.str();
};

TEST_F(RankLogsDir, TorchrunsLayoutWithAFreshFolderPerRun) {
  RankLogOptions o;
  o.log_dir = dir_ + "/logs";  // made when missing
  o.tee = parseStdStreams("--tee", "3");
  const RankLogs first(o, "job7"), second(o, "job7");
  EXPECT_EQ(fs::path(first.runDir()).parent_path(), fs::path(dir_ + "/logs"));
  EXPECT_EQ(fs::path(first.runDir()).filename().string().rfind("job7_", 0), 0u);
  EXPECT_NE(first.runDir(), second.runDir());  // the same --log-dir serves many runs
  const RankLogs odd(o, "batch/job:1");        // a scheduler's id: one folder name
  EXPECT_EQ(fs::path(odd.runDir()).filename().string().rfind("batch_job_1_", 0), 0u);
  const StreamRoute r = first.route(1, 2, kStdErr);
  EXPECT_EQ(r.file, first.runDir() + "/attempt_2/1/stderr.log");
  const int fd = RankLogs::openFile(r);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::write(fd, "x\n", 2), 2);
  ::close(fd);
  EXPECT_EQ(fs::file_size(r.file), 2u);
  EXPECT_EQ(RankLogs::openFile(StreamRoute{}), -1);
}

TEST_F(RankLogsDir, NoFileWantedMakesNoFolder) {
  RankLogOptions o;
  o.log_dir = dir_ + "/unused";
  o.console = {0};
  const RankLogs logs(o, "job");
  EXPECT_EQ(logs.runDir(), "");
  EXPECT_FALSE(fs::exists(o.log_dir));
  EXPECT_TRUE(logs.route(0, 0, kStdOut).file.empty());
}

TEST_F(RankLogsDir, ALogDirThatIsAFileIsOneLine) {
  RankLogOptions o;
  o.log_dir = dir_ + "/file";
  std::ofstream(o.log_dir) << "x";
  o.redirects = parseStdStreams("-r", "3");
  const std::string error = errorOf<ConfigError>([&] { RankLogs(o, "job"); });
  EXPECT_EQ(error, "--log-dir " + o.log_dir +
                       ": cannot make the folder (Not a directory); choose a writable folder");
}

TEST_F(RankLogsDir, ErrorFilesBesideTheLogsOrInAPrivateFolderRemovedAtTheEnd) {
  RankLogOptions o;
  o.log_dir = dir_;
  o.tee = parseStdStreams("-t", "3");
  const RankLogs kept(o, "job");
  EXPECT_EQ(kept.errorFile(1, 0), kept.runDir() + "/attempt_0/1/error.json");
  std::string private_file;
  {
    const RankLogs logs(RankLogOptions{}, "job");
    EXPECT_EQ(logs.runDir(), "");
    private_file = logs.errorFile(0, 2);
    ASSERT_NE(private_file, "");
    EXPECT_EQ(fs::path(private_file).filename(), "error.json");
    EXPECT_TRUE(fs::is_directory(fs::path(private_file).parent_path()));
    std::ofstream(private_file) << "{}";
    EXPECT_EQ(logs.errorFile(0, 2), private_file);  // a new spawn: the old file is gone
    EXPECT_FALSE(fs::exists(private_file));
  }
  EXPECT_FALSE(fs::exists(fs::path(private_file).parent_path().parent_path()));
}

}  // namespace
}  // namespace trainrun::launch
