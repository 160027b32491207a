// Checkpoints at the start of a run: opening their storage, probing the outputs, resuming.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "checkpoint/checkpoint_manager.h"
#include "config/config.h"
#include "data/dataset.h"
#include "distributed/init.h"
#include "train/state_sync.h"

namespace trainrun {

// The CheckpointManager of checkpoint.uri (probed: storage that cannot work fails in seconds,
// not at the first save), or of a named `resume` source for a run that only reads; null when
// checkpoints are off. `data_sha256` joins the resume fingerprint, and `data_listing` (a token
// corpus's manifest as text) is saved beside it to name what changed.
std::unique_ptr<CheckpointManager> openCheckpoints(const config::JobConfig& config,
                                                   const DistContext& dist,
                                                   const std::string& run_name,
                                                   const std::string& data_sha256,
                                                   const std::string& data_listing = "");

// Rank 0 writes the outputs at the end of the run: proves now that output.dir (and output.uri,
// if set) can take them (ConfigError).
void probeOutputs(const config::JobConfig& config, int rank, const std::string& output_dir);

// Where a resumed run started from.
struct Resumed {
  std::string where;  // the checkpoint
  int64_t step = 0;
  int64_t samples = 0;  // samples consumed: the sample stream's position
};

// Resumes from the checkpoint config.resume names ("auto": the run's newest) into `replica`;
// nullopt when there is none. When the newest checkpoint of run `run_name` was trained on
// other data, "auto" starts fresh as a new run and renames `run_name` (and `checkpoints`); a
// named checkpoint is refused. Token shards: either way the line names the shards that changed.
// Tables: the restored standardization must be this data's (ConfigError). Another
// train.global_batch_size than the checkpoint's: token shards (data.name=tokens) continue the
// same sample stream grouped into the new batches, and say so; in-memory data, whose sampler
// cuts epochs into batches, is refused (ConfigError naming both sizes).
std::optional<Resumed> resumeFromCheckpoint(CheckpointManager& checkpoints,
                                            const config::JobConfig& config, int rank,
                                            std::string& run_name, const Replica& replica,
                                            const TrainEvalSplit& data);

// Tables: the standardization restored into `model` from checkpoint `where` must be the one
// `table` gives (ConfigError), unless checkpoint.force_resume.
void checkRestoredTable(const config::JobConfig& config, const TableInfo& table, Model& model,
                        const std::string& where);

}  // namespace trainrun
