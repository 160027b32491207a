// Evaluation passes and the metrics evaluation.json and the log lines take from them.
#include "train/evaluator.h"

#include <algorithm>
#include <cmath>

#include "amp/autocast.h"

namespace trainrun {

EvalResult EvalPass::summary() const {
  const double total = count.sum().item<double>();  // samples, or tokens for sequence models
  return {loss_sum.sum().item<double>() / total, correct.sum().item<double>() / total, regression};
}

EvalPass evaluateSplit(Model& model, const Dataset& data, Precision precision, torch::Device device,
                       DistContext& dist) {
  torch::NoGradGuard no_grad;
  model.eval();  // dropout off, batch-norm statistics frozen (modules from Python have them)
  const bool regression = data.task == Task::kRegression;
  const int64_t n = data.size();
  const int64_t begin = n * dist.rank / dist.world_size;
  const int64_t end = n * (dist.rank + 1) / dist.world_size;
  const bool sequences = data.labels.dim() > 1;
  const bool binary = !sequences && data.num_classes == 2;
  // About 4096 positions per forward: 4096 samples for the MLP, 4 windows of 1024 tokens for
  // a GPT (whose (chunk, T, vocab) logits dominate memory).
  const int64_t row = std::max<int64_t>(1, data.features[0].numel());
  const int64_t kChunk = std::max<int64_t>(1, 4096 / row);
  // (N, 5): loss_sum, correct, count, predicted, score. Each rank fills its rows and leaves the
  // others zero, so one sum across ranks gathers every row exactly (x + 0 == x).
  torch::Tensor rows = torch::zeros({n, 5}, torch::kFloat64);
  for (int64_t i = begin; i < end; i += kChunk) {
    const int64_t len = std::min(kChunk, end - i);
    torch::Tensor logits;
    {
      AutocastGuard autocast(precision, device.type());
      logits = model.forward(data.features.narrow(0, i, len).to(device));  // (len, ..., C)
    }
    if (regression) {  // one output: the prediction; loss_sum holds the squared error
      torch::Tensor pred = logits.reshape({-1}).to(torch::kFloat);                // (len,)
      torch::Tensor y = data.labels.narrow(0, i, len).to(device, torch::kFloat);  // (len,)
      torch::Tensor block = rows.narrow(0, i, len);
      block.select(1, 0).copy_((pred - y).square().to(torch::kCPU, torch::kDouble));
      block.select(1, 2).fill_(1.0);
      block.select(1, 3).copy_(pred.to(torch::kCPU, torch::kDouble));
      continue;
    }
    logits = logits.reshape({len, -1, logits.size(-1)}).to(torch::kFloat);  // (len, P, C)
    torch::Tensor y = data.labels.narrow(0, i, len).reshape({len, -1}).to(device, torch::kLong);
    const int64_t positions = y.size(1);
    torch::Tensor loss = torch::cross_entropy_loss(logits.reshape({-1, logits.size(-1)}),
                                                   y.reshape({-1}), {}, at::Reduction::None)
                             .reshape({len, positions});  // (len, P)
    torch::Tensor pred = logits.argmax(-1);               // (len, P)
    torch::Tensor block = rows.narrow(0, i, len);
    block.select(1, 0).copy_(loss.sum(1).to(torch::kCPU, torch::kDouble));
    block.select(1, 1).copy_(pred.eq(y).sum(1).to(torch::kCPU, torch::kDouble));
    block.select(1, 2).fill_(double(positions));
    if (!sequences) block.select(1, 3).copy_(pred.select(1, 0).to(torch::kCPU, torch::kDouble));
    if (binary)
      block.select(1, 4).copy_(
          logits.select(1, 0).softmax(-1).select(1, 1).to(torch::kCPU, torch::kDouble));
  }
  model.train();
  allreduceSum(dist, rows);
  EvalPass out;
  out.loss_sum = rows.select(1, 0).contiguous();
  out.correct = rows.select(1, 1).contiguous();
  out.count = rows.select(1, 2).contiguous();
  out.regression = regression;
  if (regression) {
    out.value = rows.select(1, 3).contiguous();
  } else if (!sequences) {
    out.predicted = rows.select(1, 3).to(torch::kLong);
  }
  if (binary) out.score = rows.select(1, 4).contiguous();
  return out;
}

EvaluatedSplit evaluatedSplit(const std::string& name, const Dataset& data, const EvalPass& pass) {
  EvaluatedSplit split{name, data.size(), {}};
  if (pass.regression)
    split.metrics = regressionMetrics(pass.value, data.labels.to(torch::kDouble));
  else if (data.labels.dim() > 1)
    split.metrics = languageModelMetrics(pass.loss_sum, pass.correct, pass.count);
  else
    split.metrics =
        classificationMetrics(data.labels, pass.predicted, pass.score, data.num_classes);
  return split;
}

Metrics evalFields(const EvalResult& e, const std::string& prefix) {
  Metrics m{{prefix + "loss", e.loss}};
  if (e.regression) {
    m.emplace_back(prefix + "mse", e.loss);
    m.emplace_back(prefix + "rmse", std::sqrt(e.loss));
  } else {
    m.emplace_back(prefix + "accuracy", e.accuracy);
  }
  return m;
}

}  // namespace trainrun
