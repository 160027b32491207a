// Log lines in plain decimal, metrics.json, and the metrics.jsonl history across a resume.
#include "metrics/metrics.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/file.h"
#include "support/temp_dir.h"

namespace trainrun {
namespace {

TEST(PlainDecimal, NeverAnExponent) {
  EXPECT_EQ(plainDecimal(6e-05), "0.00006");
  EXPECT_EQ(plainDecimal(1.234567e-7), "0.000000123457");
  EXPECT_EQ(plainDecimal(19521.84), "19521.8");
  EXPECT_EQ(plainDecimal(2.0), "2");
  EXPECT_EQ(plainDecimal(0.0), "0");
  EXPECT_EQ(plainDecimal(-0.5), "-0.5");
  EXPECT_EQ(plainDecimal(1e20), "100000000000000000000");
  EXPECT_EQ(plainDecimal(9.9999996), "10");
  EXPECT_EQ(plainDecimal(0.1), "0.1");
  EXPECT_EQ(plainDecimal(std::nan("")), "nan");
  EXPECT_EQ(plainDecimal(-1.0 / 0.0), "-inf");
  for (double v : {3e-30, 7.5e-12, 1.5e15, 123.456789}) {
    const std::string s = plainDecimal(v);
    EXPECT_EQ(s.find_first_of("eE"), std::string::npos) << s;
    EXPECT_NEAR(std::stod(s), v, 1e-5 * v) << s;
  }
}

TEST(FormatLogLine, KeysInOrderWithPlainDecimals) {
  EXPECT_EQ(formatLogLine({{"step", std::string("10/100")},
                           {"train_loss", 0.4321},
                           {"lr", 6e-05},
                           {"epoch", int64_t{3}}}),
            "step=10/100 train_loss=0.4321 lr=0.00006 epoch=3");
}

// A path in this test program's scratch folder (removed at exit).
std::string tempPath(const std::string& name) {
  static const testing::TempDir scratch("metrics_test");
  return (scratch.path() / name).string();
}

std::vector<nlohmann::json> readLines(const std::string& path) {
  std::vector<nlohmann::json> out;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) out.push_back(nlohmann::json::parse(line));
  return out;
}

TEST(MetricsHistory, AppendsOneObjectPerLineAndDropsStepsAfterTheResume) {
  const std::string path = tempPath("history.jsonl");
  {
    MetricsHistory h(path, 0);
    for (int64_t step : {10, 20, 30}) h.append({{"step", step}, {"train_loss", 1.0 / step}});
    h.append({{"step", int64_t{30}}, {"eval_loss", std::nan("")}});
  }
  auto lines = readLines(path);
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_EQ(lines[1]["step"], 20);
  EXPECT_DOUBLE_EQ(lines[1]["train_loss"].get<double>(), 0.05);
  EXPECT_TRUE(lines[3]["eval_loss"].is_null());  // JSON has no NaN
  {
    MetricsHistory h(path, 20);  // resumed from step 20: step 30 is trained again
    h.append({{"step", int64_t{30}}, {"train_loss", 0.5}});
  }
  lines = readLines(path);
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[2]["step"], 30);
  EXPECT_EQ(lines[2]["train_loss"], 0.5);
  { MetricsHistory fresh(path, 0); }  // a fresh start begins an empty history
  EXPECT_TRUE(readLines(path).empty());
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace trainrun
