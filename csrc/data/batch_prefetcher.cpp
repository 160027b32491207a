// BatchPrefetcher: steps read ahead on one thread, handed over in order.
#include "data/batch_prefetcher.h"

namespace trainrun {

BatchPrefetcher::BatchPrefetcher(const TokenBatchReader& reader, const BatchPlan& plan,
                                 int depth_steps, bool pinned)
    : reader_(reader), depth_(depth_steps < 1 ? 1 : depth_steps), pinned_(pinned), plan_(plan) {
  thread_ = std::thread([this] { loop(); });
}

BatchPrefetcher::~BatchPrefetcher() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

std::vector<TokenMicroBatch> BatchPrefetcher::readStep(const BatchPlan& plan,
                                                       uint64_t consumed) const {
  const auto t = static_cast<int64_t>(reader_.blockSize());
  const int64_t micros = plan.globalBatch() / plan.microBatch();
  std::vector<TokenMicroBatch> step;
  for (int64_t m = 0; m < micros; ++m) {
    const BatchPlan::Range r = plan.positions(consumed, m);
    const auto options = torch::TensorOptions().dtype(torch::kLong).pinned_memory(pinned_);
    TokenMicroBatch b{torch::empty({int64_t(r.count), t}, options),
                      torch::empty({int64_t(r.count), t}, options),
                      reader_.windowIds(r.begin, r.count)};
    reader_.read(r.begin, r.count, b.inputs.data_ptr<int64_t>(), b.targets.data_ptr<int64_t>());
    step.push_back(std::move(b));
  }
  return step;
}

void BatchPrefetcher::loop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    cv_.wait(lock,
             [&] { return stop_ || (started_ && !error_ && ready_.size() < size_t(depth_)); });
    if (stop_) return;
    const BatchPlan plan = plan_;
    const uint64_t at = next_, generation = generation_;
    lock.unlock();
    std::vector<TokenMicroBatch> step;
    std::exception_ptr error;
    try {
      step = readStep(plan, at);
    } catch (...) {
      error = std::current_exception();
    }
    lock.lock();
    if (generation != generation_) continue;  // restarted meanwhile: this read is stale
    if (error) {
      error_ = error;
    } else {
      ready_.emplace_back(at, std::move(step));
      next_ = plan.after(at);
    }
    cv_.notify_all();
  }
}

void BatchPrefetcher::restartAt(uint64_t consumed) {
  ready_.clear();
  error_ = nullptr;
  next_ = consumed;
  ++generation_;
  started_ = true;
  cv_.notify_all();
}

std::vector<TokenMicroBatch> BatchPrefetcher::take(uint64_t consumed) {
  std::unique_lock<std::mutex> lock(mu_);
  const bool queued = !ready_.empty() && ready_.front().first == consumed;
  const bool reading = ready_.empty() && started_ && next_ == consumed && !error_;
  if (!queued && !reading) restartAt(consumed);
  cv_.wait(lock, [&] { return !ready_.empty() || error_; });
  if (error_) {
    std::exception_ptr error = error_;
    error_ = nullptr;
    started_ = false;  // the next take() restarts at its position
    std::rethrow_exception(error);
  }
  std::vector<TokenMicroBatch> step = std::move(ready_.front().second);
  ready_.pop_front();
  cv_.notify_all();
  return step;
}

void BatchPrefetcher::replan(const BatchPlan& plan) {
  std::lock_guard<std::mutex> lock(mu_);
  plan_ = plan;
  ready_.clear();
  error_ = nullptr;
  ++generation_;
  started_ = false;  // the next take() says where the stream goes on
  cv_.notify_all();
}

}  // namespace trainrun
