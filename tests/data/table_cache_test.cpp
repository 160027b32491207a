// Decoded tables: written once, mapped back equal, keyed by the inputs, refused when damaged.
#include "data/table_cache.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "support/scoped_env.h"
#include "support/temp_dir.h"

namespace trainrun {
namespace {

using ::testing::HasSubstr;
using testing::ScopedEnv;
using testing::TempDir;

TrainEvalSplit sampleSplit(Task task) {
  TrainEvalSplit s;
  s.train = {torch::randn({7, 3}),
             task == Task::kRegression ? torch::randn({7}) : torch::randint(0, 4, {7}),
             task == Task::kRegression ? 1 : 4, task};
  s.eval = {torch::randn({2, 3}),
            task == Task::kRegression ? torch::randn({2}) : torch::randint(0, 4, {2}),
            s.train.num_classes, task};
  TableInfo info;
  info.feature_names = {"a", "b", "c"};
  info.mean = torch::randn({3});
  info.std = torch::rand({3}) + 1;
  if (task == Task::kClassification) info.classes = torch::tensor({0.0, 1.0, 2.5, 7.0});
  info.task_reason = "auto: 4 distinct whole-number labels";
  s.table = info;
  return s;
}

TEST(TableCache, MapsBackWhatWasWrittenAndSharesNoCopy) {
  TempDir dir;
  for (Task task : {Task::kClassification, Task::kRegression}) {
    const TrainEvalSplit in = sampleSplit(task);
    const std::string path = (dir.path() / "t.trtable").string();
    writeDecodedTable(path, in);
    const TrainEvalSplit out = mapDecodedTable(path);
    EXPECT_TRUE(torch::equal(out.train.features, in.train.features));
    EXPECT_TRUE(torch::equal(out.train.labels, in.train.labels));
    EXPECT_TRUE(torch::equal(out.eval.features, in.eval.features));
    EXPECT_TRUE(torch::equal(out.eval.labels, in.eval.labels));
    EXPECT_FALSE(out.test.features.defined());
    EXPECT_EQ(out.test.size(), 0);
    EXPECT_EQ(out.train.task, task);
    EXPECT_EQ(out.train.num_classes, in.train.num_classes);
    EXPECT_EQ(out.table->feature_names, in.table->feature_names);
    EXPECT_EQ(out.table->task_reason, in.table->task_reason);
    EXPECT_TRUE(torch::equal(out.table->mean, in.table->mean));
    EXPECT_TRUE(torch::equal(out.table->std, in.table->std));
    EXPECT_EQ(out.table->classes.defined(), task == Task::kClassification);
    // Rows live in the mapping, 64-byte aligned, and outlive the call that mapped them.
    EXPECT_EQ(reinterpret_cast<uintptr_t>(out.train.features.data_ptr()) % 64, 0u);
    torch::Tensor kept = out.train.features;
    EXPECT_TRUE(torch::equal(kept, in.train.features));
    // Copy-on-write: a write changes this process's view only, never the file.
    out.eval.features.fill_(0);
    EXPECT_TRUE(torch::equal(mapDecodedTable(path).eval.features, in.eval.features));
  }
}

TEST(TableCache, KeyFollowsTheFilesAndTheSettings) {
  TempDir dir;
  ScopedEnv cache("TRAINRUN_CACHE_DIR", dir.str());
  dir.write("train.csv", "x,y\n1,0\n");
  config::JobConfig c;
  c.mutable_data()->set_label("y");
  TableInfo info;
  info.train_files = {(dir.path() / "train.csv").string()};
  const std::string a = decodedTablePath(c, info);
  EXPECT_THAT(a, HasSubstr("/decoded/"));
  EXPECT_EQ(decodedTablePath(c, info), a);
  c.mutable_data()->set_eval_fraction(0.5);  // another held-out split
  const std::string b = decodedTablePath(c, info);
  EXPECT_NE(b, a);
  c.mutable_data()->add_features("x");
  EXPECT_NE(decodedTablePath(c, info), b);
  c.mutable_data()->clear_features();
  dir.write("train.csv", "x,y\n1,0\n2,1\n");  // new rows: a new key
  EXPECT_NE(decodedTablePath(c, info), b);
}

TEST(TableCache, ADamagedFileIsOneLineNamingTheFix) {
  TempDir dir;
  const std::string path = (dir.path() / "t.trtable").string();
  writeDecodedTable(path, sampleSplit(Task::kClassification));
  std::filesystem::resize_file(path, 100);
  try {
    mapDecodedTable(path);
    FAIL() << "a truncated decoded table maps";
  } catch (const StorageError& e) {
    EXPECT_THAT(e.what(), HasSubstr("decoded table " + path + " is unreadable"));
    EXPECT_THAT(e.what(), HasSubstr("remove it and the next run decodes the table again"));
  }
  std::ofstream(path) << "not a table";
  EXPECT_THROW(mapDecodedTable(path), StorageError);
}

}  // namespace
}  // namespace trainrun
