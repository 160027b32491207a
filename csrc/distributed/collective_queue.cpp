// CollectiveQueue: completions shared by Work and worker, the worker loop, orderly stop.
#include "distributed/collective_queue.h"

#include "core/error.h"

namespace trainrun {

// Completion of one queued collective, shared by its Work and the worker thread.
struct CollectiveQueue::Completion {
  uint64_t seq = 0;
  std::string what;
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  std::exception_ptr error;
};

namespace {

class QueuedWork : public Work {
 public:
  QueuedWork(std::shared_ptr<CollectiveQueue::Completion> c, std::string backend,
             std::chrono::milliseconds group_timeout, std::shared_ptr<std::atomic<bool>> timed_out)
      : Work(group_timeout),
        c_(std::move(c)),
        backend_(std::move(backend)),
        timed_out_(std::move(timed_out)) {}
  using Work::wait;

  void wait(std::chrono::milliseconds timeout) override {
    std::unique_lock<std::mutex> lock(c_->mu);
    if (!c_->cv.wait_for(lock, timeout, [&] { return c_->done; })) {
      // A caller's shorter slice (the hierarchical backend polls) is not the group's deadline.
      if (timeout >= groupTimeout()) timed_out_->store(true);
      throw TimeoutError(backend_ + " " + c_->what + " did not complete within " +
                         std::to_string(timeout.count()) +
                         " ms (a peer rank stopped issuing collectives)");
    }
    if (c_->error) std::rethrow_exception(c_->error);
  }
  bool isCompleted() override {
    std::lock_guard<std::mutex> lock(c_->mu);
    return c_->done;
  }

 private:
  std::shared_ptr<CollectiveQueue::Completion> c_;
  const std::string backend_;
  const std::shared_ptr<std::atomic<bool>> timed_out_;
};

}  // namespace

CollectiveQueue::CollectiveQueue(std::string backend, std::shared_ptr<FlightRecorder> recorder,
                                 std::chrono::milliseconds group_timeout, WrapError wrap)
    : backend_(std::move(backend)),
      recorder_(std::move(recorder)),
      group_timeout_(group_timeout),
      wrap_(std::move(wrap)) {
  worker_ = std::thread([this] { run(); });
}

std::unique_ptr<Work> CollectiveQueue::enqueue(const char* op, int64_t bytes, Task task) {
  const CollectiveRecord record = recorder_->issue(op, bytes);
  auto completion = std::make_shared<Completion>();
  completion->seq = record.seq;
  completion->what = record.describe();
  {
    std::lock_guard<std::mutex> lock(mu_);
    queue_.emplace_back(std::move(task), completion);
  }
  cv_.notify_one();
  return std::make_unique<QueuedWork>(std::move(completion), backend_, group_timeout_,
                                      wait_timed_out_);
}

void CollectiveQueue::stop(const std::function<void()>& unfinished) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stop_) return;
    stop_ = true;
    if (unfinished && (busy_ || !queue_.empty())) unfinished();
  }
  cv_.notify_one();
  worker_.join();
}

bool CollectiveQueue::stopping() {
  std::lock_guard<std::mutex> lock(mu_);
  return stop_;
}

void CollectiveQueue::run() {
  std::exception_ptr broken;
  while (true) {
    std::pair<Task, std::shared_ptr<Completion>> task;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return stop_ || !queue_.empty(); });
      if (queue_.empty()) return;
      task = std::move(queue_.front());
      queue_.pop_front();
      busy_ = true;
    }
    Completion& c = *task.second;
    std::exception_ptr error = broken;
    if (!error) {
      try {
        task.first(c.what);
      } catch (...) {
        error = broken = wrap_ ? wrap_(c.what, std::current_exception()) : std::current_exception();
      }
    }
    recorder_->finish(c.seq, /*ok=*/!error);  // before waking the waiter
    {
      std::lock_guard<std::mutex> lock(c.mu);
      c.done = true;
      c.error = error;
    }
    c.cv.notify_all();
    std::lock_guard<std::mutex> lock(mu_);
    busy_ = false;
  }
}

int64_t bytesOf(const std::vector<torch::Tensor>& tensors) {
  int64_t bytes = 0;
  for (const auto& t : tensors) bytes += static_cast<int64_t>(t.nbytes());
  return bytes;
}

void checkCpuTensor(const torch::Tensor& t, const char* backend, const char* what) {
  if (!t.device().is_cpu() || !t.is_contiguous())
    throw CommError(std::string(backend) + " " + what + " needs contiguous CPU tensors (got " +
                    t.toString() + (t.is_contiguous() ? ")" : ", not contiguous)"));
}

}  // namespace trainrun
