// The trainer's checkpointable state: model, optimizer, RNG, counters <-> CheckpointState.
#pragma once

#include <torch/torch.h>

#include <map>
#include <string>
#include <vector>

#include "amp/loss_scaler.h"
#include "checkpoint/checkpoint_manager.h"
#include "config/config.h"
#include "models/model.h"

namespace trainrun {

// Names: "model.<param>", "buffer.<name>", "optim.<param>.<slot>" (momentum_buffer, exp_avg,
// exp_avg_sq, step), "amp.<field>" (loss scaler, when enabled) and the local "rng.cpu".
// Tensors are moved to the CPU; CPU ones are views of live state: snapshot them
// (CheckpointManager::save does) before training continues.
CheckpointState captureState(Model& model, torch::optim::Optimizer& optimizer,
                             const LossScaler& scaler, std::map<std::string, int64_t> counters);

// Loads a checkpoint into the model, the optimizer and this process's RNG. Throws
// StorageError when a tensor is missing or has another shape.
void restoreState(const LoadedCheckpoint& ckpt, Model& model, torch::optim::Optimizer& optimizer,
                  LossScaler& scaler);

// One buffer holding a whole CheckpointState (pickled), for handing state from one rank to
// another (elastic recovery) without storage; unpackState reads it back as a checkpoint.
std::vector<char> packState(const CheckpointState& state);
LoadedCheckpoint unpackState(const std::vector<char>& bytes);

// The config values a checkpoint must agree with to be resumed, and the input data's digest
// (`data_sha256`, under kDataFingerprintKey, when not empty) and listing (`data_listing`, under
// kDataListingKey, when not empty: what names the change when the digest differs).
std::map<std::string, std::string> stateFingerprint(const config::JobConfig& config,
                                                    const std::string& data_sha256,
                                                    const std::string& data_listing = "");

}  // namespace trainrun
