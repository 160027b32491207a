// Datasets: the digits reader (real file and malformed inputs), synthetic data, the split.
#include "data/dataset.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include <filesystem>

#include "core/error.h"
#include "support/temp_dir.h"

namespace trainrun {
namespace {

std::string writeGz(const std::string& name, const std::string& text) {
  static const testing::TempDir scratch("dataset_test");  // removed at exit
  std::string path = (scratch.path() / name).string();
  gzFile f = gzopen(path.c_str(), "wb");
  gzwrite(f, text.data(), static_cast<unsigned>(text.size()));
  gzclose(f);
  return path;
}

std::string digitsRow(int label) {
  std::string row;
  for (int i = 0; i < 64; ++i) row += std::to_string(i % 17) + ",";
  return row + std::to_string(label) + "\n";
}

TEST(Digits, ParsesRowsAndScalesPixels) {
  std::string path = writeGz("trainrun_digits_ok.csv.gz", digitsRow(3) + digitsRow(9));
  Dataset d = loadDigits(path);
  EXPECT_EQ(d.size(), 2);
  EXPECT_EQ(d.features.size(1), 64);
  EXPECT_EQ(d.labels[1].item<int64_t>(), 9);
  EXPECT_FLOAT_EQ(d.features[0][16].item<float>(), 1.0f);  // 16 / 16
  EXPECT_EQ(d.num_classes, 10);
}

TEST(Digits, RealFileHas1797Samples) {
  // This file is tests/data/dataset_test.cpp; the data lives in <repo>/data.
  const auto repo = std::filesystem::path(__FILE__).parent_path().parent_path().parent_path();
  const std::string path = (repo / "data" / "digits.csv.gz").string();
  if (!std::filesystem::exists(path)) GTEST_SKIP() << "run scripts/setup.sh to fetch " << path;
  Dataset d = loadDigits(path);
  EXPECT_EQ(d.size(), 1797);
  EXPECT_EQ(d.labels.min().item<int64_t>(), 0);
  EXPECT_EQ(d.labels.max().item<int64_t>(), 9);
  EXPECT_LE(d.features.max().item<float>(), 1.0f);
}

TEST(Digits, MissingAndMalformedFilesAreConfigErrors) {
  EXPECT_THROW(loadDigits("/nonexistent/digits.csv.gz"), ConfigError);
  std::string bad = writeGz("trainrun_digits_bad.csv.gz", digitsRow(1) + "1,2,x\n");
  try {
    loadDigits(bad);
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find(":2:"), std::string::npos) << e.what();
  }
}

TEST(Split, DeterministicAndDisjoint) {
  Dataset d = makeSynthetic(200, 5, 3, 1);
  TrainEvalSplit a = splitTrainEval(d, 0.25), b = splitTrainEval(d, 0.25);
  EXPECT_EQ(a.eval.size(), 50);
  EXPECT_EQ(a.train.size(), 150);
  EXPECT_TRUE(a.eval.features.equal(b.eval.features));
  EXPECT_EQ(d.labels.max().item<int64_t>(), 2);
}

TEST(GatherRows, TakesTheIndexedRowsWhateverTheIndexDtype) {
  torch::Tensor source = torch::arange(12, torch::kInt).view({4, 3});  // (N, T) token windows
  torch::Tensor index = torch::tensor({3, 0, 3}, torch::kInt);         // a sampler's (b,)
  torch::Tensor rows = gatherRows(source, index, torch::kCPU);
  EXPECT_EQ(rows.sizes(), (std::vector<int64_t>{3, 3}));
  EXPECT_EQ(rows.scalar_type(), torch::kInt);
  EXPECT_TRUE(torch::equal(rows, source.index_select(0, index.to(torch::kLong))));
}

}  // namespace
}  // namespace trainrun
