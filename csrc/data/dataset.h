// In-memory datasets: digits, synthetic, tables (data/table.cpp) and token windows.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "config/config.h"

namespace trainrun {

enum class Task { kClassification, kRegression };

struct Dataset {
  torch::Tensor features;  // (N, F) float32, or (N, T) int32 token windows; on the host
  // (N,) int64, or (N, T) int32 next tokens, in [0, num_classes); regression: (N,) float32
  torch::Tensor labels;
  int64_t num_classes = 0;  // the model's outputs: 1 for regression
  Task task = Task::kClassification;
  int64_t size() const { return labels.defined() ? labels.size(0) : 0; }
};

// What a model trained on a table keeps to take raw rows and name its outputs.
struct TableInfo {
  std::string label;
  std::vector<std::string> feature_names;
  torch::Tensor mean, std;  // (F,) float32: standardization, from the training split only
  torch::Tensor classes;    // (C,) float64 label values of classes 0..C-1; undefined: regression
  std::string task_reason;  // how the task was chosen, for the start-up log
  // Local files read per split (S3 objects: their cached copies), and S3 fetch summaries.
  std::vector<std::string> train_files, validation_files, test_files;
  std::vector<std::string> fetch_summaries;
};

class TokenCorpus;  // data/token_corpus.h

struct TrainEvalSplit {
  Dataset train;
  Dataset eval;
  Dataset test;                    // empty (size() 0) unless the data has a test split
  std::optional<TableInfo> table;  // data.name=table
  // data.name=tokens: the training shards, streamed; `train` then holds only their first
  // window (the model's input shape) and trainSamples() counts the corpus's windows.
  std::shared_ptr<const TokenCorpus> corpus;
  std::shared_ptr<const TokenCorpus> validation_corpus;  // data.validation_path's, if set
};

// Training samples per epoch: the corpus's windows, else train.size().
int64_t trainSamples(const TrainEvalSplit& data);

// Reads the 1,797 8x8 digits from a gzipped CSV (64 pixel values 0..16, then the label),
// scaling pixels to [0, 1]. Throws ConfigError naming the file and line when it is missing
// or malformed.
Dataset loadDigits(const std::string& path);

// Random features with labels from a fixed random linear teacher: learnable, deterministic.
Dataset makeSynthetic(int64_t samples, int64_t features, int64_t classes, uint64_t seed);

// Deterministic split: a fixed-seed permutation, the last eval_fraction held out. Independent
// of train.seed so that every run evaluates on the same samples.
TrainEvalSplit splitTrainEval(const Dataset& data, double eval_fraction);

// Runs `fetch` on this node: the ranks of a node share one download of remote data, so the
// caller runs it on local rank 0 first and on the others once that one has finished (the
// default runs it at once, for one process).
using NodeFetchGate = std::function<void(const std::function<void()>& fetch)>;

// The dataset named by data.name, split.
TrainEvalSplit loadDataset(const config::JobConfig& config, const NodeFetchGate& gate = {});

// data.name=table: the training split from data.path, validation from data.validation_path
// (else the data.eval_fraction split of data.path) and test from data.test_path; the task,
// the classes and the standardization statistics (training split only). Throws ConfigError
// naming the file, row and column of a bad cell.
TrainEvalSplit loadTable(const config::JobConfig& config, const NodeFetchGate& gate = {});

// Rows `index` (b,) of the host tensor `source` (N, ...) as a tensor on `device`: gathered on
// the host (into pinned memory when `device` is a GPU, so the copy does not block the host)
// and copied. Only the batch crosses to the device, never the dataset.
torch::Tensor gatherRows(const torch::Tensor& source, const torch::Tensor& index,
                         const torch::Device& device);

}  // namespace trainrun
