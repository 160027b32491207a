// runParallel: a bounded set of std::threads taking task indices from one counter.
#include "core/parallel.h"

#include <algorithm>
#include <atomic>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace trainrun {

void runParallel(uint64_t count, int parallelism, const std::function<void(uint64_t)>& task) {
  std::atomic<uint64_t> next{0};
  std::atomic<bool> failed{false};
  std::exception_ptr first_error;
  std::mutex error_mu;
  auto worker = [&] {
    while (!failed.load()) {
      const uint64_t i = next.fetch_add(1);
      if (i >= count) return;
      try {
        task(i);
      } catch (...) {
        std::lock_guard<std::mutex> lock(error_mu);
        if (!first_error) first_error = std::current_exception();
        failed = true;
      }
    }
  };
  const uint64_t threads = std::min<uint64_t>(count, std::max(parallelism, 1));
  if (threads <= 1) {
    worker();
  } else {
    std::vector<std::thread> pool;
    for (uint64_t t = 0; t < threads; ++t) pool.emplace_back(worker);
    for (auto& t : pool) t.join();
  }
  if (first_error) std::rethrow_exception(first_error);
}

}  // namespace trainrun
