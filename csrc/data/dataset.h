// In-memory classification datasets: digits (real handwritten digits) and synthetic.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <string>

#include "config/config.h"

namespace trainrun {

struct Dataset {
  torch::Tensor features;  // (N, F) float32, or (N, T) int32 token windows; on the host
  torch::Tensor labels;    // (N,) int64, or (N, T) int32 next tokens, in [0, num_classes)
  int64_t num_classes = 0;
  int64_t size() const { return labels.defined() ? labels.size(0) : 0; }
};

struct TrainEvalSplit {
  Dataset train;
  Dataset eval;
  Dataset test;  // empty (size() 0) unless the data has a test split of its own
};

// Reads the 1,797 8x8 digits from a gzipped CSV (64 pixel values 0..16, then the label),
// scaling pixels to [0, 1]. Throws ConfigError naming the file and line when it is missing
// or malformed.
Dataset loadDigits(const std::string& path);

// Random features with labels from a fixed random linear teacher: learnable, deterministic.
Dataset makeSynthetic(int64_t samples, int64_t features, int64_t classes, uint64_t seed);

// Deterministic split: a fixed-seed permutation, the last eval_fraction held out. Independent
// of train.seed so that every run evaluates on the same samples.
TrainEvalSplit splitTrainEval(const Dataset& data, double eval_fraction);

// The dataset named by data.name, split.
TrainEvalSplit loadDataset(const config::JobConfig& config);

// Rows `index` (b,) of the host tensor `source` (N, ...) as a tensor on `device`: gathered on
// the host (into pinned memory when `device` is a GPU, so the copy does not block the host)
// and copied. Only the batch crosses to the device, never the dataset.
torch::Tensor gatherRows(const torch::Tensor& source, const torch::Tensor& index,
                         const torch::Device& device);

}  // namespace trainrun
