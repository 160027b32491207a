// ShardLayout: which bytes of the replicated state each rank writes, so writes are balanced.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "checkpoint/checkpoint_state.h"
#include "checkpoint/manifest.pb.h"

namespace trainrun {

// Lays the replicated tensors end to end as one byte stream and cuts it into world_size equal
// ranges: shard r holds range r, then rank r's local tensors. Every rank computes the same
// layout from the same state, so no coordination is needed before writing. Local tensors
// have the same names and shapes on every rank (their values differ). Fills tensors, shard
// keys and sizes; the CRCs are filled in as shards are written.
checkpoint::Manifest planShards(const CheckpointState& state, int world_size);

// "float32" for torch::kFloat32 and back; throws StorageError for an unknown name.
std::string dtypeName(torch::ScalarType t);
torch::ScalarType dtypeFromName(const std::string& name);

}  // namespace trainrun
