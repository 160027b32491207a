// The S3 ShardSource: a listing, and each shard's header from the folder's index or a ranged
// read; blocks fetched on demand into an LRU cache of shards; the index's writer.
#include "data/s3_shard_source.h"

#include <fcntl.h>
#include <fnmatch.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <exception>
#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <thread>

#include "core/error.h"
#include "core/file.h"
#include "core/parallel.h"
#include "data/s3_fetch.h"
#include "data/shard_blocks.h"
#include "data/shard_index.h"
#include "storage/storage.h"
#include "storage/storage_uri.h"

namespace trainrun {
namespace fs = std::filesystem;
namespace {

// Beside each cached shard: "<name>.fetch", locked exclusively by the one rank creating the
// cached file, and "<name>.held", locked shared by every process mapping it (eviction takes it
// exclusively, without waiting, so a held shard is skipped); ShardBlocks adds "<name>.blocks".
constexpr const char* kFetchLock = ".fetch";
constexpr const char* kHeldLock = ".held";

bool endsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

int openLock(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0)
    throw StorageError("cannot create " + path + " in the data cache: " + std::strerror(errno) +
                       " (set TRAINRUN_CACHE_DIR to a writable folder)");
  return fd;
}

// data.path split for listing: the bucket, the prefix listed, the folder keys are relative to
// and the glob on the last part ("" for a prefix).
struct S3Path {
  std::string bucket, list_prefix, root, glob;
};

S3Path parseS3Path(const std::string& data_path) {
  if (data_path.rfind("s3://", 0) != 0)
    throw ConfigError("data.path '" + data_path + "' is not an s3:// path");
  const std::string rest = data_path.substr(5);
  S3Path p;
  p.bucket = rest.substr(0, rest.find('/'));
  const std::string problem = bucketNameProblem(p.bucket);
  if (!problem.empty()) throw ConfigError("data.path '" + data_path + "': " + problem);
  const std::string key = rest.size() > p.bucket.size() ? rest.substr(p.bucket.size() + 1) : "";
  const size_t slash = key.rfind('/');
  const std::string dir = slash == std::string::npos ? "" : key.substr(0, slash + 1);
  const std::string last = key.substr(dir.size());
  if (dir.find_first_of("*?[") != std::string::npos)
    throw ConfigError("data.path '" + data_path + "': a glob only on the last part of the key");
  p.root = dir;
  p.list_prefix = last.find_first_of("*?[") == std::string::npos ? key : dir;
  if (p.list_prefix != key) p.glob = last;
  return p;
}

void lockFile(int fd, int op) {
  while (::flock(fd, op) != 0) {
    if (errno != EINTR) throw StorageError(std::string("flock: ") + std::strerror(errno));
  }
}

// A cached shard held by this process: the shared ".held" lock that keeps it, its blocks and
// its mapping, which fetches the blocks a read needs.
struct HeldShard {
  HeldShard(int lock_fd, const std::string& path, const ShardInfo& listed, uint64_t block_bytes,
            ShardBlocks::Fetch fetch, ShardBlocks::MakeRoom make_room, int parallelism,
            uint64_t vocab)
      : fd(lock_fd),
        blocks(path, listed.bytes, block_bytes, std::move(fetch), std::move(make_room),
               parallelism),
        shard(path, listed.header, listed.bytes, vocab,
              [this](uint64_t b, uint64_t e) { blocks.ensure(b, e); }) {}
  ~HeldShard() { ::close(fd); }
  int fd;  // the caller closes it when construction fails
  ShardBlocks blocks;
  TokenShard shard;
};

struct CachedFile {
  fs::path path;
  uint64_t bytes;
  fs::file_time_type used;
};

// The shard files under `dir` (neither lock files, block maps nor half-written files), each
// counted by the bytes it holds: a sparse file only its fetched blocks.
std::vector<CachedFile> cachedFiles(const fs::path& dir) {
  std::vector<CachedFile> files;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (!it->is_regular_file(ec) || name.find(kTempMarker) != std::string::npos) continue;
    if (endsWith(name, kFetchLock) || endsWith(name, kHeldLock) ||
        endsWith(name, ShardBlocks::kMapSuffix))
      continue;
    struct stat st;
    if (::stat(it->path().c_str(), &st) != 0) continue;
    const uint64_t held = std::min<uint64_t>(uint64_t(st.st_blocks) * 512, uint64_t(st.st_size));
    files.push_back({it->path(), held, it->last_write_time(ec)});
  }
  return files;
}

