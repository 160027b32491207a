// Storage helpers and the URI -> backend factory.
#include "checkpoint/storage.h"

#include "checkpoint/local/local_storage.h"
#include "checkpoint/s3/s3_storage.h"

namespace trainrun {

std::string Storage::get(const std::string& key) {
  std::optional<uint64_t> n = size(key);
  if (!n) throw NotFoundError("no object " + describe() + "/" + key);
  std::string data(*n, '\0');
  read(key, 0, *n, data.data());
  return data;
}

std::unique_ptr<Storage> openStorage(const std::string& uri, const std::string& s3_endpoint) {
  const std::string scheme = "s3://";
  if (uri.rfind(scheme, 0) != 0) return makeLocalStorage(uri);
  std::string rest = uri.substr(scheme.size());
  size_t slash = rest.find('/');
  std::string bucket = rest.substr(0, slash);
  std::string prefix = slash == std::string::npos ? "" : rest.substr(slash + 1);
  while (!prefix.empty() && prefix.back() == '/') prefix.pop_back();
  if (bucket.empty())
    throw ConfigError("checkpoint URI '" + uri + "' names no bucket (s3://bucket/prefix)");
  S3Options options;
  if (!s3_endpoint.empty()) options.endpoint = s3_endpoint;
  return makeS3Storage(bucket, prefix, options);
}

}  // namespace trainrun
