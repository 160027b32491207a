// CollectiveQueue: a communicator's collectives run in issue order on one worker thread.
#pragma once

#include <torch/torch.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "distributed/communicator.h"
#include "distributed/flight_recorder.h"

namespace trainrun {

// The CPU backends that do their own work (shm, hierarchical) queue it here. Each collective
// is numbered by the flight recorder at enqueue and marked done or failed before its Work
// wakes. After a failure the ranks are out of step, so every later collective fails with the
// first error. Work::wait() throws TimeoutError "<backend> collective #n (...) did not
// complete within T ms" when the collective outlives the wait.
class CollectiveQueue {
 public:
  // Runs one collective; `what` describes it ("collective #3 (allreduce of 64 bytes ...)").
  using Task = std::function<void(const std::string& what)>;
  // Turns a task's exception into the one its Work rethrows (null: rethrown as is).
  using WrapError = std::function<std::exception_ptr(const std::string& what, std::exception_ptr)>;

  CollectiveQueue(std::string backend, std::shared_ptr<FlightRecorder> recorder,
                  std::chrono::milliseconds group_timeout, WrapError wrap = nullptr);
  ~CollectiveQueue() { stop(); }

  std::unique_ptr<Work> enqueue(const char* op, int64_t bytes, Task task);
  // Stops the worker after the collective it runs. `unfinished` runs first, under the queue's
  // lock, if a collective is running or queued (the backend fails its peers' matching ones).
  // Idempotent; the owner calls it before destroying what tasks use.
  void stop(const std::function<void()>& unfinished = nullptr);
  // True once stop() began: a task waiting on something should give up.
  bool stopping();
  // True once a wait on one of its collectives ran past the group's deadline: this rank saw a
  // hang (the backend tells its peers so when it stops, not that it merely left).
  bool waitTimedOut() const { return wait_timed_out_->load(); }

  struct Completion;  // one collective's outcome, shared by its Work and the worker

 private:
  void run();

  const std::string backend_;
  const std::shared_ptr<FlightRecorder> recorder_;
  const std::chrono::milliseconds group_timeout_;
  const WrapError wrap_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::pair<Task, std::shared_ptr<Completion>>> queue_;
  bool stop_ = false;
  bool busy_ = false;  // the worker is running a collective
  // Shared with the Works, which may outlive the queue.
  const std::shared_ptr<std::atomic<bool>> wait_timed_out_ = std::make_shared<std::atomic<bool>>();
  std::thread worker_;
};

// Total bytes of `tensors`, for the flight recorder.
int64_t bytesOf(const std::vector<torch::Tensor>& tensors);

// Throws CommError "<backend> <what> needs contiguous CPU tensors (got ...)".
void checkCpuTensor(const torch::Tensor& t, const char* backend, const char* what);

}  // namespace trainrun
