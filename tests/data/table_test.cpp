// Tables: CSV, gzip CSV and Parquet (written by Arrow here), bad cells, missing columns,
// folders, the task choice, the classes and standardization from the training split only.
#include <gtest/gtest.h>
#include <zlib.h>

#include <filesystem>
#include <fstream>

#include "config/config.h"
#include "core/error.h"
#include "data/dataset.h"
#include "data/table_files.h"
#include "data/table_reader.h"
#include "parquet_fixture.h"
#include "support/temp_dir.h"

namespace trainrun {
namespace {
namespace fs = std::filesystem;

class TableTest : public ::testing::Test {
 protected:
  std::string path(const std::string& name) const { return (dir_ / name).string(); }

  std::string writeCsv(const std::string& name, const std::string& text) const {
    fs::create_directories(fs::path(path(name)).parent_path());
    std::ofstream(path(name)) << text;
    return path(name);
  }

  std::string writeGz(const std::string& name, const std::string& text) const {
    gzFile f = gzopen(path(name).c_str(), "wb");
    gzwrite(f, text.data(), static_cast<unsigned>(text.size()));
    gzclose(f);
    return path(name);
  }

  // Columns x (double), n (int64) and y (int64) as Parquet.
  std::string writeParquet(const std::string& name, const std::vector<double>& x,
                           const std::vector<int64_t>& n, const std::vector<int64_t>& y) const {
    testing::writeParquet(path(name), {{"x", x}}, {{"n", n}, {"y", y}});
    return path(name);
  }

  // The one-line error of reading `files`, or "" when it succeeds.
  static std::string errorOf(const std::vector<std::string>& files, const std::string& label,
                             const std::vector<std::string>& features = {}) {
    try {
      readTableFiles(files, label, features, "data.path");
    } catch (const ConfigError& e) {
      return e.what();
    }
    return "";
  }

  config::JobConfig tableConfig(const std::string& train, const std::string& validation = "",
                                const std::string& task = "auto") const {
    std::vector<std::string> sets{"data.name=table", "data.label=y", "data.path=" + train,
                                  "data.task=" + task};
    if (!validation.empty()) sets.push_back("data.validation_path=" + validation);
    return config::parseJobConfig("", sets, "test");
  }

