// Test helper: runs N ranks as threads of this process, each with a real Gloo communicator.
#pragma once

#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "dist/gloo/gloo_communicator.h"
#include "dist/store.h"

namespace trainrun::testing {

// Calls fn(rank, comm) on `world` threads and rethrows the first exception any rank threw.
inline void runRanks(int world, const std::function<void(int, Communicator&)>& fn,
                     GlooOptions options = {}) {
  auto host = Store::host(0);
  std::vector<std::thread> threads;
  std::exception_ptr first_error;
  std::mutex mu;
  for (int r = 0; r < world; ++r) {
    threads.emplace_back([&, r] {
      try {
        auto store = Store::connect("127.0.0.1", host->port());
        auto comm = makeGlooCommunicator(*store, "test/", r, world, options);
        fn(r, *comm);
      } catch (...) {
        std::lock_guard<std::mutex> lock(mu);
        if (!first_error) first_error = std::current_exception();
      }
    });
  }
  for (auto& t : threads) t.join();
  if (first_error) std::rethrow_exception(first_error);
}

}  // namespace trainrun::testing
