// BatchPrefetcher: a thread that reads the next steps' token batches while the current step runs.
#pragma once

#include <torch/torch.h>

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include "data/batch_plan.h"
#include "data/token_batch.h"

namespace trainrun {

// One micro-batch of this rank: (b, T) int64 inputs and targets on the host (pinned when the
// batches go to a GPU, so the copy does not block the host).
struct TokenMicroBatch {
  torch::Tensor inputs, targets;
  std::vector<uint64_t> window_ids;  // the global window number of each row
};

// Reads whole steps ahead on its own thread: the step that starts at stream position c takes
// BatchPlan::positions(c, m) for each micro-batch m, and the next starts at plan.after(c).
// The training thread only waits when the reader falls behind (data_ms shows it).
//
// Contract: one consumer thread calls take() and replan(); `reader` outlives the prefetcher.
class BatchPrefetcher {
 public:
  BatchPrefetcher(const TokenBatchReader& reader, const BatchPlan& plan, int depth_steps,
                  bool pinned);
  ~BatchPrefetcher();  // stops the thread; a read in flight finishes first
  BatchPrefetcher(const BatchPrefetcher&) = delete;
  BatchPrefetcher& operator=(const BatchPrefetcher&) = delete;

  // The micro-batches of the step that starts at `consumed`, waiting for the thread when it
  // has not read them yet. Any other position than the one read next (a resume, a recovery)
  // drops the read-ahead and restarts there. Rethrows the read's error (ConfigError naming
  // the shard and offset, StorageError) once; the next take() reads again.
  std::vector<TokenMicroBatch> take(uint64_t consumed);
  // The world changed (elastic recovery): later steps are read with `plan`.
  void replan(const BatchPlan& plan);

 private:
  void loop();
  std::vector<TokenMicroBatch> readStep(const BatchPlan& plan, uint64_t consumed) const;
  void restartAt(uint64_t consumed);  // mu_ held

  const TokenBatchReader& reader_;
  const int depth_;
  const bool pinned_;
  std::mutex mu_;
  std::condition_variable cv_;
  BatchPlan plan_;
  uint64_t next_ = 0;        // the position the thread reads next
  uint64_t generation_ = 0;  // bumped by a restart: a read of an older one is dropped
  std::deque<std::pair<uint64_t, std::vector<TokenMicroBatch>>> ready_;
  std::exception_ptr error_;
  bool started_ = false, stop_ = false;
  std::thread thread_;
};

}  // namespace trainrun