  testing::TempDir tmp_;
  const fs::path dir_ = tmp_.path();
};

TEST_F(TableTest, CsvColumnsByNameWithDefaultFeatures) {
  const std::string f = writeCsv("a.csv", "b,y,a\n1.5,0,2\n-3,1,4e2\n");
  TableColumns t = readTableFiles({f}, "y", {}, "data.path");
  EXPECT_EQ(t.feature_names, (std::vector<std::string>{"b", "a"}));
  EXPECT_EQ(t.rows, 2);
  EXPECT_EQ(t.features, (std::vector<float>{1.5f, 2.0f, -3.0f, 400.0f}));
  EXPECT_EQ(t.labels, (std::vector<double>{0, 1}));
  // An explicit feature list picks and orders the columns.
  t = readTableFiles({f}, "y", {"a"}, "data.path");
  EXPECT_EQ(t.features, (std::vector<float>{2.0f, 400.0f}));
}

TEST_F(TableTest, GzipCsvAndParquetReadTheSameAsCsv) {
  const std::string text = "x,n,y\n0.5,3,1\n2.25,-1,0\n";
  const TableColumns csv = readTableFiles({writeCsv("t.csv", text)}, "y", {}, "data.path");
  const TableColumns gz = readTableFiles({writeGz("t.csv.gz", text)}, "y", {}, "data.path");
  const TableColumns pq = readTableFiles({writeParquet("t.parquet", {0.5, 2.25}, {3, -1}, {1, 0})},
                                         "y", {}, "data.path");
  for (const TableColumns* t : {&gz, &pq}) {
    EXPECT_EQ(t->feature_names, csv.feature_names);
    EXPECT_EQ(t->features, csv.features);
    EXPECT_EQ(t->labels, csv.labels);
  }
  // Files concatenate in the order given, CSV and Parquet alike.
  const TableColumns both =
      readTableFiles({path("t.csv"), path("t.parquet")}, "y", {}, "data.path");
  EXPECT_EQ(both.rows, 4);
  EXPECT_EQ(both.file_rows, (std::vector<int64_t>{2, 2}));
}

TEST_F(TableTest, BadCellIsOneLineNamingFileLineAndColumn) {
  const std::string f = writeCsv("bad.csv", "a,b,y\n1,2,0\n3,abc,1\n");
  const std::string e = errorOf({f}, "y");
  EXPECT_EQ(e, "data.path file '" + f +
                   "' line 3, column 'b': 'abc' is not a finite number (feature columns must be "
                   "numeric: fix the data, or leave 'b' out of data.features)");
  EXPECT_EQ(e.find('\n'), std::string::npos);
  // Leaving the column out reads the file.
  EXPECT_EQ(errorOf({f}, "y", {"a"}), "");
}

TEST_F(TableTest, EmptyCellsAndBadLabelsAreNamed) {
  const std::string empty = writeCsv("empty.csv", "a,b,y\n1,2,0\n3,,1\n");
  EXPECT_NE(errorOf({empty}, "y").find("line 3, column 'b': empty cell"), std::string::npos)
      << errorOf({empty}, "y");
  const std::string text_label = writeCsv("label.csv", "a,y\n1,cat\n2,dog\n");
  EXPECT_NE(errorOf({text_label}, "y")
                .find("line 2, column 'y': 'cat' is not a finite number "
                      "(labels must be numbers"),
            std::string::npos)
      << errorOf({text_label}, "y");
  const std::string nan = writeCsv("nan.csv", "a,y\n1,0\nnan,1\n");
  EXPECT_NE(errorOf({nan}, "y").find("line 3, column 'a'"), std::string::npos)
      << errorOf({nan}, "y");
}

TEST_F(TableTest, MissingColumnsNameTheFileAndTheFix) {
  const std::string f = writeCsv("a.csv", "a,label,c\n1,0,2\n");
  EXPECT_EQ(errorOf({f}, "lable"),
            "data.path file '" + f +
                "' has no label column 'lable' (its columns: a, label, c; fix data.label); did "
                "you mean 'label'?");
  // The second file lacks a feature the first one has.
  const std::string g = writeCsv("b.csv", "a,label\n1,0\n");
  EXPECT_NE(errorOf({f, g}, "label").find("file '" + g + "' has no feature column 'c'"),
            std::string::npos);
  EXPECT_NE(errorOf({writeCsv("only.csv", "y\n1\n")}, "y").find("no column besides the label"),
            std::string::npos);
}

TEST_F(TableTest, FoldersListTableFilesInNameOrderSkippingSideFiles) {
  writeCsv("d/b.csv", "x,y\n1,0\n");
  writeCsv("d/a.csv", "x,y\n2,1\n");
  writeCsv("d/sub/c.csv", "x,y\n3,1\n");
  writeCsv("d/_SUCCESS", "");
  writeCsv("d/.a.csv.crc", "junk");
  writeCsv("d/_tmp/z.csv", "junk");
  writeCsv("d/notes.txt", "junk");
  EXPECT_EQ(tableFiles(path("d"), "data.path", "", ""),
            (std::vector<std::string>{path("d/a.csv"), path("d/b.csv"), path("d/sub/c.csv")}));
  EXPECT_EQ(tableFiles(path("d/b.csv"), "data.path", "", ""),
            (std::vector<std::string>{path("d/b.csv")}));
  writeCsv("none/readme.md", "x");
  try {
    tableFiles(path("none"), "data.validation_path", "", "");
    FAIL() << "a folder without table files was accepted";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("holds no .csv, .csv.gz or .parquet files"),
              std::string::npos);
  }
}

TEST_F(TableTest, StandardizationComesFromTheTrainingSplitOnly) {
  // Training x: 1, 2, 3, 4 (mean 2.5, population std sqrt(1.25)); validation far away.
  const std::string train = writeCsv("train.csv", "x,c,y\n1,7,0\n2,7,1\n3,7,0\n4,7,1\n");
  const std::string val = writeCsv("val.csv", "x,c,y\n100,0,1\n200,0,0\n");
  TrainEvalSplit s = loadTable(tableConfig(train, val));
  ASSERT_TRUE(s.table.has_value());
  EXPECT_EQ(s.table->feature_names, (std::vector<std::string>{"x", "c"}));
  EXPECT_FLOAT_EQ(s.table->mean[0].item<float>(), 2.5f);
  EXPECT_FLOAT_EQ(s.table->std[0].item<float>(), std::sqrt(1.25f));
  EXPECT_FLOAT_EQ(s.table->mean[1].item<float>(), 7.0f);
  EXPECT_FLOAT_EQ(s.table->std[1].item<float>(), 1.0f);  // constant: scale kept
  // Splits hold raw features: the model standardizes them.
  EXPECT_FLOAT_EQ(s.eval.features[1][0].item<float>(), 200.0f);
  EXPECT_EQ(s.train.size(), 4);
  EXPECT_EQ(s.eval.size(), 2);
}

TEST_F(TableTest, HeldOutSplitStatisticsExcludeTheHeldOutRows) {
  std::string text = "x,y\n";
  for (int i = 0; i < 50; ++i) text += std::to_string(i * i) + "," + std::to_string(i % 2) + "\n";
  TrainEvalSplit s = loadTable(tableConfig(writeCsv("all.csv", text)));
  const torch::Tensor x = s.train.features.select(1, 0).to(torch::kFloat64);
  EXPECT_EQ(s.train.size() + s.eval.size(), 50);
  EXPECT_NEAR(s.table->mean[0].item<float>(), x.mean().item<double>(), 1e-3);
  EXPECT_NEAR(s.table->std[0].item<float>(), x.std(/*unbiased=*/false).item<double>(), 1e-3);
  const torch::Tensor all = torch::cat({s.train.features, s.eval.features}).select(1, 0);
  EXPECT_GT(std::abs(all.mean().item<double>() - x.mean().item<double>()), 1e-3);
}

TEST_F(TableTest, TaskAutoClassesAndRegression) {
  const std::string cls = writeCsv("cls.csv", "x,y\n1,5\n2,-1\n3,5\n4,9\n");
  TrainEvalSplit c = loadTable(tableConfig(cls, cls));
  EXPECT_EQ(c.train.task, Task::kClassification);
  EXPECT_EQ(c.train.num_classes, 3);
  EXPECT_TRUE(torch::equal(c.table->classes, torch::tensor({-1.0, 5.0, 9.0}, torch::kFloat64)));
  EXPECT_TRUE(torch::equal(c.train.labels, torch::tensor({1, 0, 1, 2}, torch::kInt64)));
  EXPECT_EQ(c.table->task_reason, "auto: 3 distinct whole-number labels");

  const std::string reg = writeCsv("reg.csv", "x,y\n1,0.5\n2,1.5\n3,2\n");
  TrainEvalSplit r = loadTable(tableConfig(reg, reg));
  EXPECT_EQ(r.train.task, Task::kRegression);
  EXPECT_EQ(r.train.num_classes, 1);
  EXPECT_EQ(r.train.labels.scalar_type(), torch::kFloat32);
  EXPECT_FALSE(r.table->classes.defined());
  // Whole numbers asked to be a regression are one.
  EXPECT_EQ(loadTable(tableConfig(cls, cls, "regression")).train.task, Task::kRegression);
  try {
    loadTable(tableConfig(reg, reg, "classification"));
    FAIL() << "fractional labels were accepted as classes";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("line 2: label 0.5 is not a whole number"),
              std::string::npos)
        << e.what();
  }
}