class S3ShardSource : public ShardSource {
 public:
  S3ShardSource(std::string data_path, ShardFormatSpec spec, uint64_t vocab,
                S3ShardCacheOptions cache)
      : data_path_(std::move(data_path)),
        path_(parseS3Path(data_path_)),
        spec_(spec),
        vocab_(vocab),
        cache_(std::move(cache)) {
    if (cache_.dir.empty()) cache_.dir = dataCacheDir();
    if (cache_.block_bytes == 0) cache_.block_bytes = kShardBlockBytes;
    if (cache_.limit_bytes < cache_.block_bytes)
      throw ConfigError("data.cache_limit_gb (" + std::to_string(cache_.limit_bytes) +
                        " bytes) is smaller than one cache block (" +
                        std::to_string(cache_.block_bytes) + " bytes) of " + data_path_ +
                        ": raise data.cache_limit_gb (see docs/design.md, Token corpora)");
    S3Options options;
    options.endpoint = cache_.endpoint;
    options.part_size = kS3FetchRange;
    parallelism_ = options.parallelism;
    objects_ = openS3Objects(path_.bucket, "", options);
  }

  ~S3ShardSource() override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    if (worker_.joinable()) worker_.join();
  }

  std::string describe() const override { return data_path_; }
  std::vector<ShardInfo> list() override;
  std::shared_ptr<const TokenShard> open(const ShardInfo& shard) override;
  void prefetch(const ShardInfo& shard) override;
  int readParallelism() const override { return parallelism_; }
  ShardIndexReport writeIndex();

 private:
  std::vector<S3Object> shardObjects(const std::string& prefix, const std::string& glob, bool pairs,
                                     std::map<std::string, S3Object>& all);
  std::string readRange(const S3Object& object, uint64_t offset, uint64_t length);
  ShardHeader readHeader(const S3Object& object, const std::map<std::string, S3Object>& all,
                         const ShardFormatSpec& spec);
  ShardIndex readIndex(const std::map<std::string, S3Object>& all);
  S3Object objectOf(const ShardInfo& shard) const {
    return {path_.root + shard.key, shard.bytes, shard.version};
  }
  int prepareCached(const S3Object& object);
  void readBlock(const S3Object& object, uint64_t offset, uint64_t length, void* dst);
  void makeRoom(uint64_t need, const std::string& keep);
  void prefetchLoop();

  const std::string data_path_;
  const S3Path path_;
  const ShardFormatSpec spec_;
  const uint64_t vocab_;
  S3ShardCacheOptions cache_;
  int parallelism_ = 1;
  std::unique_ptr<S3Objects> objects_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, std::weak_ptr<HeldShard>> held_;
  std::deque<ShardInfo> queue_;
  std::map<std::string, std::exception_ptr> prefetch_errors_;
  bool stop_ = false;
  std::thread worker_;
};

