// The local ShardSource: data.path resolved to files, a stat and a header read per shard (a
// Megatron .bin's from its .idx).
#include "data/shard_source.h"

#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <map>
#include <mutex>

#include "core/error.h"
#include "core/file.h"

namespace trainrun {
namespace fs = std::filesystem;
namespace {

bool hasWildcard(const std::string& s) { return s.find_first_of("*?[") != std::string::npos; }

bool skipped(const std::string& name) {
  return name.empty() || name[0] == '.' || name.find(kTempMarker) != std::string::npos;
}

// Every regular file at or below `path` (a file or a folder), relative to `root`.
void collect(const fs::path& path, const fs::path& root, std::vector<std::string>& keys) {
  std::error_code ec;
  if (fs::is_regular_file(path, ec)) {
    keys.push_back(path.lexically_relative(root).generic_string());
    return;
  }
  if (!fs::is_directory(path, ec)) return;
  for (auto it = fs::recursive_directory_iterator(path, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (skipped(name)) {
      if (it->is_directory(ec)) it.disable_recursion_pending();
      continue;
    }
    if (it->is_regular_file(ec))
      keys.push_back(it->path().lexically_relative(root).generic_string());
  }
  if (ec) throw ConfigError("data.path: cannot list '" + path.string() + "': " + ec.message());
}

// The folder above the first component with a wildcard: the root keys are relative to.
fs::path globRoot(const std::string& pattern) {
  fs::path root;
  for (const fs::path& part : fs::path(pattern)) {
    if (hasWildcard(part.string())) break;
    root /= part;
  }
  return root.empty() ? fs::path(".") : root;
}

std::vector<std::string> globKeys(const std::string& pattern, const fs::path& root) {
  glob_t g{};
  const int rc = ::glob(pattern.c_str(), GLOB_ERR, nullptr, &g);
  std::vector<std::string> keys;
  if (rc == 0) {
    for (size_t i = 0; i < g.gl_pathc; ++i) {
      const fs::path p(g.gl_pathv[i]);
      std::error_code ec;
      if (fs::is_regular_file(p, ec) && !skipped(p.filename().string()))
        keys.push_back(p.lexically_relative(root).generic_string());
    }
  }
  ::globfree(&g);
  if (rc != 0 && rc != GLOB_NOMATCH)
    throw ConfigError("data.path '" + pattern + "': the glob cannot be read (check the folder)");
  return keys;
}

// data.path -> (root, sorted keys). Throws ConfigError when nothing matches.
std::pair<fs::path, std::vector<std::string>> resolve(const std::string& data_path) {
  fs::path root;
  std::vector<std::string> keys;
  std::error_code ec;
  const fs::path p(data_path);
  if (hasWildcard(data_path)) {
    root = globRoot(data_path);
    keys = globKeys(data_path, root);
  } else if (fs::is_directory(p, ec)) {
    root = p;
    collect(p, root, keys);
  } else if (fs::is_regular_file(p, ec)) {
    root = p.parent_path().empty() ? fs::path(".") : p.parent_path();
    keys.push_back(p.filename().string());
  } else {
    root = p.parent_path().empty() ? fs::path(".") : p.parent_path();
    const std::string prefix = p.filename().string();
    if (!fs::is_directory(root, ec))
      throw ConfigError("data.path '" + data_path + "' not found: no such file, folder or " +
                        "prefix (check data.path)");
    for (const auto& entry : fs::directory_iterator(root, ec)) {
      const std::string name = entry.path().filename().string();
      if (name.rfind(prefix, 0) == 0 && !skipped(name)) collect(entry.path(), root, keys);
    }
  }
  if (keys.empty())
    throw ConfigError("data.path '" + data_path + "' matches no shard (an empty folder, or a " +
                      "glob or prefix that matches no file: check data.path)");
  std::sort(keys.begin(), keys.end());
  return {root, keys};
}

struct Stat {
  uint64_t bytes;
  std::string version;
};

Stat statShard(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0)
    throw ConfigError("token shard '" + path + "' is gone: " + std::strerror(errno) +
                      " (restore it, or start a new run for the new data)");
  const int64_t ns = int64_t(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
  return {uint64_t(st.st_size), "mtime:" + std::to_string(ns)};
}

// `length` bytes at `offset` of `path` (fewer past its end): a header, or a field of a .idx.
std::string readAt(const std::string& path, uint64_t offset, uint64_t length) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    throw ConfigError("token shard '" + path + "' cannot be opened: " + std::strerror(errno));
  std::string bytes(length, '\0');
  size_t got = 0;
  while (got < bytes.size()) {
    const ssize_t n = ::pread(fd, bytes.data() + got, bytes.size() - got, off_t(offset + got));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += size_t(n);
  }
  ::close(fd);
  bytes.resize(got);
  return bytes;
}

class LocalShardSource : public ShardSource {
 public:
  LocalShardSource(std::string data_path, ShardFormatSpec spec, uint64_t vocab_size)
      : data_path_(std::move(data_path)), spec_(spec), vocab_(vocab_size) {}

