// S3 objects fetched whole into a local cache: ETag-pinned ranged GETs, checked against the ETag.
#include "data/s3_fetch.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <memory>
#include <mutex>
#include <utility>

#include "core/env.h"
#include "core/error.h"
#include "core/file.h"
#include "core/parallel.h"

namespace trainrun {
namespace fs = std::filesystem;
namespace {

// Lowercase hex of `size` bytes.
std::string hexOf(const unsigned char* bytes, unsigned int size) {
  static const char* kHex = "0123456789abcdef";
  std::string hex;
  for (unsigned int i = 0; i < size; ++i) {
    hex += kHex[bytes[i] >> 4];
    hex += kHex[bytes[i] & 15];
  }
  return hex;
}

// The hex digest of `data` (MD5, as S3's ETags).
std::string md5Hex(const unsigned char* data, size_t size, std::string* raw = nullptr) {
  static const unsigned char kEmpty = 0;
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(data ? data : &kEmpty, size, md, &len, EVP_md5(), nullptr) != 1)
    throw StorageError("MD5 is not available from OpenSSL");
  if (raw) raw->assign(reinterpret_cast<char*>(md), len);
  return hexOf(md, len);
}

// A multipart ETag (unquoted) from the raw MD5s of its parts: the MD5 of their concatenation,
// then "-" and their count.
std::string multipartEtag(const std::vector<std::string>& part_md5) {
  std::string digests;
  for (const std::string& d : part_md5) digests += d;
  return md5Hex(reinterpret_cast<const unsigned char*>(digests.data()), digests.size()) + "-" +
         std::to_string(part_md5.size());
}

// The ETag without quotes.
std::string bareEtag(const std::string& etag) {
  std::string e = etag;
  e.erase(std::remove(e.begin(), e.end(), '"'), e.end());
  return e;
}

// An ETag is an MD5 (or MD5s) only when it looks like one; SSE-KMS and some S3-compatible
// servers give other values, which are then only compared, never checked against the content.
bool checkableEtag(const std::string& etag) {
  const std::string bare = bareEtag(etag);
  const size_t dash = bare.find('-');
  const std::string hex = bare.substr(0, dash);
  if (hex.size() != 32) return false;
  for (char c : hex)
    if (!std::isxdigit(static_cast<unsigned char>(c))) return false;
  return dash == std::string::npos ||
         bare.find_first_not_of("0123456789", dash + 1) == std::string::npos;
}

// One object being fetched: a temporary file beside its cache path, mapped, filled by ranged
// GETs, hashed as the ranges land, then verified and renamed into place.
struct Fetch {
  const S3Object* object = nullptr;
  std::string dst, tmp;
  int fd = -1;
  unsigned char* map = nullptr;
  bool check = false;      // the ETag is an MD5 (or MD5s) to check the content against
  uint64_t part_size = 0;  // multipart ETag: the size of its parts (0: single part / unknown)
  uint64_t range = 0;      // bytes per ranged GET
  uint64_t ranges = 0;
  // Multipart: the raw MD5 of each part, filled by the range that holds the part.
  std::vector<std::string> part_md5;
  // Single part: one MD5 over the bytes in order, advanced by whichever thread lands the next
  // range in line (hashed_ranges of them are in it so far).
  std::mutex mu;
  std::vector<bool> landed;
  uint64_t hashed_ranges = 0;
  bool hashing = false;
  EVP_MD_CTX* md5 = nullptr;

  ~Fetch() {
    if (map) ::munmap(map, object->size);
    if (fd >= 0) ::close(fd);
    if (!tmp.empty()) ::unlink(tmp.c_str());
    if (md5) EVP_MD_CTX_free(md5);
  }
};

// Creates, sizes and maps the temporary file of `f` and plans its ranges and checksum.
void prepareFetch(S3Objects& objects, Fetch& f) {
  const S3Object& object = *f.object;
  fs::create_directories(fs::path(f.dst).parent_path());
  const std::string tmp = tempPathBeside(f.dst);
  f.fd = ::open(tmp.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (f.fd < 0)
    throw StorageError("cannot create " + tmp + " in the data cache: " + std::strerror(errno) +
                       " (set " + env::kCacheDir + " to a writable folder)");
  f.tmp = tmp;
  if (object.size > 0) {
    // Blocks allocated now, so a full disk fails here, not as a SIGBUS writing the mapping.
    const int rc = ::posix_fallocate(f.fd, 0, static_cast<off_t>(object.size));
    if (rc == ENOSPC)
      throw StorageError("the data cache folder " + fs::path(tmp).parent_path().string() +
                         " is full: no room for " + std::to_string(object.size) + " bytes of " +
                         object.key + " (free space there, lower data.cache_limit_gb, or set " +
                         env::kCacheDir + " to a larger disk)");
    if (rc != 0 && ::ftruncate(f.fd, static_cast<off_t>(object.size)) != 0)
      throw StorageError("cannot size " + tmp + ": " + std::strerror(errno));
    void* map = ::mmap(nullptr, object.size, PROT_READ | PROT_WRITE, MAP_SHARED, f.fd, 0);
    if (map == MAP_FAILED) throw StorageError("cannot map " + tmp + ": " + std::strerror(errno));
    f.map = static_cast<unsigned char*>(map);
  }
  f.check = checkableEtag(object.etag);
  if (f.check && bareEtag(object.etag).find('-') != std::string::npos)
    f.part_size = objects.firstPartSize(object).value_or(0);
  f.range = kS3FetchRange;
  if (f.part_size > 0) f.range = std::max<uint64_t>(1, kS3FetchRange / f.part_size) * f.part_size;
  f.ranges = (object.size + f.range - 1) / f.range;
  if (f.part_size > 0) f.part_md5.resize((object.size + f.part_size - 1) / f.part_size);
  if (f.check && f.part_size == 0) {
    f.landed.assign(f.ranges, false);
    f.md5 = EVP_MD_CTX_new();
    if (!f.md5 || EVP_DigestInit_ex(f.md5, EVP_md5(), nullptr) != 1)
      throw StorageError("MD5 is not available from OpenSSL");
  }
}

// Range `i` of `f` has landed: hash what it completes.
void hashRange(Fetch& f, uint64_t i) {
  if (!f.check) return;
  const uint64_t size = f.object->size;
  if (f.part_size > 0) {
    for (uint64_t at = i * f.range; at < std::min(size, (i + 1) * f.range); at += f.part_size)
      md5Hex(f.map + at, std::min(f.part_size, size - at), &f.part_md5[at / f.part_size]);
    return;
  }
  std::unique_lock<std::mutex> lock(f.mu);
  f.landed[i] = true;
  if (f.hashing) return;  // the thread hashing now goes on to this range when it is next
  f.hashing = true;
  while (f.hashed_ranges < f.ranges && f.landed[f.hashed_ranges]) {
    const uint64_t at = f.hashed_ranges * f.range;
    lock.unlock();
    const bool ok = EVP_DigestUpdate(f.md5, f.map + at, std::min(f.range, size - at)) == 1;
    lock.lock();
    if (!ok) {
      f.hashing = false;
      throw StorageError("MD5 is not available from OpenSSL");
    }
    ++f.hashed_ranges;
  }
  f.hashing = false;
}

// True when every part of `f` hashed matches its ETag.
bool fetchMatches(Fetch& f) {
  if (!f.check) return true;
  const std::string bare = bareEtag(f.object->etag);
  if (f.part_size > 0) return multipartEtag(f.part_md5) == bare;
  if (bare.find('-') != std::string::npos) return false;  // multipart, part size unknown
  if (f.object->size == 0) return md5Hex(nullptr, 0) == bare;
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_DigestFinal_ex(f.md5, md, &len) != 1)
    throw StorageError("MD5 is not available from OpenSSL");
  return hexOf(md, len) == bare;
}

}  // namespace

