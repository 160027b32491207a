// The shard manifest: canonical text, digest, and the changes between two manifests.
#include "data/shard_manifest.h"

#include <map>
#include <sstream>

#include "core/digest.h"
#include "core/error.h"

namespace trainrun {
namespace {

constexpr const char* kManifestFirstLine = "trainrun-shard-manifest 1";

std::vector<std::string> splitTabs(const std::string& line) {
  std::vector<std::string> fields;
  size_t start = 0;
  for (size_t tab; (tab = line.find('\t', start)) != std::string::npos; start = tab + 1)
    fields.push_back(line.substr(start, tab - start));
  fields.push_back(line.substr(start));
  return fields;
}

uint64_t parseNumber(const std::string& text, const std::string& what, size_t line) {
  try {
    size_t used = 0;
    const unsigned long long v = std::stoull(text, &used);
    if (used == text.size() && !text.empty() && text[0] != '-') return v;
  } catch (const std::exception&) {
  }
  throw ConfigError(what + ": shard manifest line " + std::to_string(line) + " has '" + text +
                    "' where a number belongs (the manifest is corrupt)");
}

ShardFormat parseFormat(const std::string& name, const std::string& what, size_t line) {
  for (ShardFormat f : {ShardFormat::kLlmc, ShardFormat::kTrainrun, ShardFormat::kHeaderless,
                        ShardFormat::kMegatron})
    if (name == shardFormatName(f)) return f;
  throw ConfigError(what + ": shard manifest line " + std::to_string(line) +
                    " names an unknown format '" + name + "'");
}

std::string headerText(const ShardHeader& h) {
  return std::string(shardFormatName(h.format)) + " v" + std::to_string(h.version) + " " +
         tokenDtypeName(h.dtype) + " " + std::to_string(h.token_count) + " tokens";
}

bool sameHeader(const ShardHeader& a, const ShardHeader& b) {
  return a.format == b.format && a.version == b.version && a.dtype == b.dtype &&
         a.token_count == b.token_count && a.data_offset == b.data_offset &&
         a.vocab_size == b.vocab_size;
}

}  // namespace

uint64_t ShardManifest::totalTokens() const {
  uint64_t total = 0;
  for (const ShardInfo& s : shards) total += s.header.token_count;
  return total;
}

uint64_t ShardManifest::totalBytes() const {
  uint64_t total = 0;
  for (const ShardInfo& s : shards) total += s.bytes;
  return total;
}

ShardManifest buildManifest(ShardSource& source) {
  ShardManifest m;
  m.source = source.describe();
  m.shards = source.list();
  return m;
}

std::string manifestToText(const ShardManifest& manifest) {
  std::string out = std::string(kManifestFirstLine) + "\n";
  for (const ShardInfo& s : manifest.shards) {
    const ShardHeader& h = s.header;
    out += s.key + "\t" + std::to_string(s.bytes) + "\t" + s.version + "\t" +
           shardFormatName(h.format) + "\t" + std::to_string(h.version) + "\t" +
           tokenDtypeName(h.dtype) + "\t" + std::to_string(h.token_count) + "\t" +
           std::to_string(h.data_offset) + "\t" + std::to_string(h.vocab_size) + "\n";
  }
  return out;
}

ShardManifest manifestFromText(const std::string& text, const std::string& what) {
  std::istringstream in(text);
  std::string line;
  if (!std::getline(in, line) || line != kManifestFirstLine)
    throw ConfigError(what + ": not a shard manifest (its first line is not '" +
                      kManifestFirstLine + "')");
  ShardManifest m;
  for (size_t n = 2; std::getline(in, line); ++n) {
    const std::vector<std::string> f = splitTabs(line);
    if (f.size() != 9)
      throw ConfigError(what + ": shard manifest line " + std::to_string(n) + " has " +
                        std::to_string(f.size()) + " fields, not 9 (the manifest is corrupt)");
    ShardInfo s;
    s.key = f[0];
    s.bytes = parseNumber(f[1], what, n);
    s.version = f[2];
    s.header.format = parseFormat(f[3], what, n);
    s.header.version = int64_t(parseNumber(f[4], what, n));
    s.header.dtype = parseTokenDtype(f[5], what + ": shard manifest line " + std::to_string(n));
    s.header.token_count = parseNumber(f[6], what, n);
    s.header.data_offset = parseNumber(f[7], what, n);
    s.header.vocab_size = parseNumber(f[8], what, n);
    m.shards.push_back(std::move(s));
  }
  return m;
}

std::string manifestDigest(const ShardManifest& manifest) {
  return sha256Hex(manifestToText(manifest));
}

const char* shardChangeName(ShardChange::Kind kind) {
  switch (kind) {
    case ShardChange::Kind::kAdded:
      return "added";
    case ShardChange::Kind::kRemoved:
      return "removed";
    case ShardChange::Kind::kResized:
      return "resized";
    case ShardChange::Kind::kReplaced:
      return "replaced";
  }
  return "?";
}

std::vector<ShardChange> diffManifests(const ShardManifest& before, const ShardManifest& now) {
  std::map<std::string, std::pair<const ShardInfo*, const ShardInfo*>> keys;
  for (const ShardInfo& s : before.shards) keys[s.key].first = &s;
  for (const ShardInfo& s : now.shards) keys[s.key].second = &s;
  std::vector<ShardChange> changes;
  using Kind = ShardChange::Kind;
  for (const auto& [key, pair] : keys) {
    const auto [was, is] = pair;
    if (was == nullptr) {
      changes.push_back({Kind::kAdded, key, ""});
    } else if (is == nullptr) {
      changes.push_back({Kind::kRemoved, key, ""});
    } else if (was->bytes != is->bytes) {
      changes.push_back(
          {Kind::kResized, key,
           std::to_string(was->bytes) + " -> " + std::to_string(is->bytes) + " bytes"});
    } else if (was->version != is->version) {
      changes.push_back({Kind::kReplaced, key, was->version + " -> " + is->version});
    } else if (!sameHeader(was->header, is->header)) {
      changes.push_back(
          {Kind::kReplaced, key, headerText(was->header) + " -> " + headerText(is->header)});
    }
  }
  return changes;
}

std::string describeChanges(const std::vector<ShardChange>& changes, size_t max_named) {
  std::string out = std::to_string(changes.size()) +
                    (changes.size() == 1 ? " shard changed: " : " shards changed: ");
  for (size_t i = 0; i < changes.size() && i < max_named; ++i) {
    const ShardChange& c = changes[i];
    out += std::string(i > 0 ? "; " : "") + shardChangeName(c.kind) + " '" + c.key + "'" +
           (c.detail.empty() ? "" : " (" + c.detail + ")");
  }
  if (changes.size() > max_named)
    out += "; and " + std::to_string(changes.size() - max_named) + " more";
  return out;
}

void requireSameShards(const ShardManifest& before, const ShardManifest& now) {
  const std::vector<ShardChange> changes = diffManifests(before, now);
  if (changes.empty()) return;
  throw ConfigError("the token shards under '" + now.source +
                    "' are not the ones this run started with: " + describeChanges(changes) +
                    " (restore them to resume, or start a new run for the new data)");
}

}  // namespace trainrun
