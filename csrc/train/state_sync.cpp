// State sync between replicas: the newest state found by allgather, handed on by broadcast.
#include "train/state_sync.h"

#include <string>
#include <vector>

#include "core/clock.h"
#include "core/logging.h"
#include "data/sample_order.h"
#include "ddp/reducer.h"
#include "metrics/metrics.h"
#include "store/store_keys.h"
#include "train/train_state.h"

namespace trainrun {

NewestState findNewestState(Communicator& comm, int64_t completed) {
  NewestState found{completed, comm.rank(), true};
  const auto on = torch::TensorOptions().dtype(torch::kLong).device(comm.device());
  torch::Tensor mine = torch::full({1}, completed, on);
  std::vector<torch::Tensor> all;
  for (int r = 0; r < comm.size(); ++r) all.push_back(torch::empty({1}, on));
  comm.allgather(all, mine)->wait();
  for (int r = 0; r < comm.size(); ++r) {
    const int64_t done = all[r].item<int64_t>();
    found.all_equal = found.all_equal && done == completed;
    if (done > found.steps || (done == found.steps && r < found.source)) {
      found.steps = done;
      found.source = r;
    }
  }
  return found;
}

void broadcastInitialState(Communicator& comm, Model& model) {
  std::vector<torch::Tensor> state = model.parameters();
  for (auto& b : model.buffers()) state.push_back(b);
  broadcastFromRank0(comm, state);
}

void transferState(Communicator& comm, int source, int64_t newest, int64_t completed,
                   const Replica& replica, int64_t& consumed) {
  torch::Tensor bytes;  // (n,) uint8: the packed state
  std::vector<torch::Tensor> size{torch::zeros({1}, torch::kLong)};
  if (comm.rank() == source) {
    const std::vector<char> packed =
        packState(captureState(replica.model, replica.optimizer, replica.scaler,
                               {{"step", completed}, {"samples", consumed}}));
    bytes =
        torch::from_blob(const_cast<char*>(packed.data()), {int64_t(packed.size())}, torch::kUInt8)
            .clone();
    size[0].fill_(bytes.numel());
  }
  const torch::Device on = comm.device();
  size[0] = size[0].to(on);
  comm.broadcast(size, source)->wait();
  const int64_t n = size[0].item<int64_t>();
  std::vector<torch::Tensor> blob{
      bytes.defined() ? bytes.to(on)
                      : torch::empty({n}, torch::TensorOptions().dtype(torch::kUInt8).device(on))};
  comm.broadcast(blob, source)->wait();
  if (completed == newest) return;
  const torch::Tensor host = blob[0].to(torch::kCPU).contiguous();
  const char* data = static_cast<const char*>(host.data_ptr());
  const LoadedCheckpoint state = unpackState(std::vector<char>(data, data + n));
  restoreState(state, replica.model, replica.optimizer, replica.scaler);
  consumed = state.counters.at("samples");
}

CheckpointState snapshotState(const Replica& replica, Communicator& comm, const RunPosition& at) {
  CheckpointState state = captureState(replica.model, replica.optimizer, replica.scaler,
                                       {{"step", at.steps},
                                        {"epoch", at.steps / at.steps_per_epoch},
                                        {"step_in_epoch", at.steps % at.steps_per_epoch},
                                        {"samples", at.samples},
                                        {"global_batch_size", at.global_batch_size},
                                        {"order_version", kSampleOrderVersion}});
  // The snapshot's copy to the host waited for the device: a collective that failed before
  // it is known now. Never save what a failed collective touched.
  comm.throwIfFailed();
  return state;
}

void reportRecovery(DistContext& dist, Clock::time_point begin, int64_t in_flight,
                    int64_t completed) {
  const double ms = secondsSince(begin) * 1e3;
  // Redone: the step in flight, unless a peer had finished it (then its state was taken).
  const int64_t lost = in_flight >= completed ? 1 : 0;
  const int64_t generation = dist.elastic->generation();
  dist.store->set(recoveryKey(generation), std::to_string(completed) + " " +
                                               std::to_string(dist.world_size) + " " +
                                               std::to_string(lost) + " " + std::to_string(ms));
  log::out(formatLogLine({{"recovered_generation", generation},
                          {"world_size", int64_t{dist.world_size}},
                          {"step", completed},
                          {"lost_steps", lost},
                          {"recovery_ms", ms}}));
}

}  // namespace trainrun
