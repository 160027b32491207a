// TrainBatches: each rank's micro-batches of every step, from in-memory data or a token corpus.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include "config/config.h"
#include "data/dataset.h"

namespace trainrun {

class BatchPrefetcher;
class DistributedSampler;
class SampleLog;

// In-memory data: the DistributedSampler's indices of each step, gathered on the host and
// copied. A token corpus (data.name=tokens): the stream positions BatchPlan gives the step that
// starts at `consumed` samples, read ahead by a BatchPrefetcher thread; only the copy to the
// device is left for the training thread. Either way rank r of W takes the r-th slice of each
// micro-batch, and weight() makes uneven slices average right.
class TrainBatches {
 public:
  TrainBatches(const config::JobConfig& config, const TrainEvalSplit& data, torch::Device device,
               int rank, int world_size);
  ~TrainBatches();

  // Elastic recovery re-formed the group: this rank's place and slice follow.
  void regroup(int rank, int world_size);

  int64_t stepsPerEpoch() const;
  // This rank's share of a micro-batch times the world size: 1 for equal slices.
  double weight() const;
  // This rank's inputs and targets of micro-batch `micro` of `step`, which starts at stream
  // position `consumed` (token corpora; in-memory data is indexed by `step`), on the device.
  std::pair<torch::Tensor, torch::Tensor> micro(int64_t step, int64_t micro, int64_t consumed);

 private:
  const config::JobConfig& config_;
  const TrainEvalSplit& data_;
  const torch::Device device_;
  int rank_, world_size_;
  std::unique_ptr<DistributedSampler> sampler_;
  std::unique_ptr<BatchPrefetcher> prefetcher_;                // token corpora
  std::vector<std::pair<torch::Tensor, torch::Tensor>> step_;  // the current step's, on the host
  std::unique_ptr<SampleLog> sample_log_;                      // TRAINRUN_SAMPLE_LOG only
};

}  // namespace trainrun
