// evaluation.json: model-quality metrics in SageMaker's layout, from gathered predictions.
//
// Each metric is {"value": v, "standard_deviation": s}. `value` is computed on the whole split;
// `standard_deviation` is the bootstrap estimate of its standard error: the standard deviation
// of the metric over kBootstrapResamples resamples (with replacement, the split's size, fixed
// seed) of the split's samples (for language models: of its token windows). Deterministic.
#pragma once

#include <torch/torch.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace trainrun {

inline constexpr int kBootstrapResamples = 100;

using Json = nlohmann::ordered_json;

// Classification. `labels` and `predicted` (N,) class ids in [0, num_classes); `positive_score`
// (N,) the model's probability of class 1, used only when num_classes == 2 (may be undefined
// otherwise). `class_names` names the classes in order (empty: "0", "1", ...).
// num_classes > 2: {"multiclass_classification_metrics": {accuracy, weighted_precision,
// weighted_recall, weighted_f1, confusion_matrix, per_class}}; num_classes == 2:
// {"binary_classification_metrics": {the same, plus precision, recall, f1 of class 1 and auc}}.
// confusion_matrix["actual"]["predicted"] = count; per_class[name] = {precision, recall, f1,
// support}. Weighted means as scikit-learn's average='weighted' (support-weighted, a class never
// predicted has precision 0).
Json classificationMetrics(const torch::Tensor& labels, const torch::Tensor& predicted,
                           const torch::Tensor& positive_score, int64_t num_classes,
                           const std::vector<std::string>& class_names = {});

// Regression: {"regression_metrics": {mse, rmse, mae, r2}} from (N,) predictions and targets.
// r2 = 1 - SSE/SST; with constant targets (SST = 0) it is 1 for exact predictions, else 0.
Json regressionMetrics(const torch::Tensor& predictions, const torch::Tensor& targets);

// Language models: {"language_model_metrics": {loss, perplexity, accuracy, tokens}} from (N,)
// per-window sums of token cross-entropy, correct next-token predictions and token counts.
// loss = mean cross-entropy per token (nats), perplexity = exp(loss), accuracy = next-token.
Json languageModelMetrics(const torch::Tensor& loss_sums, const torch::Tensor& correct,
                          const torch::Tensor& counts);

struct EvaluatedSplit {
  std::string name;     // "validation" or "test"
  int64_t samples = 0;  // rows (token windows for language models)
  Json metrics;         // one of the documents above
};

// The evaluation.json document for the evaluated splits, in order ("validation", then "test"
// when the data has one). The top level holds the last split's metrics (the test split's when
// there is one: what a pipeline's condition step compares), "split" naming it and "samples";
// every split is also under "splits"."<name>", with its "samples", and "standard_deviation"
// says how the standard deviations were computed.
Json evaluationReport(const std::vector<EvaluatedSplit>& splits);

}  // namespace trainrun
