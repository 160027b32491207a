// Storage URIs: "s3://bucket[/prefix]" or a local folder; their syntax and S3's bucket rules.
#pragma once

#include <string>

namespace trainrun {

struct StorageUri {
  bool s3 = false;
  std::string bucket;  // s3: the bucket
  std::string prefix;  // s3: key prefix without leading or trailing '/'; may be empty
  std::string path;    // local: the folder, without trailing '/'
};

// Parses `uri` without touching the storage. Throws ConfigError naming `key` (the config key
// the URI came from, "checkpoint.uri") and the rule it breaks: no bucket, an invalid bucket
// name, an empty path segment ("s3://b//x"), an unsupported scheme ("gs://").
StorageUri parseStorageUri(const std::string& uri, const std::string& key = "checkpoint.uri");

// Why `bucket` breaks S3's naming rules for general purpose buckets, or "" when it follows
// them: 3-63 characters of a-z 0-9 . -, starting and ending with a letter or digit, no "..",
// not an IP address, none of the reserved prefixes and suffixes.
std::string bucketNameProblem(const std::string& bucket);

}  // namespace trainrun
