// TokenShard: mmap, header check from the mapped start (or the listed header), windows copied
// out with an id check.
#include "data/token_shard.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <string_view>

#include "core/error.h"

// Shards are little-endian; the copy below reads ids in the host's order.
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "TokenShard reads little-endian ids");

namespace trainrun {
namespace {

// Closes the descriptor on every path out of the constructor (the mapping outlives it).
struct Fd {
  int fd;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

template <typename Id, typename Out>
void copyChecked(const Id* in, uint64_t count, Out* out, uint64_t vocab, uint64_t first,
                 const std::string& path) {
  if (vocab == 0) {
    for (uint64_t i = 0; i < count; ++i) out[i] = static_cast<Out>(in[i]);
    return;
  }
  // One branch-free pass keeps the copy at memory speed; the slow path only names the culprit.
  Id worst = 0;
  for (uint64_t i = 0; i < count; ++i) {
    out[i] = static_cast<Out>(in[i]);
    worst = std::max(worst, in[i]);
  }
  if (uint64_t(worst) < vocab) return;
  for (uint64_t i = 0; i < count; ++i)
    if (uint64_t(in[i]) >= vocab)
      throw ConfigError("token shard '" + path + "': token id " + std::to_string(in[i]) +
                        " at token offset " + std::to_string(first + i) +
                        " is >= the vocabulary size " + std::to_string(vocab) +
                        " (check model.vocab_size or the tokenizer that wrote the shard)");
}

}  // namespace

TokenShard::TokenShard(const std::string& path, const ShardFormatSpec& spec, uint64_t vocab_size)
    : path_(path) {
  map();
  try {
    const uint64_t probe = std::min(file_bytes_, kShardHeaderProbeBytes);
    header_ = parseShardHeader(path, std::string_view(reinterpret_cast<const char*>(map_), probe),
                               file_bytes_, spec);
  } catch (...) {
    unmap();
    throw;
  }
  setVocab(vocab_size);
}

TokenShard::TokenShard(const std::string& path, const ShardHeader& header, uint64_t file_bytes,
                       uint64_t vocab_size, EnsureBytes ensure)
    : path_(path), header_(header), ensure_(std::move(ensure)) {
  map();
  if (file_bytes_ != file_bytes) {
    unmap();
    throw ConfigError("token shard '" + path + "' has " + std::to_string(file_bytes_) +
                      " bytes where its listing says " + std::to_string(file_bytes) +
                      " (it changed since it was listed: restart to take the new data)");
  }
  setVocab(vocab_size);
}

void TokenShard::map() {
  Fd fd{::open(path_.c_str(), O_RDONLY | O_CLOEXEC)};
  if (fd.fd < 0)
    throw ConfigError("token shard '" + path_ + "' cannot be opened: " + std::strerror(errno) +
                      " (check data.path)");
  struct stat st;
  if (::fstat(fd.fd, &st) != 0 || !S_ISREG(st.st_mode))
    throw ConfigError("token shard '" + path_ + "' is not a regular file (check data.path)");
  file_bytes_ = uint64_t(st.st_size);
  if (file_bytes_ == 0) return;
  void* map = ::mmap(nullptr, file_bytes_, PROT_READ, MAP_SHARED, fd.fd, 0);
  if (map == MAP_FAILED)
    throw StorageError("token shard '" + path_ + "': mmap of " + std::to_string(file_bytes_) +
                       " bytes failed: " + std::strerror(errno));
  map_ = static_cast<const unsigned char*>(map);
}

void TokenShard::unmap() {
  if (map_ != nullptr) ::munmap(const_cast<unsigned char*>(map_), file_bytes_);
  map_ = nullptr;
}

void TokenShard::setVocab(uint64_t vocab_size) {
  vocab_ = header_.vocab_size;
  if (vocab_size > 0 && (vocab_ == 0 || vocab_size < vocab_)) vocab_ = vocab_size;
}

TokenShard::~TokenShard() { unmap(); }

template <typename Out>
void TokenShard::readAs(uint64_t token_offset, uint64_t count, Out* out) const {
  if (token_offset > tokenCount() || count > tokenCount() - token_offset)
    throw std::out_of_range("TokenShard::read of tokens [" + std::to_string(token_offset) + ", +" +
                            std::to_string(count) + ") past the end of '" + path_ + "' (" +
                            std::to_string(tokenCount()) + " tokens)");
  if (ensure_)
    ensure_(header_.tokenOffsetBytes(token_offset), header_.tokenOffsetBytes(token_offset + count));
  const unsigned char* at = map_ + header_.tokenOffsetBytes(token_offset);
  // Token 0 sits at byte 32 or 1024 of a page-aligned mapping: ids are naturally aligned.
  if (header_.dtype == TokenDtype::kUint16)
    copyChecked(reinterpret_cast<const uint16_t*>(at), count, out, vocab_, token_offset, path_);
  else
    copyChecked(reinterpret_cast<const uint32_t*>(at), count, out, vocab_, token_offset, path_);
}

void TokenShard::read(uint64_t token_offset, uint64_t count, int32_t* out) const {
  readAs(token_offset, count, out);
}

void TokenShard::read(uint64_t token_offset, uint64_t count, int64_t* out) const {
  readAs(token_offset, count, out);
}

void TokenShard::prefetch(uint64_t token_offset, uint64_t count) const {
  if (map_ == nullptr || token_offset >= tokenCount()) return;
  count = std::min(count, tokenCount() - token_offset);
  if (ensure_)
    return ensure_(header_.tokenOffsetBytes(token_offset),
                   header_.tokenOffsetBytes(token_offset + count));
  const uint64_t page = uint64_t(::sysconf(_SC_PAGESIZE));
  const uint64_t begin = header_.tokenOffsetBytes(token_offset) / page * page;
  const uint64_t end = header_.tokenOffsetBytes(token_offset + count);
  ::madvise(const_cast<unsigned char*>(map_) + begin, end - begin, MADV_WILLNEED);
}

}  // namespace trainrun
