// Gloo backend of Communicator: LibTorch's c10d ProcessGroupGloo over TCP (CPU tensors).
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "distributed/communicator.h"
#include "store/store.h"

namespace trainrun {

struct GlooOptions {
  // Deadline Gloo itself enforces on every collective; 0: the store's, i.e. the group's.
  std::chrono::milliseconds timeout{0};
  // Network interface to bind (GLOO_SOCKET_IFNAME convention); empty: `hostname` below.
  std::string interface;
  // Address to bind when no interface is named; empty: resolve this machine's hostname.
  std::string hostname = "127.0.0.1";
  // Gloo worker threads; collectives queued from one thread still complete in issue order.
  int threads = 2;
};

// Builds a Gloo communicator for `rank` of `size`, rendezvousing through `store` under
// `prefix` (so several groups can share one store).
std::unique_ptr<Communicator> makeGlooCommunicator(const Store& store, const std::string& prefix,
                                                   int rank, int size, const GlooOptions& options);

}  // namespace trainrun
