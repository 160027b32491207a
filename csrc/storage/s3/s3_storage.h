// Storage backend on Amazon S3 (or any S3-compatible endpoint) over libcurl.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "storage/storage.h"

namespace trainrun {

// How S3Storage talks to S3. Defaults suit checkpoints of GiB-scale shards from one rank.
struct S3Options {
  static constexpr int kDefaultMaxAttempts = 5;
  static constexpr std::chrono::milliseconds kDefaultConnectTimeout{3000};
  static constexpr std::chrono::milliseconds kDefaultRequestTimeout{120000};
  static constexpr std::chrono::seconds kDefaultStallTimeout{30};
  static constexpr std::chrono::milliseconds kDefaultRetryBaseDelay{200};
  static constexpr std::chrono::milliseconds kDefaultRetryMaxDelay{20000};
  static constexpr std::chrono::seconds kDefaultRetryDeadline{300};
  static constexpr uint64_t kDefaultPartSize = 8ull << 20;
  // S3 rejects multipart parts below 5 MiB (except the last one).
  static constexpr uint64_t kMinPartSize = 5ull << 20;
  static constexpr int kDefaultParallelism = 8;
  static constexpr int kDefaultListPageSize = 1000;

  // "http://host:port" of an S3-compatible server; addressed path-style (endpoint/bucket/key).
  // Empty: AWS_ENDPOINT_URL_S3, else AWS_ENDPOINT_URL, else AWS itself, virtual-hosted style.
  std::string endpoint;
  // Empty: AWS_REGION, else AWS_DEFAULT_REGION, else us-east-1.
  std::string region;
  // Tries per request, the first one included; transient failures only (5xx, 429, network).
  int max_attempts = kDefaultMaxAttempts;
  std::chrono::milliseconds connect_timeout = kDefaultConnectTimeout;
  // Upper bound on one attempt of one request (a part of at most part_size bytes).
  std::chrono::milliseconds request_timeout = kDefaultRequestTimeout;
  // An attempt that moves under 1 KiB/s for this long is abandoned (and retried).
  std::chrono::seconds stall_timeout = kDefaultStallTimeout;
  // Backoff before retry n is uniform in [0, min(max_delay, base * 2^(n-1))] ("full jitter").
  std::chrono::milliseconds retry_base_delay = kDefaultRetryBaseDelay;
  std::chrono::milliseconds retry_max_delay = kDefaultRetryMaxDelay;
  // No retry starts later than this after the first attempt of a request.
  std::chrono::milliseconds retry_deadline = kDefaultRetryDeadline;
  // Objects above this size are uploaded in parts of this size, and read in ranges of it.
  uint64_t part_size = kDefaultPartSize;
  // Parts (or ranges) in flight at once for one put() or read().
  int parallelism = kDefaultParallelism;
  // Keys per ListObjectsV2 page (S3 caps it at 1000).
  int list_page_size = kDefaultListPageSize;
};

// The S3 backend for objects under s3://bucket/prefix. Credentials are resolved lazily, on the
// first request, the way the AWS SDKs do (environment, shared credentials file and profile,
// container endpoint, EC2 instance metadata). Throws ConfigError for invalid options.
std::unique_ptr<Storage> makeS3Storage(const std::string& bucket, const std::string& prefix,
                                       const S3Options& options = {});

// One object of a listing.
struct S3Object {
  std::string key;  // relative to the prefix the objects were opened at
  uint64_t size = 0;
  std::string etag;  // as S3 sends it, quotes included: "\"<md5>\"" or "\"<md5>-<parts>\""
};

// Read access to the objects under s3://bucket/prefix with what a download cache needs: each
// object's size and ETag, and reads pinned to one version of an object. Same client, retries
// and credentials as the Storage backend.
class S3Objects {
 public:
  virtual ~S3Objects() = default;
  // Every object whose key starts with `prefix` (relative to the root), sorted by key.
  virtual std::vector<S3Object> listObjects(const std::string& prefix) = 0;
  // Reads [offset, offset + length) of `object` into dst in parallel ranged GETs of
  // S3Options::part_size, each with If-Match: its ETag, so every byte comes from the version
  // listed (an object replaced meanwhile fails the read rather than mixing versions).
  virtual void readObject(const S3Object& object, uint64_t offset, uint64_t length, void* dst) = 0;
  // The size of part 1 of a multipart object (HEAD ?partNumber=1), which is the part size
  // its ETag was computed with; nullopt when the server does not say.
  virtual std::optional<uint64_t> firstPartSize(const S3Object& object) = 0;
  // "s3://bucket/prefix/key", for messages.
  virtual std::string uriOf(const std::string& key) const = 0;
};
std::unique_ptr<S3Objects> openS3Objects(const std::string& bucket, const std::string& prefix,
                                         const S3Options& options = {});

// Creates the bucket (for tests and first-time setup); an existing bucket we own is fine.
void createS3Bucket(const std::string& bucket, const S3Options& options = {});

}  // namespace trainrun