// The objects under `prefix` that can be shards (not folders, hidden names such as the index,
// temporary files, or the .idx of a Megatron pair when `pairs`) and, with a `glob`, match it in
// the root folder; sorted by key. `all` gets every object listed, by key.
std::vector<S3Object> S3ShardSource::shardObjects(const std::string& prefix,
                                                  const std::string& glob, bool pairs,
                                                  std::map<std::string, S3Object>& all) {
  for (S3Object& o : objects_->listObjects(prefix)) all[o.key] = std::move(o);
  std::vector<S3Object> objects;
  for (const auto& [key, o] : all) {
    const std::string rel = key.substr(path_.root.size());
    const std::string name = fs::path(key).filename().string();
    if (key.back() == '/' || name.empty() || name[0] == '.' ||
        name.find(kTempMarker) != std::string::npos)
      continue;
    if (pairs && all.count(megatronBinKey(key)) != 0)
      continue;  // a Megatron .bin's header, not a shard
    if (!glob.empty() &&
        (rel.find('/') != std::string::npos || ::fnmatch(glob.c_str(), rel.c_str(), 0)))
      continue;
    objects.push_back(o);
  }
  return objects;
}

// [offset, offset + length) of `object`, clipped to its end: one ranged GET, never the whole.
std::string S3ShardSource::readRange(const S3Object& object, uint64_t offset, uint64_t length) {
  if (offset >= object.size) return "";
  std::string bytes(std::min(length, object.size - offset), '\0');
  if (!bytes.empty()) objects_->readObject(object, offset, bytes.size(), bytes.data());
  return bytes;
}

// The header of `object`: from its Megatron .idx when `all` holds one beside it (and `spec`
// pairs files), else from its first bytes.
ShardHeader S3ShardSource::readHeader(const S3Object& object,
                                      const std::map<std::string, S3Object>& all,
                                      const ShardFormatSpec& spec) {
  const std::string uri = objects_->uriOf(object.key);
  const auto idx = spec.headerless ? all.end() : all.find(megatronIdxKey(object.key));
  if (idx == all.end())
    return parseShardHeader(uri, readRange(object, 0, kShardHeaderProbeBytes), object.size, spec);
  const S3Object& i = idx->second;
  return readMegatronHeader(
      uri, object.size, objects_->uriOf(i.key), i.size,
      [&](uint64_t offset, uint64_t length) { return readRange(i, offset, length); }, spec);
}

// The root's shard index: from the data listing when it covers the index's key, else from a
// listing of that one key; empty when there is none.
ShardIndex S3ShardSource::readIndex(const std::map<std::string, S3Object>& all) {
  const std::string key = path_.root + kShardIndexName;
  std::optional<S3Object> index;
  if (const auto seen = all.find(key); seen != all.end()) index = seen->second;
  if (key.rfind(path_.list_prefix, 0) != 0)  // the data listing did not cover it
    for (const S3Object& o : objects_->listObjects(key))
      if (o.key == key) index = o;
  if (!index) return {};
  return ShardIndex::fromText(readRange(*index, 0, index->size), objects_->uriOf(key));
}

std::vector<ShardInfo> S3ShardSource::list() {
  std::map<std::string, S3Object> all;
  const std::vector<S3Object> objects =
      shardObjects(path_.list_prefix, path_.glob, !spec_.headerless, all);
  if (objects.empty())
    throw ConfigError("data.path '" + data_path_ + "' matches no object (an empty or missing " +
                      "prefix, or a glob that matches nothing: check data.path)");
  // A headerless spec reads each head anyway, to refuse a file that has a header after all.
  const ShardIndex index = spec_.headerless ? ShardIndex() : readIndex(all);
  std::vector<ShardInfo> shards(objects.size());
  std::vector<std::exception_ptr> bad(objects.size());
  runParallel(objects.size(), parallelism_, [&](uint64_t i) {
    const S3Object& o = objects[i];
    shards[i] = {o.key.substr(path_.root.size()), o.size, o.etag, {}};
    try {
      const ShardHeader* indexed = index.find(shards[i].key, o.size, o.etag);
      shards[i].header = indexed
                             ? recheckShardHeader(objects_->uriOf(o.key), *indexed, o.size, spec_)
                             : readHeader(o, all, spec_);
    } catch (const ConfigError&) {
      bad[i] = std::current_exception();
    }
  });
  for (const std::exception_ptr& e : bad)
    if (e) std::rethrow_exception(e);  // the first bad shard by key, whichever was read first
  return shards;
}

