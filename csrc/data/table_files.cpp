// Table split files: local files and folders, and S3 objects fetched once into a verified cache.
#include "data/table_files.h"

#include <fcntl.h>
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
#include "core/logging.h"
#include "core/parallel.h"
#include "core/strings.h"
#include "data/s3_fetch.h"
#include "data/table_reader.h"
#include "storage/s3/s3_storage.h"
#include "storage/storage_uri.h"

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

std::vector<std::string> s3Files(const std::string& path, const std::string& key,
                                 const std::string& s3_endpoint, const std::string& cache_dir,
                                 std::string* summary) {
  const StorageUri uri = parseStorageUri(path, key);
  S3Options options;
  options.endpoint = s3_endpoint;
  options.part_size = kS3FetchRange;  // one GET for each range fetchObjects asks for
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
  std::vector<const S3Object*> to_fetch;
  std::vector<std::string> dsts;
  uint64_t fetched_bytes = 0;
  for (const S3Object& o : listed) {
    const fs::path dst = s3CachePath(cache_dir, uri.bucket, o);
    std::error_code ec;
    if (!fs::is_regular_file(dst, ec) || fs::file_size(dst, ec) != o.size) {
      to_fetch.push_back(&o);
      dsts.push_back(dst.string());
      fetched_bytes += o.size;
    }
    files.push_back(dst.string());
  }
  fetchS3Objects(*objects, to_fetch, dsts, options.parallelism);
  const size_t fetched = to_fetch.size();
  if (summary)
    *summary = log::cat(key, "=", path, " objects=", listed.size(), " fetched=", fetched,
                        " fetched_bytes=", fetched_bytes, " cache=", cache_dir);
  return files;
}

}  // namespace

std::string tableCacheDir() { return dataCacheDir(); }

std::vector<std::string> tableFiles(const std::string& path, const std::string& key,
                                    const std::string& s3_endpoint, const std::string& cache_dir,
                                    std::string* summary) {
  if (summary) summary->clear();
  if (path.rfind("s3://", 0) == 0) return s3Files(path, key, s3_endpoint, cache_dir, summary);
  return localFiles(path, key);
}

}  // namespace trainrun
