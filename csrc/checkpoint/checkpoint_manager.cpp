// CheckpointManager: snapshot, background shard upload, commit by manifest, retention, resume.
#include "checkpoint/checkpoint_manager.h"

#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cstring>
#include <sstream>
#include <thread>

#include "checkpoint/layout.h"
#include "checkpoint/shard_layout.h"
#include "core/clock.h"
#include "core/logging.h"
#include "storage/storage_probe.h"
#include "store/store_keys.h"

namespace trainrun {
namespace {

constexpr int kFormatVersion = 1;

uint32_t crc32Of(const char* data, uint64_t n) {
  uLong crc = crc32(0L, Z_NULL, 0);
  // zlib takes uInt lengths: feed large buffers in 1 GiB pieces.
  for (uint64_t done = 0; done < n;) {
    uInt len = uInt(std::min<uint64_t>(n - done, 1u << 30));
    crc = crc32(crc, reinterpret_cast<const Bytef*>(data + done), len);
    done += len;
  }
  return uint32_t(crc);
}

// How long a rank other than 0 stays quiet after a failed probe, so that the launcher stops it
// once rank 0 has reported the failure (one line for the job instead of one per rank).
constexpr std::chrono::seconds kProbeQuietWindow{10};

// Builds the tensors this rank needs from the verified shards; StorageError if the manifest
// contradicts them (an unknown dtype, a piece outside its shard).
void assemble(const checkpoint::Manifest& m, const std::vector<std::string>& shards,
              int source_rank, LoadedCheckpoint& out) {
  for (const auto& e : m.tensors()) {
    if (e.rank() >= 0 && e.rank() != source_rank) continue;
    std::vector<int64_t> shape(e.shape().begin(), e.shape().end());
    torch::Tensor t = torch::empty(shape, torch::TensorOptions().dtype(dtypeFromName(e.dtype())));
    char* dst = static_cast<char*>(t.data_ptr());
    for (const auto& p : e.pieces()) {
      if (p.shard() < 0 || p.shard() >= int(shards.size()))
        throw StorageError("manifest piece of " + e.name() + " names a shard that is not listed");
      const std::string& shard = shards[p.shard()];
      if (p.offset() + p.length() > shard.size() ||
          p.tensor_offset() + p.length() > uint64_t(t.numel()) * t.element_size())
        throw StorageError("manifest piece of " + e.name() + " lies outside its shard");
      std::memcpy(dst + p.tensor_offset(), shard.data() + p.offset(), p.length());
    }
    (e.rank() >= 0 ? out.local : out.replicated)[e.name()] = t;
  }
}

}  // namespace

CheckpointManager::CheckpointManager(CheckpointOptions options, int rank, int world_size,
                                     Store* store, std::map<std::string, std::string> fingerprint)
    : options_(std::move(options)),
      rank_(rank),
      world_size_(world_size),
      store_(store),
      fingerprint_(std::move(fingerprint)),
      run_prefix_(options_.run_name),
      buffer_(std::make_shared<std::vector<char>>()) {
  storage_ = openStorage(options_.uri, options_.s3_endpoint);
}

CheckpointManager::~CheckpointManager() {
  if (!inflight_.valid()) return;
  try {
    inflight_.get();
  } catch (const std::exception& e) {
    log::error(std::string("checkpoint: ") + e.what());
  }
}

void CheckpointManager::probe() {
  // The probe object sits beside step folders and `latest`; resume and retention ignore it.
  std::string failure = probeStorage(*storage_, probeKey(run_prefix_, rank_, ::getpid()));
  if (!failure.empty()) failure = "checkpoint.uri " + storage_->describe() + ": " + failure;
  if (store_ == nullptr || world_size_ == 1) {
    if (!failure.empty()) throw ConfigError(failure);
    return;
  }
  const std::string own = failure.empty() ? "ok" : "error " + failure;
  store_->set(probeStatusKey(run_prefix_, rank_), own);
  if (rank_ == 0) {
    std::string first;
    for (int r = 0; r < world_size_ && first.empty(); ++r) {
      const std::string status = r == 0 ? own : store_->get(probeStatusKey(run_prefix_, r));
      if (status != "ok")
        first = (r == 0 ? "" : "rank " + std::to_string(r) + ": ") + status.substr(6);
    }
    store_->set(probeVerdictKey(run_prefix_), first.empty() ? "ok" : "failed");
    if (!first.empty()) throw ConfigError(first);
    return;
  }
  if (store_->get(probeVerdictKey(run_prefix_)) == "ok") return;
  // Rank 0 reports the failure and exits; the launcher then stops this rank. Speak up only if
  // nobody did that (a worker started without the launcher).
  std::this_thread::sleep_for(kProbeQuietWindow);
  throw ConfigError(failure.empty() ? "the checkpoint storage probe failed on another rank"
                                    : failure);
}

void CheckpointManager::collect(bool final) {
  try {
    inflight_.get();
    consecutive_failures_ = 0;
  } catch (const StorageError& e) {
    // Storage trouble is survivable: the committed checkpoints are untouched and the next
    // interval tries again. Other errors (a dead peer's missing shard status) are not.
    ++consecutive_failures_;
    if (final) throw;
    if (consecutive_failures_ >= options_.max_consecutive_failures) {
      throw StorageError(log::cat(e.what(), " (", consecutive_failures_,
                                  " checkpoint saves failed in a row; "
                                  "checkpoint.max_consecutive_failures is ",
                                  options_.max_consecutive_failures, ")"));
    }
    // Rank 0 hears of every failure (its own, or another rank's through the commit): one
    // warning per failed save.
    if (rank_ == 0)
      log::warn(log::cat("CHECKPOINT NOT SAVED, training continues (failure ",
                         consecutive_failures_, " in a row of at most ",
                         options_.max_consecutive_failures - 1,
                         " tolerated; the next save tries again): ", e.what()));
  }
}

void CheckpointManager::poll() {
  if (inflight_.valid() && inflight_.wait_for(std::chrono::seconds(0)) == std::future_status::ready)
    collect(/*final=*/false);
}

void CheckpointManager::wait() {
  if (inflight_.valid()) collect(/*final=*/true);
}

void CheckpointManager::abandon() {
  if (!inflight_.valid()) return;
  abandoned_ = true;
  try {
    inflight_.get();
  } catch (const std::exception& e) {
    if (rank_ == 0) log::warn(std::string("CHECKPOINT NOT SAVED: ") + e.what());
  }
  abandoned_ = false;
}

std::string CheckpointManager::shardStatus(int64_t step, int r) {
  const std::string key = shardStatusKey(run_prefix_, step, r);
  const Clock::time_point deadline = Clock::now() + store_->timeout();
  while (!store_->check({key}) && Clock::now() < deadline) {
    if (abandoned_)
      throw StorageError("checkpoint step " + std::to_string(step) + " not committed: the group " +
                         "re-formed before rank " + std::to_string(r) + " wrote its shard");
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return store_->get(key);  // TimeoutError if it never came
}

double CheckpointManager::save(int64_t step, const CheckpointState& state) {
  const Clock::time_point start = Clock::now();
  if (inflight_.valid()) {
    if (inflight_.wait_for(std::chrono::seconds(0)) != std::future_status::ready && rank_ == 0)
      log::out("checkpoint: step " + std::to_string(step) +
               " waits for the previous checkpoint to finish uploading");
    collect(/*final=*/false);
  }
  const Clock::time_point snapshot_start = Clock::now();
  checkpoint::Manifest plan = planShards(state, world_size_);
  plan.set_step(step);

  // Snapshot: copy exactly the bytes this rank writes. Pieces of shard `rank_` in plan order.
  std::vector<char>& buf = *buffer_;
  buf.resize(plan.shards(rank_).size());
  size_t replicated_index = 0, local_index = 0;
  for (const auto& entry : plan.tensors()) {
    const bool local = entry.rank() >= 0;
    if (local && entry.rank() != rank_) continue;
    const torch::Tensor& t =
        local ? state.local[local_index++].second : state.replicated[replicated_index++].second;
    const char* src = static_cast<const char*>(t.data_ptr());
    for (const auto& piece : entry.pieces())
      if (piece.shard() == rank_)
        std::memcpy(buf.data() + piece.offset(), src + piece.tensor_offset(), piece.length());
  }
  for (const auto& [name, value] : state.counters) (*plan.mutable_counters())[name] = value;
  const double stall = secondsSince(start);

  auto buffer = buffer_;
  auto work = [this, step, buffer, snapshot_start, plan = std::move(plan)]() mutable {
    const Clock::time_point begin = Clock::now();
    std::string status = writeShard(step, *buffer);
    if (rank_ == 0) commit(step, std::move(plan), status, begin);
    last_save_seconds_ = secondsSince(snapshot_start);
  };
  inflight_step_ = step;
  inflight_start_ = snapshot_start;
  if (options_.async) {
    inflight_ = std::async(std::launch::async, std::move(work));
    return stall;
  }
  // Synchronous: the same outcome handling as a background save, collected by the next call.
  std::promise<void> done;
  try {
    work();
    done.set_value();
  } catch (...) {
    done.set_exception(std::current_exception());
  }
  inflight_ = done.get_future();
  return secondsSince(start);
}

std::string CheckpointManager::writeShard(int64_t step, const std::vector<char>& buffer) {
  const std::string key = shardObjectKey(run_prefix_, step, rank_, world_size_);
  std::string status;
  try {
    const uint32_t crc = crc32Of(buffer.data(), buffer.size());
    storage_->put(key, buffer.data(), buffer.size());
    status = "ok " + std::to_string(buffer.size()) + " " + std::to_string(crc);
  } catch (const std::exception& e) {
    status = std::string("error ") + e.what();
  }
  // Rank 0 waits for this before committing; an error tells it not to wait in vain.
  if (store_ != nullptr) store_->set(shardStatusKey(run_prefix_, step, rank_), status);
  if (status.rfind("error ", 0) == 0)
    throw StorageError("checkpoint step " + std::to_string(step) +
                       " not saved: " + status.substr(6));
  return status;
}

void CheckpointManager::commit(int64_t step, checkpoint::Manifest manifest,
                               const std::string& own_status, Clock::time_point begin) {
  uint64_t total = 0;
  for (int r = 0; r < world_size_; ++r) {
    std::string status = r == rank_ ? own_status : shardStatus(step, r);
    std::istringstream in(status);
    std::string word;
    uint64_t size = 0;
    uint32_t crc = 0;
    in >> word >> size >> crc;
    if (word != "ok")
      throw StorageError("checkpoint step " + std::to_string(step) + " not committed: rank " +
                         std::to_string(r) + " failed to write its shard: " + status.substr(6));
    if (size != manifest.shards(r).size())
      throw StorageError("checkpoint step " + std::to_string(step) + ": rank " + std::to_string(r) +
                         " wrote " + std::to_string(size) + " bytes, expected " +
                         std::to_string(manifest.shards(r).size()));
    manifest.mutable_shards(r)->set_crc32(crc);
    total += size;
  }
  manifest.set_format_version(kFormatVersion);
  manifest.set_run_name(run_prefix_);
  for (const auto& [k, v] : fingerprint_) (*manifest.mutable_fingerprint())[k] = v;
  manifest.set_created_unix_ms(std::chrono::duration_cast<std::chrono::milliseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count());
  const std::string dir = stepPrefix(run_prefix_, step);
  try {
    storage_->put(manifestKey(run_prefix_, step), manifest.SerializeAsString());  // the commit
    last_committed_step_ = step;
  } catch (const StorageError& e) {
    throw StorageError("checkpoint step " + std::to_string(step) + " not committed: " + e.what());
  }
  // Committed. `latest` and retention are housekeeping: resume lists manifests, and the next
  // commit retries the deletions, so their failures are warnings, not a failed save.
  try {
    storage_->put(latestKey(run_prefix_), latestContents(step));
    applyRetention(step);
  } catch (const StorageError& e) {
    log::warn(log::cat("checkpoint step ", step, " is committed, but updating `latest` or ",
                       "deleting old checkpoints failed (the next commit retries): ", e.what()));
  }
  log::out(log::cat("checkpoint step=", step, " committed=", storage_->describe(), "/", dir,
                    " bytes=", total, " shards=", world_size_,
                    " write_seconds=", secondsSince(begin)));
}

std::optional<double> CheckpointManager::lastSaveSeconds() const {
  const double seconds = last_save_seconds_;
  if (seconds < 0) return std::nullopt;
  return seconds;
}

std::optional<std::pair<int64_t, double>> CheckpointManager::inflight() {
  if (!inflight_.valid() ||
      inflight_.wait_for(std::chrono::seconds(0)) == std::future_status::ready)
    return std::nullopt;
  return std::make_pair(inflight_step_, secondsSince(inflight_start_));
}

std::vector<int64_t> CheckpointManager::committedSteps() {
  std::vector<int64_t> steps;
  for (const std::string& key : storage_->list(run_prefix_ + "/")) {
    const auto parsed = parseCheckpointKey(run_prefix_, key);
    if (parsed && parsed->type == CheckpointObject::kManifest) steps.push_back(parsed->step);
  }
  std::sort(steps.begin(), steps.end());
  return steps;
}

void CheckpointManager::applyRetention(int64_t newest_step) {
  std::vector<int64_t> committed = committedSteps();
  std::vector<int64_t> keep(
      committed.end() - std::min<size_t>(committed.size(), options_.keep_last), committed.end());
  // Keep the newest keep_last commits, and anything newer than this commit (none today: one
  // save in flight at a time). Older uncommitted folders are leftovers of failed saves. Keys
  // outside step folders (`latest`, probes) stay.
  auto doomed = [&](const std::string& key, bool manifest_only) {
    const auto parsed = parseCheckpointKey(run_prefix_, key);
    if (!parsed || parsed->step < 0 || parsed->step > newest_step ||
        std::count(keep.begin(), keep.end(), parsed->step))
      return false;
    return !manifest_only || parsed->type == CheckpointObject::kManifest;
  };
  // Delete the manifests first: a checkpoint stops being "committed" before its shards go.
  for (const std::string& key : storage_->list(run_prefix_ + "/"))
    if (doomed(key, /*manifest_only=*/true)) storage_->remove(key);
  for (const std::string& key : storage_->list(run_prefix_ + "/"))
    if (doomed(key, /*manifest_only=*/false)) storage_->remove(key);
}

std::optional<LoadedCheckpoint> CheckpointManager::restore(const std::string& resume_uri) {
  if (resume_uri != "auto") {
    auto [root, dir] = splitCheckpointUri(resume_uri);
    auto storage = openStorage(root, options_.s3_endpoint);
    return load(*storage, dir, resume_uri);
  }
  // A LIST that fails after its retries fails the restore: a missing listing is not "no
  // checkpoints" (the S3 backend also refuses incomplete pages).
  std::vector<int64_t> steps = committedSteps();
  for (auto it = steps.rbegin(); it != steps.rend(); ++it) {
    const std::string dir = stepPrefix(run_prefix_, *it);
    const std::string where = storage_->describe() + "/" + dir;
    try {
      LoadedCheckpoint loaded = load(*storage_, dir, where);
      last_committed_step_ = *it;
      return loaded;
    } catch (const CorruptCheckpointError& e) {
      if (rank_ == 0)
        log::warn("skipping checkpoint " + where + ": " + e.what() +
                  (it + 1 != steps.rend() ? "; trying the previous one" : ""));
    } catch (const ConfigError&) {
      throw;  // a config mismatch is the user's call, not a reason to fall back
    } catch (const StorageError& e) {
      // The network, not the checkpoint: falling back would silently throw away progress.
      throw StorageError("cannot read checkpoint " + where + ": " + e.what() +
                         " (a storage failure, not a broken checkpoint: not falling back to an "
                         "older one; run again once the storage answers)");
    }
  }
  if (!steps.empty())
    throw StorageError("no valid checkpoint under " + storage_->describe() + "/" + run_prefix_ +
                       " (all " + std::to_string(steps.size()) +
                       " failed verification; set resume: never to start fresh)");
  return std::nullopt;
}

void CheckpointManager::checkFingerprint(const checkpoint::Manifest& m,
                                         const std::string& where) const {
  for (const auto& [key, mine] : fingerprint_) {
    auto it = m.fingerprint().find(key);
    const std::string theirs = it == m.fingerprint().end() ? "(unset)" : it->second;
    if (theirs == mine || options_.force_resume || key == kDataFingerprintKey ||
        key == kDataListingKey)
      continue;
    throw ConfigError("checkpoint " + where + " was saved with " + key + ": " + theirs +
                      " but this config has " + key + ": " + mine +
                      " (set resume: never to start fresh, or checkpoint.force_resume: true)");
  }
  // Checked after the config keys: other data with another model is a config mismatch.
  if (auto mine = fingerprint_.find(kDataFingerprintKey);
      mine != fingerprint_.end() && !options_.force_resume) {
    auto theirs = m.fingerprint().find(kDataFingerprintKey);
    if (theirs != m.fingerprint().end() && theirs->second != mine->second) {
      auto listing = m.fingerprint().find(kDataListingKey);
      throw DataChangedError(where, theirs->second, mine->second,
                             listing == m.fingerprint().end() ? "" : listing->second);
    }
  }
}

LoadedCheckpoint CheckpointManager::load(Storage& storage, const std::string& dir,
                                         const std::string& where) {
  LoadedCheckpoint out;
  out.where = where;
  std::string bytes;
  try {
    // Whole or not at all: size() is a HEAD's Content-Length, read() demands every byte.
    bytes = storage.get(dir + "/" + kManifestName);
  } catch (const NotFoundError&) {
    throw CorruptCheckpointError("manifest.pb missing (the checkpoint was never committed)");
  }
  checkpoint::Manifest& m = out.manifest;
  if (!m.ParseFromString(bytes) || m.format_version() != kFormatVersion)
    throw CorruptCheckpointError("manifest.pb is unreadable or of an unknown format (" +
                                 std::to_string(bytes.size()) + " bytes read whole)");

  checkFingerprint(m, where);

  // Read and verify every shard in parallel: each rank needs all replicated bytes anyway.
  std::vector<std::string> shards(m.shards_size());
  std::vector<std::future<void>> reads;
  for (int s = 0; s < m.shards_size(); ++s) {
    reads.push_back(std::async(std::launch::async, [&, s] {
      const checkpoint::Shard& info = m.shards(s);
      std::optional<uint64_t> size = storage.size(dir + "/" + info.key());
      if (!size) throw CorruptCheckpointError(info.key() + " is missing");
      if (*size != info.size())
        throw CorruptCheckpointError(info.key() + " is " + std::to_string(*size) +
                                     " bytes, expected " + std::to_string(info.size()) +
                                     " (truncated or overwritten)");
      shards[s].resize(info.size());
      try {
        storage.read(dir + "/" + info.key(), 0, info.size(), shards[s].data());
      } catch (const NotFoundError&) {
        throw CorruptCheckpointError(info.key() + " is missing");
      }
      if (crc32Of(shards[s].data(), info.size()) != info.crc32())
        throw CorruptCheckpointError(info.key() + " fails its CRC-32 check (corrupt)");
    }));
  }
  // A proven defect of any shard outranks another shard's transient error.
  std::exception_ptr first, corrupt;
  for (auto& r : reads) {
    try {
      r.get();
    } catch (const CorruptCheckpointError&) {
      if (!corrupt) corrupt = std::current_exception();
    } catch (...) {
      if (!first) first = std::current_exception();
    }
  }
  if (corrupt) std::rethrow_exception(corrupt);
  if (first) std::rethrow_exception(first);

  const int source_rank = rank_ % std::max(1, m.world_size());
  try {
    assemble(m, shards, source_rank, out);
  } catch (const CorruptCheckpointError&) {
    throw;
  } catch (const StorageError& e) {  // an unknown dtype: the manifest's content, no I/O here
    throw CorruptCheckpointError(e.what());
  }
  for (const auto& [k, v] : m.counters()) out.counters[k] = v;
  return out;
}

}  // namespace trainrun
