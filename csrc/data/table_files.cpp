// Table split files: local files and folders, and S3 objects fetched once into a verified cache.
#include "data/table_files.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <memory>

#include "checkpoint/s3/s3_storage.h"
#include "checkpoint/storage_uri.h"
#include "core/env.h"
#include "core/error.h"
#include "core/file.h"
#include "core/logging.h"
#include "core/strings.h"
#include "data/table_reader.h"

namespace trainrun {
namespace fs = std::filesystem;
namespace {

// A data file, not a marker or side file that tools write beside the data.
bool isDataName(const std::string& name) {
  return !name.empty() && name[0] != '.' && name[0] != '_' &&
         name.find(kTempMarker) == std::string::npos && isTableFile(name);
}

std::vector<std::string> localFiles(const std::string& path, const std::string& key) {
  std::error_code ec;
  if (!fs::is_directory(path, ec)) {
    if (!fs::exists(path, ec))
      throw ConfigError(key + " '" + path + "' not found (check " + key + ")");
    return {path};
  }
  std::vector<std::string> files;
  for (auto it = fs::recursive_directory_iterator(path, ec); !ec && it != fs::end(it);
       it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (it->is_directory() && (name[0] == '.' || name[0] == '_')) {
      it.disable_recursion_pending();
      continue;
    }
    if (it->is_regular_file() && isDataName(name)) files.push_back(it->path().string());
  }
  if (ec) throw ConfigError(key + " '" + path + "' cannot be listed: " + ec.message());
  std::sort(files.begin(), files.end());
  if (files.empty())
    throw ConfigError(key + " folder '" + path +
                      "' holds no .csv, .csv.gz or .parquet files (check " + key + ")");
  return files;
}

// The hex digest of `data` (MD5, as S3's ETags).
std::string md5Hex(const unsigned char* data, size_t size, std::string* raw = nullptr) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(data, size, md, &len, EVP_md5(), nullptr) != 1)
    throw StorageError("MD5 is not available from OpenSSL");
  if (raw) raw->assign(reinterpret_cast<char*>(md), len);
  static const char* kHex = "0123456789abcdef";
  std::string hex;
  for (unsigned int i = 0; i < len; ++i) {
    hex += kHex[md[i] >> 4];
    hex += kHex[md[i] & 15];
  }
  return hex;
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

// Fetches `object` into `dst` (absent): a temporary file beside it, mapped, filled by parallel
// ranged GETs, verified, then renamed into place.
void fetchObject(S3Objects& objects, const S3Object& object, const std::string& dst) {
  fs::create_directories(fs::path(dst).parent_path());
  const std::string tmp = tempPathBeside(dst);
  const std::string uri = objects.uriOf(object.key);
  const int fd = ::open(tmp.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    throw StorageError("cannot create " + tmp + " in the data cache: " + std::strerror(errno) +
                       " (set " + env::kCacheDir + " to a writable folder)");
  void* map = nullptr;
  try {
    if (object.size > 0) {
      if (::ftruncate(fd, static_cast<off_t>(object.size)) != 0)
        throw StorageError("cannot size " + tmp + ": " + std::strerror(errno));
      map = ::mmap(nullptr, object.size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
      if (map == MAP_FAILED) {
        map = nullptr;
        throw StorageError("cannot map " + tmp + ": " + std::strerror(errno));
      }
      objects.readObject(object, 0, object.size, map);
    }
    if (checkableEtag(object.etag)) {
      uint64_t part_size = 0;
      if (bareEtag(object.etag).find('-') != std::string::npos)
        part_size = objects.firstPartSize(object).value_or(0);
      const auto* bytes = static_cast<const unsigned char*>(map);
      static const unsigned char kEmpty = 0;
      if (!etagMatches(bytes ? bytes : &kEmpty, object.size, object.etag, part_size))
        throw StorageError("fetched " + uri + " does not match its ETag " + object.etag +
                           " (corrupted in transfer or replaced meanwhile; run again)");
    }
    if (map) ::munmap(map, object.size);
    map = nullptr;
    ::close(fd);
  } catch (...) {
    if (map) ::munmap(map, object.size);
    ::close(fd);
    ::unlink(tmp.c_str());
    throw;
  }
  commitFileAtomic(tmp, dst);
}

std::vector<std::string> s3Files(const std::string& path, const std::string& key,
                                 const std::string& s3_endpoint, const std::string& cache_dir,
                                 std::string* summary) {
  const StorageUri uri = parseStorageUri(path, key);
  S3Options options;
  options.endpoint = s3_endpoint;
  std::unique_ptr<S3Objects> objects = openS3Objects(uri.bucket, "", options);
  // The object named exactly, else the folder under it.
  std::vector<S3Object> listed;
  if (!uri.prefix.empty()) {
    for (auto& o : objects->listObjects(uri.prefix))
      if (o.key == uri.prefix) listed.push_back(o);
  }
  if (listed.empty()) {
    for (auto& o : objects->listObjects(uri.prefix.empty() ? "" : uri.prefix + "/")) {
      const std::string name = fs::path(o.key).filename().string();
      if (!o.key.empty() && o.key.back() != '/' && isDataName(name)) listed.push_back(o);
    }
  }
  if (listed.empty())
    throw ConfigError(key + " '" + path + "' holds no .csv, .csv.gz or .parquet objects (check " +
                      key + ")");
  std::vector<std::string> files;
  uint64_t fetched_bytes = 0;
  int fetched = 0;
  for (const S3Object& o : listed) {
    std::string tag = bareEtag(o.etag);
    for (char& c : tag)
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-') c = '_';
    const fs::path dst = fs::path(cache_dir) / "s3" / uri.bucket / o.key /
                         (tag + "-" + std::to_string(o.size)) / fs::path(o.key).filename();
    std::error_code ec;
    if (!fs::is_regular_file(dst, ec) || fs::file_size(dst, ec) != o.size) {
      fetchObject(*objects, o, dst.string());
      fetched_bytes += o.size;
      ++fetched;
    }
    files.push_back(dst.string());
  }
  if (summary)
    *summary = log::cat(key, "=", path, " objects=", listed.size(), " fetched=", fetched,
                        " fetched_bytes=", fetched_bytes, " cache=", cache_dir);
  return files;
}

}  // namespace

bool etagMatches(const unsigned char* data, uint64_t size, const std::string& etag,
                 uint64_t part_size) {
  const std::string bare = bareEtag(etag);
  const size_t dash = bare.find('-');
  if (dash == std::string::npos) return md5Hex(data, size) == bare;
  if (part_size == 0) return false;
  std::string digests, raw;
  uint64_t parts = 0;
  for (uint64_t at = 0; at < size || parts == 0; at += part_size, ++parts) {
    md5Hex(data + at, std::min(part_size, size - at), &raw);
    digests += raw;
  }
  return md5Hex(reinterpret_cast<const unsigned char*>(digests.data()), digests.size()) + "-" +
             std::to_string(parts) ==
         bare;
}

std::string tableCacheDir() {
  const std::string dir = env::get(env::kCacheDir);
  if (!dir.empty()) return dir;
  const std::string xdg = env::get(env::kXdgCacheHome);
  if (!xdg.empty()) return (fs::path(xdg) / "trainrun").string();
  const std::string home = env::get(env::kHome);
  if (!home.empty()) return (fs::path(home) / ".cache" / "trainrun").string();
  return (fs::temp_directory_path() / "trainrun-cache").string();
}

std::vector<std::string> tableFiles(const std::string& path, const std::string& key,
                                    const std::string& s3_endpoint, const std::string& cache_dir,
                                    std::string* summary) {
  if (summary) summary->clear();
  if (path.rfind("s3://", 0) == 0) return s3Files(path, key, s3_endpoint, cache_dir, summary);
  return localFiles(path, key);
}

}  // namespace trainrun
