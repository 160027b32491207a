// Checkpoint object names: formatting and parsing, each the inverse of the other.
#include "checkpoint/layout.h"

#include <cstdio>

#include "core/error.h"

namespace trainrun {
namespace {

constexpr const char* kStepPrefix = "step-";
constexpr const char* kProbePrefix = ".probe-rank";

bool allDigits(const std::string& s, size_t begin, size_t end) {
  if (begin >= end || end > s.size()) return false;
  for (size_t i = begin; i < end; ++i)
    if (s[i] < '0' || s[i] > '9') return false;
  return true;
}

bool startsWith(const std::string& s, const std::string& prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}

}  // namespace

std::string stepDir(int64_t step) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "step-%08lld", static_cast<long long>(step));
  return buf;
}

std::optional<int64_t> parseStepDir(const std::string& name) {
  const size_t begin = std::char_traits<char>::length(kStepPrefix);
  // 18 digits always fit an int64_t; the round trip rejects extra leading zeros.
  if (!startsWith(name, kStepPrefix) || name.size() > begin + 18 ||
      !allDigits(name, begin, name.size()))
    return std::nullopt;
  const int64_t step = std::stoll(name.substr(begin));
  if (stepDir(step) != name) return std::nullopt;
  return step;
}

std::string shardKey(int rank, int world_size) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "shard-%05d-of-%05d.bin", rank, world_size);
  return buf;
}

std::optional<std::pair<int, int>> parseShardKey(const std::string& name) {
  // "shard-" R "-of-" W ".bin", R and W at least 5 digits each.
  const std::string head = "shard-", mid = "-of-", tail = ".bin";
  if (!startsWith(name, head) || name.size() < tail.size() ||
      name.compare(name.size() - tail.size(), tail.size(), tail) != 0)
    return std::nullopt;
  const size_t of = name.find(mid, head.size());
  const size_t end = name.size() - tail.size();
  if (of == std::string::npos || of - head.size() > 9 || end - (of + mid.size()) > 9 ||
      !allDigits(name, head.size(), of) || !allDigits(name, of + mid.size(), end))
    return std::nullopt;
  const int rank = std::stoi(name.substr(head.size(), of - head.size()));
  const int world_size = std::stoi(name.substr(of + mid.size(), end - of - mid.size()));
  if (rank >= world_size || shardKey(rank, world_size) != name) return std::nullopt;
  return std::make_pair(rank, world_size);
}

std::string stepPrefix(const std::string& run, int64_t step) { return run + "/" + stepDir(step); }

std::string manifestKey(const std::string& run, int64_t step) {
  return stepPrefix(run, step) + "/" + kManifestName;
}

std::string shardObjectKey(const std::string& run, int64_t step, int rank, int world_size) {
  return stepPrefix(run, step) + "/" + shardKey(rank, world_size);
}

std::string latestKey(const std::string& run) { return run + "/" + kLatestName; }

std::string latestContents(int64_t step) { return stepDir(step) + "\n"; }

std::string probeKey(const std::string& run, int rank, long pid) {
  return run + "/" + kProbePrefix + std::to_string(rank) + "-" + std::to_string(pid);
}

std::optional<ParsedCheckpointKey> parseCheckpointKey(const std::string& run,
                                                      const std::string& key) {
  if (key.size() <= run.size() + 1 || !startsWith(key, run) || key[run.size()] != '/')
    return std::nullopt;
  const std::string rest = key.substr(run.size() + 1);
  ParsedCheckpointKey parsed;
  const size_t slash = rest.find('/');
  if (slash == std::string::npos) {
    if (rest == kLatestName) parsed.type = CheckpointObject::kLatest;
    if (startsWith(rest, kProbePrefix)) parsed.type = CheckpointObject::kProbe;
    return parsed;
  }
  const std::optional<int64_t> step = parseStepDir(rest.substr(0, slash));
  if (!step) return parsed;
  parsed.step = *step;
  const std::string name = rest.substr(slash + 1);
  if (name == kManifestName) parsed.type = CheckpointObject::kManifest;
  if (parseShardKey(name)) parsed.type = CheckpointObject::kShard;
  return parsed;
}

std::pair<std::string, std::string> splitCheckpointUri(std::string uri) {
  while (uri.size() > 1 && uri.back() == '/') uri.pop_back();
  size_t last = uri.rfind('/');
  size_t run = last == std::string::npos ? std::string::npos : uri.rfind('/', last - 1);
  if (run == std::string::npos || uri.compare(0, run + 1, "s3://") == 0)
    throw ConfigError("resume: '" + uri + "' is not a checkpoint folder (expected " +
                      "<uri>/<run>/step-<8 digits>)");
  return {uri.substr(0, run), uri.substr(run + 1)};
}

}  // namespace trainrun