ShardIndexReport S3ShardSource::writeIndex() {
  std::map<std::string, S3Object> all;
  const std::vector<S3Object> objects = shardObjects(path_.root, "", /*pairs=*/true, all);
  std::vector<std::optional<ShardInfo>> read(objects.size());
  std::vector<std::string> problems(objects.size());
  runParallel(objects.size(), parallelism_, [&](uint64_t i) {
    const S3Object& o = objects[i];
    try {
      ShardInfo s{o.key.substr(path_.root.size()), o.size, o.etag, {}};
      s.header = readHeader(o, all, {});
      read[i] = std::move(s);
    } catch (const ConfigError& e) {
      problems[i] = e.what();  // not a token shard (or a broken one): not indexed
    }
  });
  ShardIndexReport report;
  report.uri = objects_->uriOf(path_.root + kShardIndexName);
  for (size_t i = 0; i < objects.size(); ++i) {
    if (read[i]) report.shards.push_back(*read[i]);
    if (!problems[i].empty()) report.skipped.push_back(problems[i]);
  }
  if (report.shards.empty())
    throw ConfigError("trainrun index: no token shard under " + objects_->uriOf(path_.root) +
                      (report.skipped.empty() ? " (an empty or missing folder)"
                                              : " (" + report.skipped.front() + ")"));
  S3Options options;
  options.endpoint = cache_.endpoint;
  const std::string text = ShardIndex(report.shards).toText();
  makeS3Storage(path_.bucket, path_.root, options)->put(kShardIndexName, text.data(), text.size());
  return report;
}

std::shared_ptr<const TokenShard> S3ShardSource::open(const ShardInfo& shard) {
  const S3Object object = objectOf(shard);
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto err = prefetch_errors_.find(object.key);
    if (err != prefetch_errors_.end()) {
      std::exception_ptr e = err->second;
      prefetch_errors_.erase(err);
      std::rethrow_exception(e);
    }
    if (auto held = held_[object.key].lock()) return {held, &held->shard};
  }
  const int fd = prepareCached(object);
  const std::string path = s3CachePath(cache_.dir, path_.bucket, object);
  std::shared_ptr<HeldShard> held;
  try {
    // The listed header (read from the ETag every block fetch is pinned to): opening fetches
    // nothing, and a first batch fetches one block per window, not a header block per shard.
    held = std::make_shared<HeldShard>(
        fd, path, shard, cache_.block_bytes,
        [this, object](uint64_t offset, uint64_t length, void* dst) {
          readBlock(object, offset, length, dst);
        },
        [this, path](uint64_t bytes) { makeRoom(bytes, path); }, parallelism_, vocab_);
  } catch (...) {
    ::close(fd);
    throw;
  }
  std::lock_guard<std::mutex> lock(mu_);
  prefetch_errors_.erase(object.key);  // a prefetch that failed after this open began is moot
  held_[object.key] = held;
  return {held, &held->shard};
}

// Returns a descriptor of the shard's ".held" lock, locked shared, with the shard's cached file
// and block map in place (its blocks come as reads ask for them).
int S3ShardSource::prepareCached(const S3Object& object) {
  const std::string dst = s3CachePath(cache_.dir, path_.bucket, object);
  std::error_code ec;
  fs::create_directories(fs::path(dst).parent_path(), ec);
  const int held = openLock(dst + kHeldLock);
  try {
    lockFile(held, LOCK_SH);  // from here no process evicts it
    const int fetching = openLock(dst + kFetchLock);
    try {
      lockFile(fetching, LOCK_EX);  // one rank of the node creates it; the others find it
      ShardBlocks::create(dst, object.size, cache_.block_bytes);
      ::utimensat(AT_FDCWD, dst.c_str(), nullptr, 0);  // recency, for the LRU
    } catch (...) {
      ::close(fetching);
      throw;
    }
    ::close(fetching);
  } catch (...) {
    ::close(held);
    throw;
  }
  return held;
}

