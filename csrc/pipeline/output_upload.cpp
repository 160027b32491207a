// probeOutputUri / uploadOutputs over the checkpoint Storage backends (local folder, S3).
#include "pipeline/output_upload.h"

#include <unistd.h>

#include <filesystem>

#include "checkpoint/storage.h"
#include "checkpoint/storage_probe.h"
#include "core/error.h"
#include "core/file.h"
#include "core/strings.h"
#include "pipeline/model_archive.h"

namespace trainrun::pipeline {

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
  auto put = [&](const std::string& key, const std::string& bytes) {
    try {
      storage->put(key, bytes);
    } catch (const Error& e) {
      throw StorageError("output.uri " + storage->describe() + ": cannot write " + key + ": " +
                         oneLine(e.what()));
    }
    written.push_back(key);
  };
  put("model.tar.gz", tarGzFolder(model_dir));
  for (const char* name : kUploadedFiles) {
    const std::string path = (std::filesystem::path(output_dir) / name).string();
    if (!std::filesystem::is_regular_file(path)) continue;
    std::optional<std::string> bytes = readWholeFile(path);
    if (!bytes) throw StorageError("cannot read " + path + " for output.uri");
    put(name, *bytes);
  }
  return written;
}

}  // namespace trainrun::pipeline
