// Synthetic data, the train/eval split and the dataset factory.
#include "data/dataset.h"

#include <ATen/CPUGeneratorImpl.h>

#include "core/error.h"
#include "data/token_corpus.h"
#include "data/tokens.h"

namespace trainrun {
namespace {

constexpr uint64_t kSplitSeed = 0x5eed5eed;  // fixed: every run evaluates the same samples

}  // namespace

Dataset makeSynthetic(int64_t samples, int64_t features, int64_t classes, uint64_t seed) {
  auto gen = at::detail::createCPUGenerator(seed);
  Dataset d;
  d.features = at::randn({samples, features}, gen);             // (N, F)
  torch::Tensor teacher = at::randn({features, classes}, gen);  // (F, C)
  d.labels = d.features.matmul(teacher).argmax(/*dim=*/1);      // (N,)
  d.num_classes = classes;
  return d;
}

TrainEvalSplit splitTrainEval(const Dataset& data, double eval_fraction) {
  int64_t n = data.size();
  int64_t n_eval = std::max<int64_t>(1, static_cast<int64_t>(n * eval_fraction));
  if (n_eval >= n) throw ConfigError("data.eval_fraction leaves no training samples");
  torch::Tensor perm = at::randperm(n, at::detail::createCPUGenerator(kSplitSeed), torch::kLong);
  torch::Tensor train_idx = perm.narrow(0, 0, n - n_eval);
  torch::Tensor eval_idx = perm.narrow(0, n - n_eval, n_eval);
  auto take = [&](const torch::Tensor& idx) {
    return Dataset{data.features.index_select(0, idx), data.labels.index_select(0, idx),
                   data.num_classes, data.task};
  };
  TrainEvalSplit split;
  split.train = take(train_idx);
  split.eval = take(eval_idx);
  return split;
}

TrainEvalSplit loadDataset(const config::JobConfig& config, const NodeFetchGate& gate) {
  const auto& d = config.data();
  if (d.name() == "table") return loadTable(config, gate);
  if (d.name() == "tokens") return loadTokenCorpus(config);
  Dataset all;
  if (isTokenData(d.name())) {
    all = loadTokenDataset(config);
  } else if (d.name() == "synthetic") {
    all = makeSynthetic(d.synthetic_samples(), d.synthetic_features(), d.synthetic_classes(),
                        static_cast<uint64_t>(config.train().seed()));
  } else {
    all = loadDigits(config::dataPath(config));
  }
  return splitTrainEval(all, d.eval_fraction());
}

int64_t trainSamples(const TrainEvalSplit& data) {
  return data.corpus ? int64_t(data.corpus->windows()) : data.train.size();
}

torch::Tensor gatherRows(const torch::Tensor& source, const torch::Tensor& index,
                         const torch::Device& device) {
  const torch::Tensor host_index = index.to(torch::kCPU, torch::kLong);  // (b,)
  if (device.is_cpu()) return source.index_select(0, host_index);
  std::vector<int64_t> shape = source.sizes().vec();
  shape[0] = host_index.size(0);
  // The caching host allocator keeps this block until the copy reading it has finished.
  torch::Tensor staged = torch::empty(shape, source.options().pinned_memory(true));
  torch::index_select_out(staged, source, 0, host_index);
  return staged.to(device, /*non_blocking=*/true);
}

}  // namespace trainrun