void S3ShardSource::readBlock(const S3Object& object, uint64_t offset, uint64_t length, void* dst) {
  const std::string uri = objects_->uriOf(object.key);
  try {
    objects_->readObject(object, offset, length, dst);  // one GET pinned to the listed ETag
  } catch (const NotFoundError&) {
    throw ConfigError(uri + " was deleted during the run (listed with ETag " + object.etag +
                      "): restore it, or restart to take the new data");
  } catch (const StorageError& e) {
    const std::string what = e.what();
    if (what.find("412") == std::string::npos &&
        what.find("PreconditionFailed") == std::string::npos)
      throw;
    std::string now = "gone";
    for (const S3Object& o : objects_->listObjects(object.key))
      if (o.key == object.key) now = o.etag;
    throw ConfigError(uri + " changed during the run (ETag " + object.etag + " -> " + now +
                      "): shards must not change during a run; restart to take the new data");
  }
}

// Evicts least recently used shards no process holds until `need` more bytes fit the limit.
void S3ShardSource::makeRoom(uint64_t need, const std::string& keep) {
  std::vector<CachedFile> files = cachedFiles(fs::path(cache_.dir) / "s3");
  uint64_t total = 0;
  for (const CachedFile& f : files) total += f.bytes;
  std::sort(files.begin(), files.end(),
            [](const CachedFile& a, const CachedFile& b) { return a.used < b.used; });
  for (const CachedFile& f : files) {
    if (total + need <= cache_.limit_bytes) return;
    if (f.path.string() == keep) continue;
    const int fd = ::open((f.path.string() + kHeldLock).c_str(), O_RDWR | O_CLOEXEC);
    if (fd < 0) continue;
    if (::flock(fd, LOCK_EX | LOCK_NB) == 0) {  // held (mapped) somewhere: kept
      ShardBlocks::remove(f.path.string());
      total -= std::min(total, f.bytes);
    }
    ::close(fd);
  }
  if (total + need > cache_.limit_bytes)
    throw StorageError("data cache " + cache_.dir + ": shards in use hold " +
                       std::to_string(total) + " bytes and " + std::to_string(need) +
                       " more exceed data.cache_limit_gb (" + std::to_string(cache_.limit_bytes) +
                       " bytes; raise it to hold the shards read at once)");
}

void S3ShardSource::prefetch(const ShardInfo& shard) {
  std::lock_guard<std::mutex> lock(mu_);
  if (int(queue_.size()) >= cache_.prefetch_depth) return;  // bounded: a hint, dropped
  queue_.push_back(shard);
  if (!worker_.joinable()) worker_ = std::thread([this] { prefetchLoop(); });
  cv_.notify_one();
}

void S3ShardSource::prefetchLoop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    cv_.wait(lock, [&] { return stop_ || !queue_.empty(); });
    if (stop_) return;
    const ShardInfo shard = queue_.front();
    lock.unlock();
    std::exception_ptr error;
    try {
      const std::shared_ptr<const TokenShard> whole = open(shard);
      whole->prefetch(0, whole->tokenCount());  // every block
    } catch (...) {
      error = std::current_exception();
    }
    lock.lock();
    queue_.pop_front();
    if (error) prefetch_errors_[objectOf(shard).key] = error;
  }
}

}  // namespace

std::unique_ptr<ShardSource> openS3ShardSource(const std::string& data_path,
                                               const ShardFormatSpec& spec, uint64_t vocab_size,
                                               const S3ShardCacheOptions& cache) {
  return std::make_unique<S3ShardSource>(data_path, spec, vocab_size, cache);
}

ShardIndexReport writeS3ShardIndex(const std::string& data_path, const std::string& endpoint) {
  S3ShardCacheOptions cache;
  cache.endpoint = endpoint;
  return S3ShardSource(data_path, {}, 0, cache).writeIndex();
}

}  // namespace trainrun
