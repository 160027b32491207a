// TrainBatches: the sampler and gather for in-memory data, the prefetcher for token corpora.
#include "train/train_batches.h"

#include "data/batch_prefetcher.h"
#include "data/sampler.h"
#include "data/token_corpus.h"
#include "train/sample_log.h"

namespace trainrun {
namespace {

constexpr int kPrefetchSteps = 4;  // token batches read ahead: a few steps absorb a slow read

}  // namespace

TrainBatches::TrainBatches(const config::JobConfig& config, const TrainEvalSplit& data,
                           torch::Device device, int rank, int world_size)
    : config_(config), data_(data), device_(device), rank_(rank), world_size_(world_size) {
  regroup(rank, world_size);
  if (data_.corpus) sample_log_ = SampleLog::fromEnv();
}

TrainBatches::~TrainBatches() = default;

void TrainBatches::regroup(int rank, int world_size) {
  rank_ = rank;
  world_size_ = world_size;
  const auto& t = config_.train();
  sampler_ = std::make_unique<DistributedSampler>(trainSamples(data_), t.global_batch_size(),
                                                  t.grad_accum_steps(), rank, world_size,
                                                  static_cast<uint64_t>(t.seed()));
  if (!data_.corpus) return;
  const BatchPlan plan(t.global_batch_size(), t.grad_accum_steps(), world_size, rank);
  if (prefetcher_)
    prefetcher_->replan(plan);
  else
    prefetcher_ = std::make_unique<BatchPrefetcher>(data_.corpus->reader(), plan, kPrefetchSteps,
                                                    device_.is_cuda());
}

int64_t TrainBatches::stepsPerEpoch() const { return sampler_->stepsPerEpoch(); }

double TrainBatches::weight() const { return sampler_->weight(); }

std::pair<torch::Tensor, torch::Tensor> TrainBatches::micro(int64_t step, int64_t micro,
                                                            int64_t consumed) {
  if (data_.corpus) {
    if (micro == 0) {
      step_.clear();
      std::vector<TokenMicroBatch> batches = prefetcher_->take(uint64_t(consumed));
      for (size_t m = 0; m < batches.size(); ++m) {
        if (sample_log_)
          sample_log_->add(step, int64_t(m), rank_, world_size_, batches[m].window_ids);
        step_.emplace_back(std::move(batches[m].inputs), std::move(batches[m].targets));
      }
    }
    const auto& [x, y] = step_[size_t(micro)];
    return {x.to(device_, /*non_blocking=*/true), y.to(device_, /*non_blocking=*/true)};
  }
  const int64_t epoch = step / sampler_->stepsPerEpoch();
  torch::Tensor idx = sampler_->indices(epoch, step % sampler_->stepsPerEpoch(), micro);  // (b,)
  torch::Tensor x = gatherRows(data_.train.features, idx, device_);  // (b, F) or (b, T)
  torch::Tensor y = gatherRows(data_.train.labels, idx, device_)
                        .to(data_.train.task == Task::kRegression ? torch::kFloat : torch::kLong);
  return {x, y};
}

}  // namespace trainrun
