// ShardBlocks: a cached shard filled block by block on demand, shared by a node's processes.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace trainrun {

// Bytes per cache block of a remote shard (the default): one ranged GET each. A window of 1024
// GPT-2 tokens is 2 KiB, so a first batch touches one block per window drawn, however large the
// corpus.
inline constexpr uint64_t kShardBlockBytes = 4ull << 20;

// A shard file of `size` bytes at `path`, sparse until filled, and beside it "<path>.blocks",
// one byte per block (1: the block's bytes are in the file). ensure() makes a range readable:
// each missing block is fetched once per node, whichever process or thread asks first (an
// open-file-description lock on the block's byte of the map, so threads of one process and
// other processes wait for the fetch in flight, then find the block present). Blocks are
// written with pwrite after their space is allocated (a full disk fails the fetch, never a read
// of the mapping) and marked present only once written, so a mapping of the file reads only
// whole blocks.
//
// Contract: create() runs under the caller's exclusive lock for the shard (no process reads
// or evicts it meanwhile); instances live while the caller holds the shard against eviction.
class ShardBlocks {
 public:
  // Reads `length` bytes at `offset` of the object into dst (a ranged GET pinned to the
  // version listed); throws what the read throws.
  using Fetch = std::function<void(uint64_t offset, uint64_t length, void* dst)>;
  // Called before `bytes` more are written to the cache: evicts to make room, or throws.
  using MakeRoom = std::function<void(uint64_t bytes)>;

  // Creates the sparse file and an empty block map unless both are there (a data file without
  // its map is a leftover and starts again). Throws StorageError naming the folder.
  static void create(const std::string& path, uint64_t size, uint64_t block_bytes);
  // Removes the shard's file and its map (map first: a file without a map is never read).
  static void remove(const std::string& path);
  // The map's file name beside `path`.
  static constexpr const char* kMapSuffix = ".blocks";
  static std::string mapPath(const std::string& path) { return path + kMapSuffix; }

  // Fills the shard create() made at `path`, in blocks of `block_bytes`.
  ShardBlocks(std::string path, uint64_t size, uint64_t block_bytes, Fetch fetch,
              MakeRoom make_room, int parallelism);
  ~ShardBlocks();
  ShardBlocks(const ShardBlocks&) = delete;
  ShardBlocks& operator=(const ShardBlocks&) = delete;

  // Makes bytes [begin, end) readable, fetching the blocks no process has (up to parallelism
  // at once). Throws StorageError for a full disk (naming the folder), or what Fetch throws.
  void ensure(uint64_t begin, uint64_t end);

 private:
  void ensureBlock(uint64_t block);

  const std::string path_;
  const uint64_t size_;
  const uint64_t block_bytes_;
  const uint64_t blocks_;
  const Fetch fetch_;
  const MakeRoom make_room_;
  const int parallelism_;
  int data_fd_ = -1;
  std::unique_ptr<std::atomic<bool>[]> present_;  // what this process knows is present
};

}  // namespace trainrun