  std::string describe() const override { return data_path_; }

  std::vector<ShardInfo> list() override {
    auto [root, keys] = resolve(data_path_);
    std::lock_guard<std::mutex> lock(mu_);
    root_ = root;
    std::vector<ShardInfo> shards;
    shards.reserve(keys.size());
    for (const std::string& key : keys) {
      if (key.find_first_of("\t\n") != std::string::npos)
        throw ConfigError("token shard '" + key + "': a tab or line end in its name (rename it)");
      const std::string path = (root_ / key).string();
      std::error_code ec;
      const bool pairs = !spec_.headerless;  // Megatron pairs: the .bin is the shard
      const std::string bin = pairs ? megatronBinKey(key) : "";
      if (!bin.empty() && fs::is_regular_file(root_ / bin, ec)) continue;  // a .bin's header
      const Stat st = statShard(path);
      ShardInfo info{key, st.bytes, st.version, {}};
      const std::string idx = pairs ? megatronIdxKey(key) : "";
      if (!idx.empty() && fs::is_regular_file(root_ / idx, ec)) {
        const std::string idx_path = (root_ / idx).string();
        info.header = readMegatronHeader(
            path, st.bytes, idx_path, statShard(idx_path).bytes,
            [&](uint64_t offset, uint64_t length) { return readAt(idx_path, offset, length); },
            spec_);
      } else {
        info.header =
            parseShardHeader(path, readAt(path, 0, kShardHeaderProbeBytes), st.bytes, spec_);
      }
      shards.push_back(std::move(info));
    }
    return shards;
  }

  std::shared_ptr<const TokenShard> open(const ShardInfo& shard) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (root_.empty()) root_ = resolve(data_path_).first;
    auto it = open_.find(shard.key);
    if (it != open_.end()) return it->second;
    const std::string path = (root_ / shard.key).string();
    const Stat st = statShard(path);
    if (st.bytes != shard.bytes || st.version != shard.version)
      throw ConfigError("token shard '" + path + "' changed since it was listed (" +
                        std::to_string(shard.bytes) + " -> " + std::to_string(st.bytes) +
                        " bytes, " + shard.version + " -> " + st.version +
                        "): shards must not change during a run (restore it or start a new run)");
    auto opened = std::make_shared<const TokenShard>(path, shard.header, shard.bytes, vocab_);
    open_.emplace(shard.key, opened);  // a mapping costs address space, not memory
    return opened;
  }

 private:
  const std::string data_path_;
  const ShardFormatSpec spec_;
  const uint64_t vocab_;
  std::mutex mu_;
  fs::path root_;
  std::map<std::string, std::shared_ptr<const TokenShard>> open_;
};

}  // namespace

std::unique_ptr<ShardSource> openLocalShardSource(const std::string& data_path,
                                                  const ShardFormatSpec& spec,
                                                  uint64_t vocab_size) {
  return std::make_unique<LocalShardSource>(data_path, spec, vocab_size);
}

}  // namespace trainrun
