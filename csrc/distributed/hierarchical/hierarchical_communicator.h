// Hierarchical backend of Communicator: shared memory within each node, Gloo among node leaders.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "distributed/communicator.h"
#include "distributed/gloo/gloo_communicator.h"
#include "distributed/shm/shm_communicator.h"
#include "store/store.h"

namespace trainrun {

struct HierarchicalOptions {
  // Deadline of the group (every wait, and every wait of the two inner groups); 0: the store's.
  std::chrono::milliseconds timeout{0};
  ShmOptions shm;    // the node's group; its timeout defaults to the one above
  GlooOptions gloo;  // the leaders' group (local rank 0 of each node); timeout as above
};

// Joins `size` = nnodes * local_size ranks laid out node-major (rank = node_rank * local_size +
// local_rank; every node has the same local_size). The ranks of a node share a POSIX
// shared-memory group (store keys under prefix + "node-<node_rank>/"); local rank 0 of each node
// also joins a Gloo group of the node leaders (prefix + "leaders/"). An all-reduce is a
// reduction within the node, one across the leaders and a broadcast within the node, so only
// one rank per node sends over the network. Collectives run in issue order on one background
// thread; Work::wait() is bounded by the group's deadline and names the sequence number.
// Throws ConfigError when the layout is inconsistent, CommError/TimeoutError from joining.
std::unique_ptr<Communicator> makeHierarchicalCommunicator(Store& store, const std::string& prefix,
                                                           int rank, int size, int local_rank,
                                                           int local_size, int node_rank,
                                                           int nnodes,
                                                           HierarchicalOptions options = {});

}  // namespace trainrun
