// The names of a run's checkpoint objects, made and parsed in this one place.
//
//   <run>/step-00000400/manifest.pb               the commit of step 400 (written last)
//   <run>/step-00000400/shard-00001-of-00004.bin  rank 1's shard of 4
//   <run>/latest                                  "step-00000400\n", the newest commit
//   <run>/.probe-rank<r>-<pid>                    rank r's start-up probe object
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>

namespace trainrun {

inline constexpr const char* kManifestName = "manifest.pb";
inline constexpr const char* kLatestName = "latest";

// "step-00000100" for 100 (at least 8 digits).
std::string stepDir(int64_t step);
// 100 for "step-00000100"; nullopt for anything stepDir() does not make.
std::optional<int64_t> parseStepDir(const std::string& name);

// "shard-00001-of-00004.bin" for rank 1 of 4.
std::string shardKey(int rank, int world_size);
// {1, 4} for "shard-00001-of-00004.bin"; nullopt for anything shardKey() does not make or a
// rank outside [0, world_size).
std::optional<std::pair<int, int>> parseShardKey(const std::string& name);

// Keys of the objects above for `run`.
std::string stepPrefix(const std::string& run, int64_t step);  // "<run>/step-00000400"
std::string manifestKey(const std::string& run, int64_t step);
std::string shardObjectKey(const std::string& run, int64_t step, int rank, int world_size);
std::string latestKey(const std::string& run);
std::string latestContents(int64_t step);  // what `latest` holds
std::string probeKey(const std::string& run, int rank, long pid);

// What a key listed under a run's folder is.
enum class CheckpointObject { kManifest, kShard, kLatest, kProbe, kOther };
struct ParsedCheckpointKey {
  CheckpointObject type = CheckpointObject::kOther;
  int64_t step = -1;  // the step folder the key lies in; -1 outside one
};
// Parses "<run>/...": a key outside a step folder is kLatest, kProbe or kOther (step -1); one
// inside is kManifest, kShard or kOther (anything else there, such as a leftover). nullopt for
// a key that is not under "<run>/".
std::optional<ParsedCheckpointKey> parseCheckpointKey(const std::string& run,
                                                      const std::string& key);

// Splits the URI of one checkpoint, "<root>/<run>/step-00000100", into the storage root and the
// key prefix "<run>/step-00000100". Throws ConfigError when it has too few parts.
std::pair<std::string, std::string> splitCheckpointUri(std::string uri);

}  // namespace trainrun
