// ShardBlocks: a sparse shard file, its map of present blocks, and one fetch per block per node.
#include "data/shard_blocks.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <vector>

#include "core/env.h"
#include "core/error.h"
#include "core/file.h"
#include "core/parallel.h"

namespace trainrun {
namespace fs = std::filesystem;
namespace {

// Closes a descriptor on every path out (which also drops its open-file-description locks).
struct Fd {
  int fd;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

[[noreturn]] void throwFull(const std::string& path, uint64_t bytes) {
  throw StorageError("the data cache folder " + fs::path(path).parent_path().string() +
                     " is full: no room for " + std::to_string(bytes) + " more bytes of " +
                     fs::path(path).filename().string() +
                     " (free space there, lower data.cache_limit_gb, or set " + env::kCacheDir +
                     " to a larger disk)");
}

void pwriteAll(int fd, const void* data, uint64_t size, uint64_t offset, const std::string& path) {
  const auto* at = static_cast<const unsigned char*>(data);
  while (size > 0) {
    const ssize_t n = ::pwrite(fd, at, size, static_cast<off_t>(offset));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == ENOSPC) throwFull(path, size);
    if (n <= 0) throw StorageError("cannot write " + path + ": " + std::strerror(errno));
    at += n;
    size -= uint64_t(n);
    offset += uint64_t(n);
  }
}

// Blocks until this open file description holds the write lock on byte `at` of fd's file.
void lockByte(int fd, uint64_t at, const std::string& path) {
  struct flock lock {};
  lock.l_type = F_WRLCK;
  lock.l_whence = SEEK_SET;
  lock.l_start = static_cast<off_t>(at);
  lock.l_len = 1;
  while (::fcntl(fd, F_OFD_SETLKW, &lock) != 0) {
    if (errno != EINTR) throw StorageError("cannot lock " + path + ": " + std::strerror(errno));
  }
}

}  // namespace

void ShardBlocks::create(const std::string& path, uint64_t size, uint64_t block_bytes) {
  std::error_code ec;
  if (fs::is_regular_file(mapPath(path), ec) && fs::is_regular_file(path, ec) &&
      fs::file_size(path, ec) == size)
    return;
  remove(path);
  const std::string fix = " (set " + std::string(env::kCacheDir) + " to a writable folder)";
  Fd fd{::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)};
  if (fd.fd < 0)
    throw StorageError("cannot create " + path + " in the data cache: " + std::strerror(errno) +
                       fix);
  if (::ftruncate(fd.fd, static_cast<off_t>(size)) != 0)  // sparse: no block allocated yet
    throw StorageError("cannot size " + path + ": " + std::strerror(errno) + fix);
  // The map last: its arrival makes the pair a cached shard.
  writeFileAtomic(mapPath(path), std::string((size + block_bytes - 1) / block_bytes, '\0'));
}

void ShardBlocks::remove(const std::string& path) {
  std::error_code ec;
  fs::remove(mapPath(path), ec);
  fs::remove(path, ec);
}

ShardBlocks::ShardBlocks(std::string path, uint64_t size, uint64_t block_bytes, Fetch fetch,
                         MakeRoom make_room, int parallelism)
    : path_(std::move(path)),
      size_(size),
      block_bytes_(block_bytes),
      blocks_((size + block_bytes - 1) / block_bytes),
      fetch_(std::move(fetch)),
      make_room_(std::move(make_room)),
      parallelism_(parallelism),
      present_(std::make_unique<std::atomic<bool>[]>(blocks_)) {
  data_fd_ = ::open(path_.c_str(), O_RDWR | O_CLOEXEC);
  if (data_fd_ < 0)
    throw StorageError("cannot open " + path_ + " in the data cache: " + std::strerror(errno));
  for (uint64_t b = 0; b < blocks_; ++b) present_[b] = false;
}

ShardBlocks::~ShardBlocks() {
  if (data_fd_ >= 0) ::close(data_fd_);
}

void ShardBlocks::ensure(uint64_t begin, uint64_t end) {
  end = std::min(end, size_);
  if (end <= begin) return;
  std::vector<uint64_t> missing;
  for (uint64_t b = begin / block_bytes_; b <= (end - 1) / block_bytes_; ++b)
    if (!present_[b].load(std::memory_order_acquire)) missing.push_back(b);
  if (missing.size() == 1) return ensureBlock(missing[0]);
  runParallel(missing.size(), parallelism_, [&](uint64_t i) { ensureBlock(missing[i]); });
}

void ShardBlocks::ensureBlock(uint64_t block) {
  const std::string map = mapPath(path_);
  // A descriptor of its own: the lock belongs to it, so this thread excludes the others too.
  Fd fd{::open(map.c_str(), O_RDWR | O_CLOEXEC)};
  if (fd.fd < 0) throw StorageError("cannot open " + map + ": " + std::strerror(errno));
  lockByte(fd.fd, block, map);
  char mark = 0;
  if (::pread(fd.fd, &mark, 1, static_cast<off_t>(block)) == 1 && mark == 1) {
    present_[block].store(true, std::memory_order_release);
    return;
  }
  const uint64_t offset = block * block_bytes_;
  const uint64_t length = std::min(block_bytes_, size_ - offset);
  make_room_(length);
  // Space first, so a full disk fails here with its folder named, never as a fault in a read.
  const int rc =
      ::posix_fallocate(data_fd_, static_cast<off_t>(offset), static_cast<off_t>(length));
  if (rc == ENOSPC) throwFull(path_, length);
  std::vector<unsigned char> bytes(length);
  fetch_(offset, length, bytes.data());
  pwriteAll(data_fd_, bytes.data(), length, offset, path_);
  mark = 1;
  pwriteAll(fd.fd, &mark, 1, block, map);  // present only once whole
  present_[block].store(true, std::memory_order_release);
}

}  // namespace trainrun
