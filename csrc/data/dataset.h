// In-memory classification datasets: digits (real handwritten digits) and synthetic.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <string>

#include "config/config.h"

namespace trainrun {

struct Dataset {
  torch::Tensor features;  // (N, F) float32, or (N, T) int64 token windows
  torch::Tensor labels;    // (N,) or (N, T) int64 in [0, num_classes): next tokens for LM
  int64_t num_classes = 0;
  int64_t size() const { return labels.size(0); }
};

struct TrainEvalSplit {
  Dataset train;
  Dataset eval;
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

}  // namespace trainrun
