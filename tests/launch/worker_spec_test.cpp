// Tests of rank specs: torchrun's variables per rank, inherited values, the worker command.
#include "launch/worker_spec.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>

namespace trainrun::launch {
namespace {

// The value of `key` in `env`, or "<unset>"; fails if it appears twice.
std::string var(const std::vector<std::string>& env, const std::string& key) {
  std::string found = "<unset>";
  int count = 0;
  for (const auto& e : env) {
    if (e.compare(0, key.size() + 1, key + "=") == 0) {
      found = e.substr(key.size() + 1);
      ++count;
    }
  }
  EXPECT_LE(count, 1) << key << " set twice";
  return found;
}

TEST(WorkerSpecTest, TorchrunVariablesPerRank) {
  LaunchOptions o;
  o.nproc_per_node = 3;
  o.command = {"sh", "-c", "true"};
  auto specs = makeRankSpecs(o, Endpoint{"10.1.2.3", 4567}, {"PATH=/bin", "RANK=42"});
  ASSERT_EQ(specs.size(), 3u);
  for (int r = 0; r < 3; ++r) {
    const auto& env = specs[r].env;
    EXPECT_EQ(specs[r].rank, r);
    EXPECT_EQ(specs[r].argv, o.command);
    EXPECT_EQ(var(env, "RANK"), std::to_string(r));
    EXPECT_EQ(var(env, "LOCAL_RANK"), std::to_string(r));
    EXPECT_EQ(var(env, "WORLD_SIZE"), "3");
    EXPECT_EQ(var(env, "LOCAL_WORLD_SIZE"), "3");
    EXPECT_EQ(var(env, "GROUP_RANK"), "0");
    EXPECT_EQ(var(env, "MASTER_ADDR"), "10.1.2.3");
    EXPECT_EQ(var(env, "MASTER_PORT"), "4567");
    EXPECT_EQ(var(env, "PATH"), "/bin");
    EXPECT_EQ(var(env, "OMP_NUM_THREADS"), std::to_string(defaultOmpThreads(3)));
  }
}

TEST(WorkerSpecTest, KeepsUserOmpThreads) {
  LaunchOptions o;
  o.command = {"true"};
  auto specs = makeRankSpecs(o, Endpoint{"127.0.0.1", 1}, {"OMP_NUM_THREADS=5"});
  EXPECT_EQ(var(specs[0].env, "OMP_NUM_THREADS"), "5");
  EXPECT_GE(defaultOmpThreads(1 << 20), 1);
}

TEST(WorkerSpecTest, ConfigRunsTheWorkerWithOverrides) {
  ::setenv("TRAINRUN_WORKER", "/opt/w", 1);
  LaunchOptions o;
  o.config_path = "c.yaml";
  o.overrides = {"a=1", "b.c=[2]"};
  auto specs = makeRankSpecs(o, Endpoint{"127.0.0.1", 1}, {});
  EXPECT_EQ(specs[0].argv,
            (std::vector<std::string>{"/opt/w", "c.yaml", "--set", "a=1", "--set", "b.c=[2]"}));
  ::unsetenv("TRAINRUN_WORKER");
  std::string own = workerBinary();
  EXPECT_EQ(own.substr(own.rfind('/')), "/trainrun-worker");
}

}  // namespace
}  // namespace trainrun::launch
