// Storage helpers and the URI -> backend factory.
#include "storage/storage.h"

#include <cstdlib>

#include "storage/local/local_storage.h"
#include "storage/s3/s3_storage.h"
#include "storage/storage_uri.h"
#include "core/env.h"

namespace trainrun {
namespace {

// S3Options defaults, adjusted by the retry and stall variables of the environment.
S3Options s3OptionsFromEnvironment() {
  S3Options o;
  if (auto v = env::integer(env::kAwsMaxAttempts, 1, 100)) o.max_attempts = int(*v);
  if (auto v = env::integer(env::kS3RetryBaseMs, 1, 60000)) {
    o.retry_base_delay = std::chrono::milliseconds(*v);
  }
  if (auto v = env::integer(env::kS3StallTimeoutS, 1, 3600)) {
    o.stall_timeout = std::chrono::seconds(*v);
  }
  return o;
}

}  // namespace

std::string Storage::get(const std::string& key) {
  std::optional<uint64_t> n = size(key);
  if (!n) throw NotFoundError("no object " + describe() + "/" + key);
  std::string data(*n, '\0');
  read(key, 0, *n, data.data());
  return data;
}

std::unique_ptr<Storage> openStorage(const std::string& uri, const std::string& s3_endpoint) {
  const StorageUri parsed = parseStorageUri(uri);
  if (!parsed.s3) return makeLocalStorage(parsed.path);
  S3Options options = s3OptionsFromEnvironment();
  if (!s3_endpoint.empty()) options.endpoint = s3_endpoint;
  return makeS3Storage(parsed.bucket, parsed.prefix, options);
}

}  // namespace trainrun
