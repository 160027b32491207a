// TokenShard: one local token shard memory-mapped read-only, read by windows of tokens.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "data/token_shard_format.h"

namespace trainrun {

// A shard file mapped read-only and shared (MAP_SHARED): the ranks of a node that map the same
// file share its page cache, so a node holds at most one copy of the corpus whatever its rank
// count, and memory per rank does not grow with the corpus. Tokens are copied out by window,
// widened to int32 or int64, and checked against the vocabulary as they are copied (a cheap
// compare fused into the copy, so a bad id is found when its block is first read, never by a
// pass over the whole shard).
//
// Contract: thread-safe (reads only); the file must not be truncated while it is mapped (a read
// past the new end would fault): the shard manifest refuses a changed file on resume, and a
// cache keeps the files it hands out until their last TokenShard goes.
class TokenShard {
 public:
  // Makes bytes [begin, end) of the file readable before they are read: a cache that fetches
  // a remote shard's blocks on demand (ShardBlocks). Throws what the fetch throws.
  using EnsureBytes = std::function<void(uint64_t begin, uint64_t end)>;

  // Opens and maps the local file `path`, parsing its header from the mapped start and fstat's
  // size (see parseShardHeader for the errors). `vocab_size` > 0 bounds every id (with the
  // header's own vocab_size, when it declares one, the smaller wins); 0 checks only the
  // header's. Throws ConfigError for a missing file or a bad header, StorageError when mapping
  // fails.
  TokenShard(const std::string& path, const ShardFormatSpec& spec, uint64_t vocab_size = 0);
  // A shard whose header its listing already read (ShardSource::list(), from the same version
  // of the object that every fetch is pinned to): maps `path` without reading the header, so a
  // shard fetched on demand fetches only the blocks its reads touch, never its header's block
  // just to open. The file's size must be the listed one (`file_bytes`; else ConfigError).
  // `ensure`, when set, is asked for every range before it is read.
  TokenShard(const std::string& path, const ShardHeader& header, uint64_t file_bytes,
             uint64_t vocab_size, EnsureBytes ensure = {});
  ~TokenShard();
  TokenShard(const TokenShard&) = delete;
  TokenShard& operator=(const TokenShard&) = delete;

  const std::string& path() const { return path_; }
  const ShardHeader& header() const { return header_; }
  uint64_t tokenCount() const { return header_.token_count; }
  uint64_t fileBytes() const { return file_bytes_; }
  uint64_t vocabBound() const { return vocab_; }  // ids must be < this (0: unbounded)

  // Copies tokens [token_offset, token_offset + count) to out[0, count). Throws ConfigError
  // naming the file and the token's offset for an id >= the vocabulary, std::out_of_range for
  // a range past the shard's end (a caller's bug).
  void read(uint64_t token_offset, uint64_t count, int32_t* out) const;
  void read(uint64_t token_offset, uint64_t count, int64_t* out) const;

  // Asks the kernel to read the tokens' pages ahead of need (madvise WILLNEED): a prefetch
  // thread calls it for the windows of the next batches. A hint; never fails. A shard fetched
  // on demand (`ensure` set) fetches the range now instead, and throws what a read would.
  void prefetch(uint64_t token_offset, uint64_t count) const;

 private:
  template <typename Out>
  void readAs(uint64_t token_offset, uint64_t count, Out* out) const;
  // Opens, fstats and maps path_ (file_bytes_, map_); throws as the constructors say.
  void map();
  void unmap();  // the mapping map() made, if any
  // The bound on ids: the header's vocab_size and `vocab_size`, the smaller where both are set.
  void setVocab(uint64_t vocab_size);

  std::string path_;
  ShardHeader header_;
  uint64_t file_bytes_ = 0;
  uint64_t vocab_ = 0;
  const unsigned char* map_ = nullptr;
  EnsureBytes ensure_;
};

}  // namespace trainrun
