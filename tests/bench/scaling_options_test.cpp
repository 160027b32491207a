// `bench scaling` / `bench predict` flags: values, and one line for each mistake.
#include "bench/scaling_options.h"

#include <gtest/gtest.h>

#include "bench/scaling_report.h"
#include "core/error.h"

namespace trainrun::bench {
namespace {

std::string errorOf(const std::vector<std::string>& args, bool predict = false) {
  try {
    parseScalingArgs(args, predict);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

TEST(ScalingOptions, ReadsEveryFlag) {
  const ScalingOptions o = parseScalingArgs({"c.yaml",   "--nodes",
                                             "4,1,2",    "--nproc-per-node=2",
                                             "--mode",   "both",
                                             "--steps",  "20",
                                             "--hosts",  "10.0.0.1,10.0.0.2,10.0.0.3,10.0.0.4",
                                             "--remote", "ip netns exec n{node}",
                                             "--sweep",  "dist.compression=none,fp16",
                                             "--set",    "train.seed=3",
                                             "--json",   "o.json",
                                             "--plot",   "o.png",
                                             "--link",   "1gbit,10us"},
                                            false);
  EXPECT_EQ(o.config_path, "c.yaml");
  EXPECT_EQ(o.nodes, (std::vector<int64_t>{1, 2, 4}));
  EXPECT_EQ(o.nproc_per_node, 2);
  EXPECT_EQ(o.modes, (std::vector<std::string>{"weak", "strong"}));
  EXPECT_EQ(o.hosts.size(), 4u);
  EXPECT_EQ(o.sweep_key, "dist.compression");
  EXPECT_EQ(o.sweep_values, (std::vector<std::string>{"none", "fp16"}));
  EXPECT_EQ(o.overrides, (std::vector<std::string>{"train.seed=3"}));
  EXPECT_EQ(o.link, "1gbit,10us");
}

TEST(ScalingOptions, NamesEachMistake) {
  EXPECT_NE(errorOf({"c.yaml", "--node", "1,2"}).find("did you mean --nodes"), std::string::npos);
  EXPECT_NE(errorOf({"c.yaml", "--nodes", "2,4"}).find("start at 1"), std::string::npos);
  EXPECT_NE(errorOf({"c.yaml", "--nodes", "1,x"}).find("--nodes"), std::string::npos);
  EXPECT_NE(errorOf({"c.yaml", "--mode", "fast"}).find("weak, strong or both"), std::string::npos);
  EXPECT_NE(errorOf({"c.yaml", "--nodes", "1,4", "--hosts", "a,b"}).find("one address per node"),
            std::string::npos);
  EXPECT_NE(errorOf({"c.yaml", "--remote", "ssh"}).find("{host}"), std::string::npos);
  EXPECT_NE(errorOf({"c.yaml", "--sweep", "dist.compression"}).find("KEY=V1,V2"),
            std::string::npos);
  EXPECT_NE(errorOf({"c.yaml", "--plot", "x.svg"}).find("PNG"), std::string::npos);
  EXPECT_NE(errorOf({}).find("CONFIG"), std::string::npos);
  EXPECT_NE(errorOf({"c.yaml", "--nodes", "8"}, true).find("--link"), std::string::npos);
  EXPECT_EQ(errorOf({"c.yaml", "--nodes", "8,16", "--link", "1gbit"}, true), "");
}

TEST(ScalingReport, TableHasAUnitsRowAndJsonTheRows) {
  ScalingRow r;
  r.mode = "weak";
  r.nodes = 2;
  r.ranks = 2;
  r.global_batch = 128;
  r.measured = {1, 2, 3, 4, 5, 16};
  r.samples_per_sec = 8000;
  r.efficiency = 0.9;
  Prediction p;
  p.step_ms = 17.6;
  p.efficiency = 0.85;
  r.predicted = p;
  const std::vector<std::string> lines = formatScalingTable({r});
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_NE(lines[1].find("samples/s"), std::string::npos);
  EXPECT_NE(lines[2].find("+10.0"), std::string::npos) << lines[2];  // prediction error, %
  const std::string json = formatScalingJson({r}, "c.yaml", "1 Gbit/s");
  EXPECT_NE(json.find("\"error\": 0.1"), std::string::npos) << json;
}

}  // namespace
}  // namespace trainrun::bench
