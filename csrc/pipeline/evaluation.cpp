// Classification, regression and language-model metrics with bootstrap standard deviations.
#include "pipeline/evaluation.h"

#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <map>

#include "core/error.h"

namespace trainrun {
namespace {

constexpr uint64_t kBootstrapSeed = 0xb007;  // fixed: the same predictions give the same file

// Several named metrics computed from one sample of indices.
using MetricFn = std::function<std::map<std::string, double>(const torch::Tensor& index)>;

// Every metric of `fn` on the whole split (index = 0..n-1) and its bootstrap standard deviation.
std::map<std::string, std::pair<double, double>> withBootstrap(int64_t n, const MetricFn& fn) {
  std::map<std::string, std::pair<double, double>> out;
  const std::map<std::string, double> whole = fn(torch::arange(n, torch::kLong));
  std::map<std::string, std::vector<double>> draws;
  auto gen = at::detail::createCPUGenerator(kBootstrapSeed);
  for (int b = 0; b < kBootstrapResamples && n > 1; ++b) {
    torch::Tensor index = at::randint(n, {n}, gen, torch::kLong);  // (n,) with replacement
    for (const auto& [name, v] : fn(index)) draws[name].push_back(v);
  }
  for (const auto& [name, v] : whole) {
    double sd = 0;
    const std::vector<double>& d = draws[name];
    // Resamples where a metric is undefined (AUC with one class drawn) do not count.
    double sum = 0, sq = 0, k = 0;
    for (double x : d)
      if (std::isfinite(x)) sum += x, sq += x * x, ++k;
    if (k > 1) sd = std::sqrt(std::max(0.0, (sq - sum * sum / k) / (k - 1)));
    out[name] = {v, sd};
  }
  return out;
}

Json valueJson(double value, double sd) {
  Json j;
  // JSON has no NaN: an undefined metric (AUC of a split with one class) is null.
  j["value"] = std::isfinite(value) ? Json(value) : Json(nullptr);
  j["standard_deviation"] = sd;
  return j;
}

// Rank-sum AUC (Mann-Whitney U) with average ranks for tied scores; NaN with one class only.
double auc(const torch::Tensor& positive, const torch::Tensor& score) {
  const int64_t n = score.size(0);
  const double n_pos = positive.sum().item<double>();
  const double n_neg = double(n) - n_pos;
  if (n_pos == 0 || n_neg == 0) return std::nan("");
  auto [sorted, order] = score.sort();
  auto [unique, inverse, counts] =
      torch::unique_consecutive(sorted, /*return_inverse=*/true, /*return_counts=*/true);
  torch::Tensor c = counts.to(torch::kDouble);
  torch::Tensor first = c.cumsum(0) - c + 1;           // 1-based rank of each tie group
  torch::Tensor avg = first + (c - 1) / 2;             // its average rank
  torch::Tensor ranks = avg.index_select(0, inverse);  // (n,) in sorted order
  torch::Tensor pos_sorted = positive.index_select(0, order).to(torch::kDouble);
  const double rank_sum = (ranks * pos_sorted).sum().item<double>();
  return (rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg);
}

void checkSameLength(const torch::Tensor& a, const torch::Tensor& b, const char* what) {
  if (a.dim() != 1 || b.dim() != 1 || a.size(0) != b.size(0) || a.size(0) == 0)
    throw Error(std::string(what) + ": expected two non-empty (N,) tensors of the same length");
}

}  // namespace

Json classificationMetrics(const torch::Tensor& labels_in, const torch::Tensor& predicted_in,
                           const torch::Tensor& positive_score, int64_t num_classes,
                           const std::vector<std::string>& class_names) {
  checkSameLength(labels_in, predicted_in, "classificationMetrics");
  const int64_t C = num_classes;
  const bool binary = C == 2;
  const torch::Tensor labels = labels_in.to(torch::kCPU, torch::kLong);
  const torch::Tensor predicted = predicted_in.to(torch::kCPU, torch::kLong);
  const torch::Tensor score =
      binary ? positive_score.to(torch::kCPU, torch::kDouble) : torch::Tensor();
  auto name = [&](int64_t c) {
    return c < int64_t(class_names.size()) ? class_names[c] : std::to_string(c);
  };
  auto confusion = [&](const torch::Tensor& idx) {  // (C, C) actual x predicted, as doubles
    return torch::bincount(labels.index_select(0, idx) * C + predicted.index_select(0, idx), {},
                           C * C)
        .reshape({C, C})
        .to(torch::kDouble);
  };
  MetricFn fn = [&](const torch::Tensor& idx) {
    const torch::Tensor cm = confusion(idx);
    const double n = double(idx.size(0));
    const torch::Tensor tp = cm.diagonal();
    const torch::Tensor support = cm.sum(1), predicted_count = cm.sum(0);
    // zero_division=0, as scikit-learn's default reports it.
    const torch::Tensor precision = torch::where(predicted_count > 0, tp / predicted_count, 0.0);
    const torch::Tensor recall = torch::where(support > 0, tp / support, 0.0);
    const torch::Tensor pr = precision + recall;
    const torch::Tensor f1 = torch::where(pr > 0, 2 * precision * recall / pr, 0.0);
    std::map<std::string, double> m{
        {"accuracy", tp.sum().item<double>() / n},
        {"weighted_precision", (precision * support).sum().item<double>() / n},
        {"weighted_recall", (recall * support).sum().item<double>() / n},
        {"weighted_f1", (f1 * support).sum().item<double>() / n}};
    for (int64_t c = 0; c < C; ++c) {
      m["class." + std::to_string(c) + ".precision"] = precision[c].item<double>();
      m["class." + std::to_string(c) + ".recall"] = recall[c].item<double>();
      m["class." + std::to_string(c) + ".f1"] = f1[c].item<double>();
    }
    if (binary) m["auc"] = auc(labels.index_select(0, idx).eq(1), score.index_select(0, idx));
    return m;
  };
  const auto metrics = withBootstrap(labels.size(0), fn);
  auto metric = [&](const std::string& key) {
    const auto& [v, sd] = metrics.at(key);
    return valueJson(v, sd);
  };
  Json body;
  body["accuracy"] = metric("accuracy");
  if (binary) {  // of the positive class (1), as SageMaker's binary layout
    body["precision"] = metric("class.1.precision");
    body["recall"] = metric("class.1.recall");
    body["f1"] = metric("class.1.f1");
    body["auc"] = metric("auc");
  }
  for (const char* key : {"weighted_precision", "weighted_recall", "weighted_f1"})
    body[key] = metric(key);
  const torch::Tensor cm = confusion(torch::arange(labels.size(0), torch::kLong));
  Json matrix = Json::object();
  for (int64_t a = 0; a < C; ++a) {
    Json row = Json::object();
    for (int64_t p = 0; p < C; ++p) row[name(p)] = int64_t(cm[a][p].item<double>());
    matrix[name(a)] = row;
  }
  body["confusion_matrix"] = matrix;
  Json per_class = Json::object();
  for (int64_t c = 0; c < C; ++c) {
    const std::string k = "class." + std::to_string(c) + ".";
    per_class[name(c)] = {{"precision", metric(k + "precision")},
                          {"recall", metric(k + "recall")},
                          {"f1", metric(k + "f1")},
                          {"support", int64_t(cm[c].sum().item<double>())}};
  }
  body["per_class"] = per_class;
  Json out;
  out[binary ? "binary_classification_metrics" : "multiclass_classification_metrics"] = body;
  return out;
}

Json regressionMetrics(const torch::Tensor& predictions_in, const torch::Tensor& targets_in) {
  checkSameLength(predictions_in, targets_in, "regressionMetrics");
  const torch::Tensor pred = predictions_in.to(torch::kCPU, torch::kDouble);
  const torch::Tensor target = targets_in.to(torch::kCPU, torch::kDouble);
  MetricFn fn = [&](const torch::Tensor& idx) {
    const torch::Tensor p = pred.index_select(0, idx), t = target.index_select(0, idx);
    const torch::Tensor err = p - t;
    const double sse = err.square().sum().item<double>();
    const double sst = (t - t.mean()).square().sum().item<double>();
    const double mse = sse / double(idx.size(0));
    double r2 = sst > 0 ? 1 - sse / sst : (sse == 0 ? 1.0 : 0.0);
    return std::map<std::string, double>{{"mse", mse},
                                         {"rmse", std::sqrt(mse)},
                                         {"mae", err.abs().mean().item<double>()},
                                         {"r2", r2}};
  };
  const auto metrics = withBootstrap(pred.size(0), fn);
  Json body;
  for (const char* key : {"mse", "rmse", "mae", "r2"})
    body[key] = valueJson(metrics.at(key).first, metrics.at(key).second);
  Json out;
  out["regression_metrics"] = body;
  return out;
}

Json languageModelMetrics(const torch::Tensor& loss_sums_in, const torch::Tensor& correct_in,
                          const torch::Tensor& counts_in) {
  checkSameLength(loss_sums_in, counts_in, "languageModelMetrics");
  checkSameLength(correct_in, counts_in, "languageModelMetrics");
  const torch::Tensor loss = loss_sums_in.to(torch::kCPU, torch::kDouble);
  const torch::Tensor correct = correct_in.to(torch::kCPU, torch::kDouble);
  const torch::Tensor counts = counts_in.to(torch::kCPU, torch::kDouble);
  MetricFn fn = [&](const torch::Tensor& idx) {
    const double tokens = counts.index_select(0, idx).sum().item<double>();
    const double mean = loss.index_select(0, idx).sum().item<double>() / tokens;
    return std::map<std::string, double>{
        {"loss", mean},
        {"perplexity", std::exp(mean)},
        {"accuracy", correct.index_select(0, idx).sum().item<double>() / tokens}};
  };
  const auto metrics = withBootstrap(loss.size(0), fn);
  Json body;
  for (const char* key : {"loss", "perplexity", "accuracy"})
    body[key] = valueJson(metrics.at(key).first, metrics.at(key).second);
  body["tokens"] = int64_t(counts.sum().item<double>());
  Json out;
  out["language_model_metrics"] = body;
  return out;
}

Json evaluationReport(const std::vector<EvaluatedSplit>& splits) {
  if (splits.empty()) throw Error("evaluationReport: no split was evaluated");
  const EvaluatedSplit& primary = splits.back();
  Json out = primary.metrics;
  out["split"] = primary.name;
  out["samples"] = primary.samples;
  out["standard_deviation"] = "bootstrap: standard deviation of each metric over " +
                              std::to_string(kBootstrapResamples) +
                              " resamples of the split's samples with replacement";
  Json all = Json::object();
  for (const EvaluatedSplit& s : splits) {
    Json one = s.metrics;
    one["samples"] = s.samples;
    all[s.name] = one;
  }
  out["splits"] = all;
  return out;
}

}  // namespace trainrun
