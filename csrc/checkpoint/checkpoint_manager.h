// CheckpointManager: asynchronous, sharded, atomic checkpoints of a run, and resume.
#pragma once

#include <atomic>
#include <chrono>
#include <future>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "checkpoint/checkpoint_state.h"
#include "checkpoint/manifest.pb.h"
#include "core/clock.h"
#include "core/error.h"
#include "storage/storage.h"
#include "store/store.h"

namespace trainrun {

// A verified fact makes a checkpoint unusable: its manifest is complete but does not parse, a
// shard is missing (confirmed by a successful HEAD or LIST), has the wrong size or fails its
// CRC-32. Only this makes resume fall back to an older checkpoint; any other StorageError
// (a timeout, a 503 after every retry) says nothing about the checkpoint and fails the run.
class CorruptCheckpointError : public StorageError {
 public:
  using StorageError::StorageError;
};

// The fingerprint key of the input data's content digest. Unlike the other keys, a mismatch is
// not a config error: the data changed, so the run is a new one (DataChangedError).
inline constexpr const char* kDataFingerprintKey = "data.sha256";
// The data's own description of itself (a token corpus's shard manifest, as text), saved for
// the message that names what changed; never compared by the manager.
inline constexpr const char* kDataListingKey = "data.listing";

// resume found a checkpoint of this run made from other data (its kDataFingerprintKey differs).
class DataChangedError : public ConfigError {
 public:
  DataChangedError(const std::string& where, std::string saved, std::string current,
                   std::string saved_listing = "")
      : ConfigError("checkpoint " + where + " was trained on other data (data.sha256 " + saved +
                    ", now " + current +
                    "; set resume: never to start fresh, or checkpoint.force_resume: true)"),
        saved_(std::move(saved)),
        current_(std::move(current)),
        saved_listing_(std::move(saved_listing)) {}
  const std::string& saved() const { return saved_; }
  const std::string& current() const { return current_; }
  const std::string& savedListing() const { return saved_listing_; }  // empty: none was saved

 private:
  std::string saved_, current_, saved_listing_;
};

struct CheckpointOptions {
  std::string uri;            // root: local folder or s3://bucket/prefix
  std::string run_name;       // checkpoints go to <uri>/<run_name>/step-<8 digits>/
  int64_t keep_last = 2;      // committed checkpoints to keep
  bool async = true;          // write in the background after the host-memory snapshot
  bool force_resume = false;  // load despite a fingerprint mismatch
  std::string s3_endpoint;
  // Saves that may fail in a row (after the storage's own retries) before the run fails;
  // earlier failures are warnings and the next save tries again. The final save may not fail.
  int64_t max_consecutive_failures = 3;
};

// A checkpoint read back: every replicated tensor, this rank's local tensors, the counters.
struct LoadedCheckpoint {
  std::string where;  // ".../step-00000100"
  checkpoint::Manifest manifest;
  std::map<std::string, torch::Tensor> replicated;
  std::map<std::string, torch::Tensor> local;
  std::map<std::string, int64_t> counters;
};

// Save protocol (every rank calls save() at the same steps):
//   1. snapshot: copy this rank's 1/N of the replicated bytes plus its local tensors into a
//      reused host buffer. This is the only part that stalls training.
//   2. background: CRC-32, upload the shard, publish "ok size crc" (or the error) in the store.
//   3. rank 0, background: wait for every shard, write manifest.pb (the commit), then
//      `latest`, then delete checkpoints beyond keep_last and leftovers of failed saves.
// At most one save is in flight: save() first waits for the previous one. The next poll() or
// save() collects a failed save: it logs a warning and training goes on, until
// max_consecutive_failures saves in a row have failed; then it throws. wait() (after the
// final save) throws on any failure. A failed save never touches committed checkpoints.
class CheckpointManager {
 public:
  // `store` is null when the run has one rank; waits for other ranks' results are bounded by
  // its deadline (the group's). `fingerprint` holds the config values that must match on
  // resume.
  CheckpointManager(CheckpointOptions options, int rank, int world_size, Store* store,
                    std::map<std::string, std::string> fingerprint);
  ~CheckpointManager();

