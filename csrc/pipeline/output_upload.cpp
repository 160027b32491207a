// probeOutputUri / uploadOutputs over the checkpoint Storage backends (local folder, S3).
#include "pipeline/output_upload.h"

#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "core/error.h"
#include "core/file.h"
#include "core/strings.h"
#include "pipeline/model_archive.h"
#include "storage/storage.h"
#include "storage/storage_probe.h"

namespace trainrun::pipeline {
namespace {

// model.tar.gz of a folder in a temporary file (deleted at once: it lives while mapped).
class TempArchive {
 public:
  explicit TempArchive(const std::string& dir) {
    std::string path = (std::filesystem::temp_directory_path() / "trainrun-model-XXXXXX").string();
    const int fd = ::mkstemp(path.data());
    if (fd < 0)
      throw StorageError("cannot create a temporary file for model.tar.gz in " +
                         std::filesystem::temp_directory_path().string() + ": " +
                         std::strerror(errno) + " (set TMPDIR to a writable folder)");
    try {
      writeTarGzFolder(dir, path);
    } catch (...) {
      ::unlink(path.c_str());
      ::close(fd);
      throw;
    }
    ::unlink(path.c_str());
    struct stat st {};
    ::fstat(fd, &st);
    size_ = static_cast<size_t>(st.st_size);
    data_ = ::mmap(nullptr, size_, PROT_READ, MAP_SHARED, fd, 0);
    ::close(fd);
    if (data_ == MAP_FAILED) throw StorageError("cannot map model.tar.gz for its upload");
  }
  ~TempArchive() { ::munmap(data_, size_); }
  TempArchive(const TempArchive&) = delete;
  TempArchive& operator=(const TempArchive&) = delete;
  const void* data() const { return data_; }
  size_t size() const { return size_; }

 private:
  void* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace

void probeOutputUri(const std::string& uri, const std::string& s3_endpoint) {
  std::string failure;
  try {
    std::unique_ptr<Storage> storage = openStorage(uri, s3_endpoint);
    failure = probeStorage(*storage, ".probe-output-" + std::to_string(::getpid()));
  } catch (const Error& e) {  // e.g. no credentials anywhere in the chain
    failure = oneLine(e.what());
  }
  if (!failure.empty()) throw ConfigError("output.uri " + uri + ": " + failure);
}

std::vector<std::string> uploadOutputs(const std::string& uri, const std::string& s3_endpoint,
                                       const std::string& output_dir,
                                       const std::string& model_dir) {
  std::unique_ptr<Storage> storage = openStorage(uri, s3_endpoint);
  std::vector<std::string> written;
  auto put = [&](const std::string& key, const void* data, size_t size) {
    try {
      storage->put(key, data, size);
    } catch (const Error& e) {
      throw StorageError("output.uri " + storage->describe() + ": cannot write " + key + ": " +
                         oneLine(e.what()));
    }
    written.push_back(key);
  };
  {
    // Streamed to a temporary file, then handed to the storage mapped, not copied: a model of
    // any size costs disk under TMPDIR, never its size in memory.
    TempArchive archive(model_dir);
    put("model.tar.gz", archive.data(), archive.size());
  }
  for (const char* name : kUploadedFiles) {
    const std::string path = (std::filesystem::path(output_dir) / name).string();
    if (!std::filesystem::is_regular_file(path)) continue;
    std::optional<std::string> bytes = readWholeFile(path);
    if (!bytes) throw StorageError("cannot read " + path + " for output.uri");
    put(name, bytes->data(), bytes->size());
  }
  return written;
}

}  // namespace trainrun::pipeline
