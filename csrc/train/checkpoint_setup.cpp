// Opening checkpoint storage, probing the output folders and resuming a run.
#include "train/checkpoint_setup.h"

#include <unistd.h>

#include "core/error.h"
#include "core/logging.h"
#include "data/sample_order.h"
#include "data/token_corpus.h"
#include "metrics/metrics.h"
#include "pipeline/output_upload.h"
#include "storage/local/local_storage.h"
#include "storage/storage_probe.h"
#include "train/train_state.h"

namespace trainrun {

std::unique_ptr<CheckpointManager> openCheckpoints(const config::JobConfig& config,
                                                   const DistContext& dist,
                                                   const std::string& run_name,
                                                   const std::string& data_sha256,
                                                   const std::string& data_listing) {
  const auto& c = config.checkpoint();
  const std::string uri = config::checkpointUri(config);
  const std::string& resume = config.resume();
  if (uri.empty() && (resume == "auto" || resume == "never")) return nullptr;
  CheckpointOptions options;
  options.uri = uri.empty() ? resume : uri;  // resume-only runs read but never write
  options.run_name = run_name;
  options.keep_last = c.keep_last();
  options.async = c.async();
  options.force_resume = c.force_resume();
  options.s3_endpoint = c.s3_endpoint();
  options.max_consecutive_failures = c.max_consecutive_failures();
  auto checkpoints =
      std::make_unique<CheckpointManager>(options, dist.rank, dist.world_size, dist.store.get(),
                                          stateFingerprint(config, data_sha256, data_listing));
  if (!uri.empty()) checkpoints->probe();
  return checkpoints;
}

void probeOutputs(const config::JobConfig& config, int rank, const std::string& output_dir) {
  if (rank != 0) return;
  auto output = makeLocalStorage(output_dir);
  const std::string failure = probeStorage(*output, ".probe-rank0-" + std::to_string(::getpid()));
  if (!failure.empty()) throw ConfigError("output.dir " + output_dir + ": " + failure);
  if (!config.output().uri().empty())  // uploaded at the end: prove now that it can be
    pipeline::probeOutputUri(config.output().uri(), config.checkpoint().s3_endpoint());
}

namespace {

// The sample stream a resume continues: at `samples`, in batches of `saved_batch` until now.
void checkResumedStream(const config::JobConfig& config, int rank, const std::string& where,
                        int64_t samples, int64_t saved_batch, int64_t order_version) {
  const int64_t batch = config.train().global_batch_size();
  const bool streamed = config.data().name() == "tokens";
  if (streamed && order_version != kSampleOrderVersion && rank == 0)
    log::warn("checkpoint " + where + " was saved with sample order version " +
              std::to_string(order_version) + "; this build's is " +
              std::to_string(kSampleOrderVersion) + ": the stream goes on from sample " +
              std::to_string(samples) + " in this build's order, not the saved run's");
  if (saved_batch == batch || config.checkpoint().force_resume()) return;
  if (!streamed)
    throw ConfigError("checkpoint " + where + " was saved with train.global_batch_size " +
                      std::to_string(saved_batch) + " but this config has " +
                      std::to_string(batch) + ": data.name=" + config.data().name() +
                      " cuts each epoch into batches of one size, so its position would move; "
                      "set train.global_batch_size: " +
                      std::to_string(saved_batch) + ", or resume: never to start fresh");
  if (rank == 0)
    log::out("resuming at sample " + std::to_string(samples) +
             " of the same sample stream, "
             "now grouped into global batches of " +
             std::to_string(batch) + " (checkpoint: " + std::to_string(saved_batch) + ")");
}

// Token shards: "; 2 shards changed: ..." from the listing the checkpoint saved; else "".
std::string shardsChanged(const DataChangedError& e, const TrainEvalSplit& data) {
  if (!data.corpus || e.savedListing().empty()) return "";
  const ShardManifest saved = manifestFromText(e.savedListing(), "the checkpoint's shard listing");
  const std::vector<ShardChange> changes = diffManifests(saved, data.corpus->manifest());
  return changes.empty() ? "" : "; " + describeChanges(changes);
}

}  // namespace

std::optional<Resumed> resumeFromCheckpoint(CheckpointManager& checkpoints,
                                            const config::JobConfig& config, int rank,
                                            std::string& run_name, const Replica& replica,
                                            const TrainEvalSplit& data) {
  const std::string& resume = config.resume();
  std::optional<LoadedCheckpoint> ckpt;
  try {
    ckpt = checkpoints.restore(resume);
  } catch (const DataChangedError& e) {
    const std::string changed = shardsChanged(e, data);
    // A named checkpoint of other data is the user's mistake.
    if (resume != "auto") throw ConfigError(e.what() + changed);
    // The same command on new data: a new run, in a folder of its own, so the old run's
    // checkpoints stay and a re-run on this data resumes this one. Every rank read the same
    // manifest, so every rank takes this branch.
    const std::string fresh = run_name + "-data-" + e.current().substr(0, 8);
    if (rank == 0)
      log::out("data changed since run " + run_name + "'s newest checkpoint (data.sha256 " +
               e.saved().substr(0, 12) + " -> " + e.current().substr(0, 12) +
               "): starting fresh as run " + fresh + "; the old run's checkpoints stay" + changed);
    run_name = fresh;
    checkpoints.switchRun(fresh);
    ckpt = checkpoints.restore(resume);
  }
  if (!ckpt) return std::nullopt;
  restoreState(*ckpt, replica.model, replica.optimizer, replica.scaler);
  if (data.table) checkRestoredTable(config, *data.table, replica.model, ckpt->where);
  Resumed resumed{ckpt->where, ckpt->counters.at("step"), 0};
  const int64_t batch = config.train().global_batch_size();
  auto counter = [&](const char* key, int64_t otherwise) {
    auto it = ckpt->counters.find(key);
    return it == ckpt->counters.end() ? otherwise : it->second;
  };
  const int64_t saved_batch = counter("global_batch_size", batch);  // older checkpoints: unsaved
  resumed.samples = counter("samples", resumed.step * saved_batch);
  checkResumedStream(config, rank, ckpt->where, resumed.samples, saved_batch,
                     counter("order_version", kSampleOrderVersion));
  if (rank == 0)
    log::out(formatLogLine({{"resumed", ckpt->where},
                            {"step", resumed.step},
                            {"saved_world_size", int64_t{ckpt->manifest.world_size()}},
                            {"samples", resumed.samples}}));
  return resumed;
}

void checkRestoredTable(const config::JobConfig& config, const TableInfo& table, Model& model,
                        const std::string& where) {
  if (config.checkpoint().force_resume()) return;
  // The statistics follow from the data alone: different ones mean different training data.
  for (const auto& item : model.named_buffers()) {
    const torch::Tensor* fresh = item.key() == "input_mean"  ? &table.mean
                                 : item.key() == "input_std" ? &table.std
                                 : item.key() == "classes"   ? &table.classes
                                                             : nullptr;
    if (fresh && !torch::equal(item.value().to(torch::kCPU), *fresh))
      throw ConfigError("checkpoint " + where + " was trained on other data (its " + item.key() +
                        " differs from this data's); start a new run (resume: never, or another "
                        "run.name), or set checkpoint.force_resume: true to keep its statistics");
  }
}

}  // namespace trainrun
