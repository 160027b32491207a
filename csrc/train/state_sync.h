// State sync and elastic recovery: which rank holds the newest state, handing it to the others.
#pragma once

#include <torch/torch.h>

#include <cstdint>

#include "amp/loss_scaler.h"
#include "checkpoint/checkpoint_manager.h"
#include "core/clock.h"
#include "distributed/communicator.h"
#include "distributed/init.h"
#include "models/model.h"

namespace trainrun {

// The state every replica must hold alike: what a transfer or a snapshot copies.
struct Replica {
  Model& model;
  torch::optim::Optimizer& optimizer;
  LossScaler& scaler;
};

// Every rank's completed steps (-1: no state yet), gathered: the most steps any rank holds, the
// lowest rank holding them, and whether every rank holds as many as this one.
struct NewestState {
  int64_t steps = -1;
  int source = 0;
  bool all_equal = true;
};
NewestState findNewestState(Communicator& comm, int64_t completed);

// The run starts (no rank holds state): rank 0's parameters and buffers on every rank.
void broadcastInitialState(Communicator& comm, Model& model);

// Hands `source`'s whole state (parameters, optimizer, loss scale, RNG, step, and `consumed`,
// the sample stream's position) to every rank; the ranks whose `completed` differs from
// `newest` load it (broadcast: every rank calls it).
void transferState(Communicator& comm, int source, int64_t newest, int64_t completed,
                   const Replica& replica, int64_t& consumed);

// Where a run is: steps done and samples consumed (the sample stream's position), in batches
// of global_batch_size from epochs of steps_per_epoch steps.
struct RunPosition {
  int64_t steps = 0;
  int64_t samples = 0;
  int64_t steps_per_epoch = 1;
  int64_t global_batch_size = 0;
};

// The state at `at`, with the counters a checkpoint keeps (step, epoch, samples, the global
// batch and the sample order's version). Throws the error of a collective that failed before
// the snapshot (never save what it touched).
CheckpointState snapshotState(const Replica& replica, Communicator& comm, const RunPosition& at);

// Elastic recovery ended on the rank whose state every rank took: records what it cost in the
// store (membership metrics read it back) and logs the recovered_generation line. `in_flight`
// is the step a failure interrupted (-1: none), `begin` when recovery began.
void reportRecovery(DistContext& dist, Clock::time_point begin, int64_t in_flight,
                    int64_t completed);

}  // namespace trainrun
