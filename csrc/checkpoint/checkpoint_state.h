// CheckpointState: the named tensors and counters a checkpoint holds.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace trainrun {

struct CheckpointState {
  // Identical on every rank (DDP replicas): parameters, buffers, optimizer state. Saved once,
  // sharded across ranks. CPU, contiguous.
  std::vector<std::pair<std::string, torch::Tensor>> replicated;
  // This rank's own tensors (RNG states). Saved by each rank; on resume at another world size
  // rank r takes those of rank r % old world size.
  std::vector<std::pair<std::string, torch::Tensor>> local;
  std::map<std::string, int64_t> counters;  // "step", "epoch", ...
};

}  // namespace trainrun
