// data.name=table: splits from files, the task, the classes and the standardization statistics.
#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <iomanip>
#include <set>
#include <sstream>
#include <utility>

#include "core/error.h"
#include "core/strings.h"
#include "data/dataset.h"
#include "data/table_cache.h"
#include "data/table_files.h"
#include "data/table_reader.h"

namespace trainrun {
namespace {

// auto picks classification for whole-number labels with at most this many distinct values.
constexpr size_t kMaxAutoClasses = 20;

// "data.path file 'x.csv' line 7" for row `index` of the concatenated files.
std::string rowName(const TableColumns& t, const std::vector<std::string>& files,
                    const std::string& key, int64_t index) {
  for (size_t f = 0; f < t.file_rows.size(); ++f) {
    if (index < t.file_rows[f]) {
      const bool csv = files[f].find(".parquet") == std::string::npos &&
                       files[f].find(".PARQUET") == std::string::npos;
      return key + " file '" + files[f] + "' " +
             (csv ? "line " + std::to_string(index + 2) : "row " + std::to_string(index + 1));
    }
    index -= t.file_rows[f];
  }
  return key;
}

// A label value as the data wrote it, for messages: "3", "0.5".
std::string labelText(double v) {
  std::ostringstream out;
  out << std::setprecision(15) << v;
  return out.str();
}

bool isWhole(double v) { return std::floor(v) == v && std::fabs(v) < 9.0e15; }

// (N, F) float32 features of `t`: its rows, moved into the tensor (not copied).
torch::Tensor featureTensor(TableColumns& t) {
  const auto width = static_cast<int64_t>(t.feature_names.size());
  auto* rows = new std::vector<float>(std::move(t.features));
  return torch::from_blob(
      rows->data(), {t.rows, width}, [rows](void*) { delete rows; }, torch::kFloat32);
}

// The labels of `t` as targets: class indices into `classes`, or the values for regression.
Dataset toDataset(TableColumns& t, const std::vector<std::string>& files, const std::string& key,
                  Task task, const std::vector<double>& classes) {
  Dataset d;
  d.features = featureTensor(t);
  d.task = task;
  if (task == Task::kRegression) {
    d.labels = torch::empty({t.rows}, torch::kFloat32);
    float* y = d.labels.data_ptr<float>();
    for (int64_t i = 0; i < t.rows; ++i)
      y[i] = static_cast<float>(t.labels[static_cast<size_t>(i)]);
    d.num_classes = 1;
    return d;
  }
  d.labels = torch::empty({t.rows}, torch::kInt64);
  int64_t* y = d.labels.data_ptr<int64_t>();
  for (int64_t i = 0; i < t.rows; ++i) {
    const double v = t.labels[static_cast<size_t>(i)];
    auto it = std::lower_bound(classes.begin(), classes.end(), v);
    if (it == classes.end() || *it != v)
      throw ConfigError(rowName(t, files, key, i) + ": label " + labelText(v) +
                        " is not among the training split's " + std::to_string(classes.size()) +
                        " classes (every class must occur in data.path)");
    y[i] = it - classes.begin();
  }
  d.num_classes = static_cast<int64_t>(classes.size());
  return d;
}

// The mean and the (biased) standard deviation of each column of `x` (N, F) float32, as
// float64: two passes in double over blocks of rows on the intra-op threads, so no float64
// copy of the table is made.
std::pair<torch::Tensor, torch::Tensor> columnMeanStd(const torch::Tensor& x) {
  const torch::Tensor rows = x.contiguous();
  const int64_t n = rows.size(0), width = rows.size(1);
  const float* data = rows.data_ptr<float>();
  // Per-column sums of f(value) over every row, each block of rows summed on its own first.
  auto columnSums = [&](auto&& f) {
    constexpr int64_t kBlock = 16384;
    const int64_t blocks = (n + kBlock - 1) / kBlock;
    std::vector<double> partial(static_cast<size_t>(blocks * width), 0.0);
    at::parallel_for(0, blocks, 1, [&](int64_t first, int64_t last) {
      for (int64_t b = first; b < last; ++b) {
        double* sum = partial.data() + b * width;
        for (int64_t i = b * kBlock; i < std::min(n, (b + 1) * kBlock); ++i)
          for (int64_t j = 0; j < width; ++j) sum[j] += f(data[i * width + j], j);
      }
    });
    torch::Tensor total = torch::zeros({width}, torch::kFloat64);
    double* t = total.data_ptr<double>();
    for (int64_t b = 0; b < blocks; ++b)
      for (int64_t j = 0; j < width; ++j) t[j] += partial[static_cast<size_t>(b * width + j)];
    return total;
  };
  const double count = static_cast<double>(std::max<int64_t>(n, 1));
  const torch::Tensor mean = columnSums([](float v, int64_t) { return double{v}; }) / count;
  const double* m = mean.data_ptr<double>();
  const torch::Tensor var = columnSums([m](float v, int64_t j) {
                              const double d = v - m[j];
                              return d * d;
                            }) /
                            count;
  return {mean, var.sqrt()};
}

// Resolves data.path, validation_path and test_path to local files (fetching remote ones into
// the table cache).
void fetchTableFiles(const config::JobConfig& config, TableInfo& info) {
  const config::DataConfig& d = config.data();
  const std::string endpoint = config.checkpoint().s3_endpoint();
  const std::string cache = tableCacheDir();
  info.fetch_summaries.clear();
  std::string summary;
  auto files = [&](const std::string& path, const std::string& key) {
    std::vector<std::string> f = tableFiles(path, key, endpoint, cache, &summary);
    if (!summary.empty()) info.fetch_summaries.push_back(summary);
    return f;
  };
  info.train_files = files(d.path(), "data.path");
  if (!d.validation_path().empty())
    info.validation_files = files(d.validation_path(), "data.validation_path");
  if (!d.test_path().empty()) info.test_files = files(d.test_path(), "data.test_path");
}

// The task, from data.path's labels (all of them: the held-out part is training data too), and
// for classification the sorted classes (into info.classes too). Records why in info.
Task inferTask(const TableColumns& train, const config::DataConfig& d, TableInfo& info,
               std::vector<double>& classes) {
  std::set<double> distinct;
  int64_t fraction_row = -1;  // the first row whose label is not a whole number
  for (int64_t i = 0; i < train.rows; ++i) {
    const double v = train.labels[static_cast<size_t>(i)];
    if (fraction_row < 0 && !isWhole(v)) fraction_row = i;
    if (distinct.size() <= kMaxAutoClasses || d.task() == "classification") distinct.insert(v);
  }
  Task task = Task::kRegression;
  if (d.task() == "classification") {
    if (fraction_row >= 0)
      throw ConfigError(rowName(train, info.train_files, "data.path", fraction_row) + ": label " +
                        labelText(train.labels[static_cast<size_t>(fraction_row)]) +
                        " is not a whole number, as data.task=classification needs (use "
                        "data.task: regression, or encode the classes as integers)");
    task = Task::kClassification;
    info.task_reason = "data.task";
  } else if (d.task() == "regression") {
    info.task_reason = "data.task";
  } else if (fraction_row >= 0) {
    info.task_reason = "auto: labels are not whole numbers";
  } else if (distinct.size() > kMaxAutoClasses) {
    info.task_reason = "auto: more than " + std::to_string(kMaxAutoClasses) + " distinct labels";
  } else {
    task = Task::kClassification;
    info.task_reason = "auto: " + std::to_string(distinct.size()) + " distinct whole-number labels";
  }
  if (task == Task::kClassification) {
    classes.assign(distinct.begin(), distinct.end());
    if (classes.size() < 2)
      throw ConfigError("data.path: the label column '" + d.label() + "' holds a single value (" +
                        labelText(classes.front()) +
                        "); classification needs at least two classes");
    info.classes =
        torch::from_blob(classes.data(), {static_cast<int64_t>(classes.size())}, torch::kFloat64)
            .clone();
  }
  return task;
}

// Decodes the files `info` lists into the split, the task and the statistics.
TrainEvalSplit decodeTable(const config::JobConfig& config, TableInfo info) {
  const config::DataConfig& d = config.data();
  TableColumns train = readTableFiles(info.train_files, d.label(),
                                      {d.features().begin(), d.features().end()}, "data.path");
  info.feature_names = train.feature_names;  // the other splits read the same columns
  std::optional<TableColumns> validation, test;
  if (!info.validation_files.empty())
    validation = readTableFiles(info.validation_files, d.label(), info.feature_names,
                                "data.validation_path");
  if (!info.test_files.empty())
    test = readTableFiles(info.test_files, d.label(), info.feature_names, "data.test_path");

  std::vector<double> classes;
  const Task task = inferTask(train, d, info, classes);

  TrainEvalSplit split;
  Dataset all = toDataset(train, info.train_files, "data.path", task, classes);
  if (validation) {
    split.train = std::move(all);
    split.eval =
        toDataset(*validation, info.validation_files, "data.validation_path", task, classes);
  } else {
    split = splitTrainEval(all, d.eval_fraction());
  }
  if (test) split.test = toDataset(*test, info.test_files, "data.test_path", task, classes);

  // Standardization from the training rows only; a constant feature keeps its scale (std 1).
  const auto [mean, std] = columnMeanStd(split.train.features);
  info.mean = mean.to(torch::kFloat32);
  info.std = torch::where(std > 0, std, torch::ones_like(std)).to(torch::kFloat32);
  split.table = std::move(info);
  return split;
}

}  // namespace

TrainEvalSplit loadTable(const config::JobConfig& config, const NodeFetchGate& gate) {
  TableInfo info;
  info.label = config.data().label();
  // The node's first rank fetches and decodes into the table cache; every rank (that one too)
  // then maps the decoded file, so the node holds one copy of the rows in its page cache.
  std::string decoded;
  auto fetchAndDecode = [&] {
    fetchTableFiles(config, info);
    decoded = decodedTablePath(config, info);
    if (!std::filesystem::exists(decoded)) writeDecodedTable(decoded, decodeTable(config, info));
  };
  if (gate) {
    gate(fetchAndDecode);
  } else {
    fetchAndDecode();
  }
  TrainEvalSplit split = mapDecodedTable(decoded);
  split.table->label = info.label;
  split.table->train_files = std::move(info.train_files);
  split.table->validation_files = std::move(info.validation_files);
  split.table->test_files = std::move(info.test_files);
  split.table->fetch_summaries = std::move(info.fetch_summaries);
  return split;
}

}  // namespace trainrun