// Fetches `to_fetch` into their `dsts` (absent): every range of every object is one
// ranged GET pinned to the listed ETag, `parallelism` of them in flight across the objects,
// each hashed as it lands; an object is renamed into place once whole and verified.
void fetchS3Objects(S3Objects& objects, const std::vector<const S3Object*>& to_fetch,
                    const std::vector<std::string>& dsts, int parallelism) {
  std::vector<std::unique_ptr<Fetch>> fetches;
  for (size_t k = 0; k < to_fetch.size(); ++k) {
    fetches.push_back(std::make_unique<Fetch>());
    fetches.back()->object = to_fetch[k];
    fetches.back()->dst = dsts[k];
  }
  runParallel(fetches.size(), parallelism, [&](uint64_t k) { prepareFetch(objects, *fetches[k]); });
  // Every range of every object, in object order, so objects complete one after another.
  std::vector<std::pair<Fetch*, uint64_t>> ranges;
  for (auto& f : fetches) {
    for (uint64_t i = 0; i < f->ranges; ++i) ranges.emplace_back(f.get(), i);
  }
  runParallel(ranges.size(), parallelism, [&](uint64_t r) {
    Fetch& f = *ranges[r].first;
    const uint64_t i = ranges[r].second;
    const uint64_t begin = i * f.range;
    objects.readObject(*f.object, begin, std::min(f.range, f.object->size - begin), f.map + begin);
    hashRange(f, i);
  });
  for (auto& f : fetches) {
    if (!fetchMatches(*f))
      throw StorageError("fetched " + objects.uriOf(f->object->key) + " does not match its ETag " +
                         f->object->etag +
                         " (corrupted in transfer or replaced meanwhile; run again)");
    if (f->map) ::munmap(f->map, f->object->size);
    f->map = nullptr;
    ::close(f->fd);
    f->fd = -1;
    commitFileAtomic(f->tmp, f->dst);
    f->tmp.clear();
  }
}

std::string s3CachePath(const std::string& cache_dir, const std::string& bucket,
                        const S3Object& object) {
  std::string tag = bareEtag(object.etag);
  for (char& c : tag)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-') c = '_';
  return (fs::path(cache_dir) / "s3" / bucket / object.key /
          (tag + "-" + std::to_string(object.size)) / fs::path(object.key).filename())
      .string();
}

bool etagMatches(const unsigned char* data, uint64_t size, const std::string& etag,
                 uint64_t part_size) {
  const std::string bare = bareEtag(etag);
  const size_t dash = bare.find('-');
  if (dash == std::string::npos) return md5Hex(data, size) == bare;
  if (part_size == 0) return false;
  std::vector<std::string> part_md5;
  for (uint64_t at = 0; at < size || part_md5.empty(); at += part_size) {
    part_md5.emplace_back();
    md5Hex(data + at, std::min(part_size, size - at), &part_md5.back());
  }
  return multipartEtag(part_md5) == bare;
}

std::string dataCacheDir() {
  const std::string dir = env::get(env::kCacheDir);
  if (!dir.empty()) return dir;
  const std::string xdg = env::get(env::kXdgCacheHome);
  if (!xdg.empty()) return (fs::path(xdg) / "trainrun").string();
  const std::string home = env::get(env::kHome);
  if (!home.empty()) return (fs::path(home) / ".cache" / "trainrun").string();
  return (fs::temp_directory_path() / "trainrun-cache").string();
}

}  // namespace trainrun
