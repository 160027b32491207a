// Shard planning and dtype names for checkpoint manifests.
#include "checkpoint/shard_layout.h"

#include "checkpoint/layout.h"
#include "core/error.h"

namespace trainrun {
namespace {

const std::vector<std::pair<torch::ScalarType, const char*>> kDtypes = {
    {torch::kFloat32, "float32"},   {torch::kFloat64, "float64"}, {torch::kFloat16, "float16"},
    {torch::kBFloat16, "bfloat16"}, {torch::kInt64, "int64"},     {torch::kInt32, "int32"},
    {torch::kUInt8, "uint8"},       {torch::kInt8, "int8"},       {torch::kBool, "bool"},
};

uint64_t nbytes(const torch::Tensor& t) { return uint64_t(t.numel()) * t.element_size(); }

checkpoint::TensorEntry* addEntry(checkpoint::Manifest& m, const std::string& name,
                                  const torch::Tensor& t, int rank) {
  checkpoint::TensorEntry* e = m.add_tensors();
  e->set_name(name);
  e->set_dtype(dtypeName(t.scalar_type()));
  for (int64_t d : t.sizes()) e->add_shape(d);
  e->set_rank(rank);
  return e;
}

}  // namespace

std::string dtypeName(torch::ScalarType t) {
  for (const auto& [type, name] : kDtypes)
    if (type == t) return name;
  throw StorageError(std::string("cannot checkpoint tensors of dtype ") + c10::toString(t));
}

torch::ScalarType dtypeFromName(const std::string& name) {
  for (const auto& [type, n] : kDtypes)
    if (name == n) return type;
  throw StorageError("checkpoint manifest names unknown dtype '" + name + "'");
}

checkpoint::Manifest planShards(const CheckpointState& state, int world_size) {
  checkpoint::Manifest m;
  uint64_t total = 0;
  for (const auto& [name, t] : state.replicated) total += nbytes(t);
  auto rangeStart = [&](int r) { return total * uint64_t(r) / uint64_t(world_size); };

  std::vector<uint64_t> shard_size(world_size);
  for (int r = 0; r < world_size; ++r) shard_size[r] = rangeStart(r + 1) - rangeStart(r);

  // Replicated stream: a tensor may straddle shard boundaries, so it gets one piece per shard.
  uint64_t stream = 0;
  for (const auto& [name, t] : state.replicated) {
    checkpoint::TensorEntry* e = addEntry(m, name, t, -1);
    uint64_t done = 0, n = nbytes(t);
    while (done < n) {
      int r = 0;
      while (r + 1 < world_size && rangeStart(r + 1) <= stream + done) ++r;
      uint64_t len = std::min(n - done, rangeStart(r + 1) - (stream + done));
      checkpoint::Piece* p = e->add_pieces();
      p->set_shard(r);
      p->set_offset(stream + done - rangeStart(r));
      p->set_length(len);
      p->set_tensor_offset(done);
      done += len;
    }
    stream += n;
  }
  // Each rank's private tensors follow its replicated range.
  for (int r = 0; r < world_size; ++r) {
    for (const auto& [name, t] : state.local) {
      checkpoint::Piece* p = addEntry(m, name, t, r)->add_pieces();
      p->set_shard(r);
      p->set_offset(shard_size[r]);
      p->set_length(nbytes(t));
      shard_size[r] += nbytes(t);
    }
  }
  for (int r = 0; r < world_size; ++r) {
    checkpoint::Shard* s = m.add_shards();
    s->set_key(shardKey(r, world_size));
    s->set_size(shard_size[r]);
  }
  m.set_world_size(world_size);
  return m;
}

}  // namespace trainrun
