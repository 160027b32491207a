// Shared-memory backend of Communicator: collectives among the ranks of one host (CPU tensors).
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>

#include "distributed/communicator.h"
#include "store/store.h"

namespace trainrun {

struct ShmOptions {
  static constexpr size_t kMaxSlotBytes = 4u << 20;
  // Joining the segment and every wait inside a collective give up after this long; 0: the
  // store's deadline, i.e. the group's.
  std::chrono::milliseconds timeout{0};
  // Bytes each rank stages per round; larger tensors go through in rounds. The segment holds
  // size + 1 slots. 0: the largest multiple of 64 up to kMaxSlotBytes that keeps the segment
  // within 32 MiB (a default Docker container has only 64 MiB of /dev/shm), at least 64 KiB.
  size_t slot_bytes = 0;
};

// Joins `size` ranks that all run on this host through one POSIX shared-memory segment that
// rank 0 creates and names in `store` under `prefix`. A collective is a copy into this rank's
// slot, a barrier, a reduction of this rank's 1/size of the elements across all slots, a
// barrier and a copy out: no sockets, no serialization. Collectives run in issue order on one
// background thread per communicator. Throws CommError when the segment cannot be created or
// opened (ranks on different hosts: use the Gloo backend) and TimeoutError when a rank does not
// come within options.timeout.
std::unique_ptr<Communicator> makeShmCommunicator(Store& store, const std::string& prefix, int rank,
                                                  int size, ShmOptions options = {});

}  // namespace trainrun
