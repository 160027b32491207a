// Joining the job: read torchrun's environment, connect to the store, build the Communicator.
#pragma once

#include <memory>

#include "config/config.h"
#include "dist/communicator.h"
#include "dist/store.h"

namespace trainrun {

struct DistContext {
  int rank = 0;
  int world_size = 1;
  int local_rank = 0;
  int local_world_size = 1;
  std::unique_ptr<Store> store;        // null when running alone
  std::unique_ptr<Communicator> comm;  // null when running alone
};

// From RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT; without
// them the process runs alone (world size 1). dist.backend picks the communicator.
DistContext initDistributed(const config::JobConfig& config);

}  // namespace trainrun