TEST_F(TableTest, ValidationLabelOutsideTheTrainingClassesIsNamed) {
  const std::string train = writeCsv("train.csv", "x,y\n1,0\n2,1\n");
  const std::string val = writeCsv("val.csv", "x,y\n1,0\n2,3\n");
  try {
    loadTable(tableConfig(train, val));
    FAIL() << "an unseen class was accepted";
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()),
              "data.validation_path file '" + val +
                  "' line 3: label 3 is not among the training split's 2 classes (every class "
                  "must occur in data.path)");
  }
}

TEST(EtagMatches, SinglePartAndMultipartMd5s) {
  const std::string text = "hello world";
  const auto* bytes = reinterpret_cast<const unsigned char*>(text.data());
  // MD5("hello world"), as S3 sends it for a single-part upload.
  EXPECT_TRUE(etagMatches(bytes, text.size(), "\"5eb63bbbe01eeed093cb22bb8f5acdc3\"", 0));
  EXPECT_FALSE(etagMatches(bytes, text.size() - 1, "\"5eb63bbbe01eeed093cb22bb8f5acdc3\"", 0));
  // Parts of 5 bytes ("hello", " worl", "d"): MD5 of the three MD5s, then the part count.
  const std::string multipart = "\"df349a9519959b17a605009540f4b31d-3\"";
  EXPECT_TRUE(etagMatches(bytes, text.size(), multipart, 5));
  EXPECT_FALSE(etagMatches(bytes, text.size(), multipart, 4));  // other parts, other MD5s
  EXPECT_FALSE(etagMatches(bytes, text.size(), multipart, 0));  // part size unknown
  std::string changed = text;
  changed[7] = 'X';
  EXPECT_FALSE(etagMatches(reinterpret_cast<const unsigned char*>(changed.data()), changed.size(),
                           multipart, 5));
}

}  // namespace
}  // namespace trainrun
