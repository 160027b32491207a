// Test support: runs N ranks as threads of this process, each with a real communicator.
#pragma once

#include <unistd.h>

#include <chrono>
#include <exception>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "distributed/gloo/gloo_communicator.h"
#include "distributed/hierarchical/hierarchical_communicator.h"
#include "distributed/shm/shm_communicator.h"
#include "store/store.h"

namespace trainrun::testing {

// The group's deadline in tests: generous, so only a real hang reaches it.
inline constexpr std::chrono::milliseconds kStoreTimeout{std::chrono::minutes(2)};

using CommFactory = std::function<std::unique_ptr<Communicator>(Store&, int rank, int world)>;

// Calls fn(rank, comm) on `world` threads, each with make(...)'s communicator, then
// after(rank) once that communicator is destroyed; rethrows the first exception any rank threw.
inline void runRanksWith(int world, const CommFactory& make,
                         const std::function<void(int, Communicator&)>& fn,
                         const std::function<void(int)>& after = nullptr) {
  auto host = Store::host(0, kStoreTimeout);
  std::vector<std::thread> threads;
  std::exception_ptr first_error;
  std::mutex mu;
  for (int r = 0; r < world; ++r) {
    threads.emplace_back([&, r] {
      try {
        auto store = Store::connect("127.0.0.1", host->port(), kStoreTimeout);
        {
          auto comm = make(*store, r, world);
          fn(r, *comm);
        }
        if (after) after(r);
      } catch (...) {
        std::lock_guard<std::mutex> lock(mu);
        if (!first_error) first_error = std::current_exception();
      }
    });
  }
  for (auto& t : threads) t.join();
  if (first_error) std::rethrow_exception(first_error);
}

// Ranks with Gloo communicators.
inline void runRanks(int world, const std::function<void(int, Communicator&)>& fn,
                     GlooOptions options = {}, const std::function<void(int)>& after = nullptr) {
  runRanksWith(
      world,
      [&](Store& store, int rank, int size) {
        return makeGlooCommunicator(store, "test/", rank, size, options);
      },
      fn, after);
}

// Ranks with shared-memory communicators.
inline void runShmRanks(int world, const std::function<void(int, Communicator&)>& fn,
                        ShmOptions options = {}, const std::function<void(int)>& after = nullptr) {
  runRanksWith(
      world,
      [&](Store& store, int rank, int size) {
        return makeShmCommunicator(store, "test/", rank, size, options);
      },
      fn, after);
}

// nnodes x local_size ranks, node-major, each with a hierarchical communicator.
inline void runHierarchicalRanks(int nnodes, int local_size,
                                 const std::function<void(int, Communicator&)>& fn,
                                 HierarchicalOptions options = {},
                                 const std::function<void(int)>& after = nullptr) {
  runRanksWith(
      nnodes * local_size,
      [&](Store& store, int rank, int size) {
        return makeHierarchicalCommunicator(store, "test/", rank, size, rank % local_size,
                                            local_size, rank / local_size, nnodes, options);
      },
      fn, after);
}

// Shared-memory segments this process left in /dev/shm (the shm backend names them by pid).
inline int leftoverShmSegments() {
  const std::string mine = "trainrun-" + std::to_string(::getpid()) + "-";
  int count = 0;
  for (const auto& e : std::filesystem::directory_iterator("/dev/shm"))
    if (e.path().filename().string().rfind(mine, 0) == 0) ++count;
  return count;
}

}  // namespace trainrun::testing
