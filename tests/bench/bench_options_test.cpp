// `trainrun bench allreduce` flags: nccl-tests' spellings taken out, the launcher's left in order.
#include "bench/bench_options.h"

#include <gtest/gtest.h>

#include "core/error.h"

namespace trainrun::bench {
namespace {

TEST(BenchOptions, SplitsItsFlagsFromTheLaunchersAndPassesThemOn) {
  const BenchCommandLine c =
      splitBenchArgs({"--nproc-per-node", "4", "-b", "4K", "-e=1M", "--nnodes", "2", "-f", "4",
                      "-d", "half,bfloat16", "--backend", "shm", "--json", "out.json"});
  EXPECT_EQ(c.launcher_args, (std::vector<std::string>{"--nproc-per-node", "4", "--nnodes", "2"}));
  EXPECT_EQ(c.bench.min_bytes, 4096);
  EXPECT_EQ(c.bench.max_bytes, 1 << 20);
  EXPECT_EQ(c.bench.step_factor, 4);
  EXPECT_EQ(c.bench.dtypes, (std::vector<std::string>{"half", "bfloat16"}));
  EXPECT_EQ(c.bench.backends, std::vector<std::string>{"shm"});
  const AllreduceBenchOptions back = parseBenchArgs(benchArgv(c.bench));
  EXPECT_EQ(back.min_bytes, c.bench.min_bytes);
  EXPECT_EQ(back.max_bytes, c.bench.max_bytes);
  EXPECT_EQ(back.dtypes, c.bench.dtypes);
  EXPECT_EQ(back.backends, c.bench.backends);
  EXPECT_EQ(back.json_path, "out.json");
  EXPECT_EQ(parseBenchArgs({"-d", "all"}).dtypes.size(), 3u);
}

TEST(BenchOptions, SizesInNcclTestsUnits) {
  EXPECT_EQ(parseBytes("8", "-b"), 8);
  EXPECT_EQ(parseBytes("32M", "-e"), 32 << 20);
  EXPECT_EQ(parseBytes("1g", "-e"), 1 << 30);
  for (const char* bad : {"0", "2G", "1X", "", "-4", "4KB"})
    EXPECT_THROW(parseBytes(bad, "-e"), ConfigError) << bad;
}

TEST(BenchOptions, BadValuesAreOneLineNamingTheFlag) {
  auto message = [](std::vector<std::string> args) {
    try {
      splitBenchArgs(args);
    } catch (const ConfigError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_EQ(message({"-b", "64", "-e", "8"}), "-b (64 B) is above -e (8 B); give -b <= -e");
  EXPECT_EQ(message({"-f", "1"}), "-f needs a whole number from 2 to 1000000, got '1'");
  EXPECT_EQ(message({"-d", "fp8"}),
            "-d: unknown type 'fp8'; choose from float, half, bfloat16 or all");
  EXPECT_EQ(message({"--backend", "mpi"}),
            "--backend: unknown backend 'mpi'; choose from shm, gloo, hierarchical, nccl");
  EXPECT_EQ(message({"-n"}), "-n needs a value");
  EXPECT_THROW(parseBenchArgs({"--nproc-per-node", "2"}), ConfigError);
}

}  // namespace
// `trainrun bench allreduce --help` prints the benchmark's own flags.
TEST(BenchOptions, HelpIsTheBenchmarksOwn) {
  const std::string bench = allreduceUsage();
  EXPECT_NE(bench.find("-b, --minbytes"), std::string::npos);
  EXPECT_NE(bench.find("--backend"), std::string::npos);
}

}  // namespace trainrun::bench
