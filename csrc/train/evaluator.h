// Evaluation passes: each rank forwards its 1/N slice of a split, every rank gets every row.
#pragma once

#include <torch/torch.h>

#include <string>

#include "amp/precision.h"
#include "data/dataset.h"
#include "distributed/init.h"
#include "metrics/metrics.h"
#include "models/model.h"
#include "pipeline/evaluation.h"

namespace trainrun {

struct EvalResult {
  double loss = 0;      // mean cross-entropy over the eval set; regression: mean squared error
  double accuracy = 0;  // fraction of eval samples classified right; regression: 0
  bool regression = false;
};

// Per-sample results of one evaluation pass over a split, gathered from every rank's slice:
// every rank holds all N rows. For sequence models a sample is a token window.
struct EvalPass {
  torch::Tensor loss_sum;   // (N,) float64: summed cross-entropy of the sample's positions
  torch::Tensor correct;    // (N,) float64: positions predicted right
  torch::Tensor count;      // (N,) float64: positions (1 for classification)
  torch::Tensor predicted;  // (N,) int64: argmax class (classification only, else undefined)
  torch::Tensor score;      // (N,) float64: softmax probability of class 1 (two classes only)
  torch::Tensor value;      // (N,) float64: the prediction (regression only, else undefined)
  bool regression = false;  // loss_sum holds squared errors
  EvalResult summary() const;
};

// One pass of `model` (left in training mode after it) over `data` on `device`, autocast to
// `precision`; the rows are summed across `dist`'s ranks (each fills only its slice).
EvalPass evaluateSplit(Model& model, const Dataset& data, Precision precision, torch::Device device,
                       DistContext& dist);

// A pass as evaluation.json's split `name`: classification, language model or regression
// metrics, by the data's task and label shape.
EvaluatedSplit evaluatedSplit(const std::string& name, const Dataset& data, const EvalPass& pass);

// The eval fields of a log line: eval_loss and accuracy, or for regression eval_mse and
// eval_rmse; `prefix` "test_" names the test split's.
Metrics evalFields(const EvalResult& e, const std::string& prefix);

}  // namespace trainrun