  // Proves, before the first step, that this rank can list, write, read back and delete
  // objects under the run's folder with its own credentials; every rank calls it. Throws
  // ConfigError (exit code 2) with one line naming the location, the operation and the fix;
  // with a store, rank 0 reports the first rank's failure and the other ranks stay quiet.
  void probe();

  // Returns the stall: seconds spent before training may continue.
  double save(int64_t step, const CheckpointState& state);
  void poll();
  void wait();
  // Elastic recovery: the group re-formed, so a save in flight may wait for a shard that a
  // lost rank will never write. Ends it now (rank 0's commit stops waiting; nothing is
  // committed) and logs it as a failed save. Returns once nothing is in flight.
  void abandon();
  // The group re-formed with another membership: later saves shard over `world_size` ranks.
  // Call after abandon() (nothing in flight).
  void regroup(int rank, int world_size) {
    rank_ = rank;
    world_size_ = world_size;
  }

  // resume "auto": the newest committed checkpoint of the run that verifies; one proven
  // broken (CorruptCheckpointError) is skipped with a warning naming the problem, and the
  // previous one tried. A checkpoint of other data throws DataChangedError (unless
  // force_resume); one saved before data digests existed (no kDataFingerprintKey) loads. Any other
  // storage error fails the restore: it is never a reason to fall back. nullopt if the run has no
  // committed checkpoint. Otherwise `resume_uri` names one checkpoint folder, which must load.
  std::optional<LoadedCheckpoint> restore(const std::string& resume_uri = "auto");

  // Saves and restores go to <uri>/<run_name>/ from now on (a run that starts fresh under
  // another name). Nothing may be in flight.
  void switchRun(const std::string& run_name) {
    options_.run_name = run_name;
    run_prefix_ = run_name;
  }

  // Steps of committed checkpoints of this run, oldest first.
  std::vector<int64_t> committedSteps();

  // What an emergency save before a deadline is decided from. Seconds from the snapshot to the
  // commit (rank 0; other ranks: to their shard written) of the newest save that succeeded;
  // nullopt before the first.
  std::optional<double> lastSaveSeconds() const;
  // The newest checkpoint that rank 0 committed in this process or that resume loaded; -1 if
  // none (other ranks hear of commits only through resume).
  int64_t lastCommittedStep() const { return last_committed_step_; }
  // The save in flight: its step and the seconds since its snapshot began; nullopt if none.
  std::optional<std::pair<int64_t, double>> inflight();

 private:
  // Uploads this rank's shard and publishes "ok <size> <crc>" (or the error) in the store.
  std::string writeShard(int64_t step, const std::vector<char>& buffer);
  void commit(int64_t step, checkpoint::Manifest manifest, const std::string& own_status,
              Clock::time_point begin);
  // Rank r's "ok size crc" (or error) for `step`, waited for within the store's deadline;
  // StorageError once abandon() is called.
  std::string shardStatus(int64_t step, int r);
  void applyRetention(int64_t newest_step);
  // Takes the finished save's outcome: a failure is a warning until it is the
  // max_consecutive_failures-th in a row, or `final`.
  void collect(bool final);
  LoadedCheckpoint load(Storage& storage, const std::string& dir, const std::string& where);
  // The saved fingerprint against this run's: ConfigError for a config key that differs,
  // DataChangedError for other data (unless checkpoint.force_resume).
  void checkFingerprint(const checkpoint::Manifest& m, const std::string& where) const;

  CheckpointOptions options_;
  int rank_, world_size_;
  Store* store_;
  std::map<std::string, std::string> fingerprint_;
  std::unique_ptr<Storage> storage_;
  std::string run_prefix_;  // "<run_name>"
  std::future<void> inflight_;
  int64_t inflight_step_ = -1;
  Clock::time_point inflight_start_;
  std::atomic<double> last_save_seconds_{-1};  // written by the background save
  std::atomic<int64_t> last_committed_step_{-1};
  int64_t consecutive_failures_ = 0;
  std::shared_ptr<std::vector<char>> buffer_;  // snapshot buffer, reused between saves
  std::atomic<bool> abandoned_{false};         // set by abandon() while it collects the save
};

}  // namespace trainrun
