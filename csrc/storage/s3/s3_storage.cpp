// Storage backend on Amazon S3 (or any S3-compatible endpoint) over libcurl.
#include "storage/s3/s3_storage.h"

#include <algorithm>

#include "storage/s3/s3_client.h"
#include "storage/s3/s3_xml.h"
#include "core/logging.h"
#include "core/parallel.h"

namespace trainrun {
namespace {

// S3 allows at most this many parts per multipart upload.
constexpr uint64_t kMaxParts = 10000;

std::string normalizePrefix(std::string prefix) {
  while (!prefix.empty() && prefix.front() == '/') prefix.erase(prefix.begin());
  while (!prefix.empty() && prefix.back() == '/') prefix.pop_back();
  return prefix.empty() ? prefix : prefix + "/";
}

class S3Storage : public Storage, public S3Objects {
 public:
  S3Storage(const std::string& bucket, const std::string& prefix, const S3Options& options)
      : bucket_(bucket),
        root_(normalizePrefix(prefix)),
        options_(options),
        client_(bucket, options) {}

  void put(const std::string& key, const void* data, size_t size) override {
    const char* bytes = static_cast<const char*>(data);
    if (size <= options_.part_size) {
      s3::Request r{"PUT", "PUT", fullKey(key)};
      r.body = bytes;
      r.body_size = size;
      client_.send(r);
      return;
    }
    putMultipart(fullKey(key), bytes, size);
  }

  void read(const std::string& key, uint64_t offset, uint64_t length, void* dst) override {
    const std::string full = fullKey(key);
    if (length == 0) {
      // No range to ask for: still honour the contract (missing key, short object).
      std::optional<uint64_t> total = size(key);
      if (!total) throw NotFoundError("s3 GET " + client_.objectUri(full) + ": no such object");
      if (*total < offset) throw shortObject(full, offset, length);
      return;
    }
    readRanges(full, offset, length, dst, "");
  }

  std::vector<S3Object> listObjects(const std::string& prefix) override {
    std::vector<S3Object> objects = listFull(root_ + prefix);
    for (auto& o : objects) o.key = o.key.substr(root_.size());
    return objects;
  }

  void readObject(const S3Object& object, uint64_t offset, uint64_t length, void* dst) override {
    if (length == 0) return;
    readRanges(fullKey(object.key), offset, length, dst, object.etag);
  }

  std::optional<uint64_t> firstPartSize(const S3Object& object) override {
    s3::Request r{"HEAD", "HEAD", fullKey(object.key)};
    // No If-Match here: some servers (moto) compare it with the part's ETag, not the
    // object's. A part size from a replaced object fails the checksum, which is named.
    r.query = "partNumber=1";
    const s3::Response head = client_.send(r);
    // A server that ignores partNumber answers with the whole object's length.
    if (!head.has_content_length || head.content_length >= object.size) return std::nullopt;
    return head.content_length;
  }

  std::string uriOf(const std::string& key) const override {
    return client_.objectUri(root_ + key);
  }

 private:
  // Ranged GETs of part_size bytes in parallel; with `etag`, each is conditional on it.
  void readRanges(const std::string& full, uint64_t offset, uint64_t length, void* dst,
                  const std::string& etag) {
    const uint64_t chunk = options_.part_size;
    const uint64_t chunks = (length + chunk - 1) / chunk;
    runParallel(chunks, options_.parallelism, [&](uint64_t i) {
      const uint64_t begin = i * chunk;
      const uint64_t n = std::min(chunk, length - begin);
      s3::Request r{"GET", "GET", full};
      r.headers.push_back("Range: bytes=" + std::to_string(offset + begin) + "-" +
                          std::to_string(offset + begin + n - 1));
      if (!etag.empty()) r.headers.push_back("If-Match: " + etag);
      r.sink = static_cast<char*>(dst) + begin;
      r.sink_size = n;
      s3::Response response;
      try {
        response = client_.send(r);
      } catch (const NotFoundError&) {
        throw;
      } catch (const StorageError& e) {
        // A range that starts past the end is answered 416 InvalidRange.
        if (std::string(e.what()).find(" 416 ") != std::string::npos) {
          throw shortObject(full, offset, length);
        }
        throw;
      }
      // send() returns fewer bytes only when Content-Range proves the object ends early.
      if (response.received != n) throw shortObject(full, offset, length);
    });
  }

 public:
  std::optional<uint64_t> size(const std::string& key) override {
    try {
      return client_.send(s3::Request{"HEAD", "HEAD", fullKey(key)}).content_length;
    } catch (const NotFoundError&) {
      return std::nullopt;
    }
  }

  std::vector<std::string> list(const std::string& prefix) override {
    std::vector<std::string> keys;
    for (auto& o : listFull(root_ + prefix)) keys.push_back(o.key.substr(root_.size()));
    return keys;
  }

  void remove(const std::string& key) override {
    try {
      client_.send(s3::Request{"DELETE", "DELETE", fullKey(key)});
    } catch (const NotFoundError&) {
      // Already gone is what the caller wanted.
    }
  }

  std::string describe() const override {
    std::string uri = "s3://" + bucket_;
    if (!root_.empty()) uri += "/" + root_.substr(0, root_.size() - 1);
    return uri;
  }

 private:
  // Every object under the full key prefix (keys that lie under root_ only), sorted by key.
  std::vector<S3Object> listFull(const std::string& full_prefix) {
    std::vector<S3Object> objects;
    std::string token;
    do {
      // Canonical order (see s3::Request::query): continuation-token, list-type, max-keys, prefix.
      std::string query;
      if (!token.empty()) query += "continuation-token=" + s3::uriEncode(token, false) + "&";
      query += "list-type=2&max-keys=" + std::to_string(options_.list_page_size) +
               "&prefix=" + s3::uriEncode(full_prefix, false);
      s3::Request r{"LIST", "GET", ""};
      r.query = query;
      r.shown_key = full_prefix;
      // A page cut short would silently drop the newest keys (they sort last): demand the
      // whole document, and retry one that is not.
      r.check = [](const s3::Response& response) {
        return response.body.find("</ListBucketResult>") == std::string::npos
                   ? std::string("an incomplete ListBucketResult document")
                   : std::string();
      };
      s3::ListPage page;
      try {
        page = s3::parseListObjectsV2(client_.send(r).body);
      } catch (const NotFoundError& e) {
        throw StorageError(e.what());  // a listing never means "no such object"
      }
      for (size_t i = 0; i < page.keys.size(); ++i) {
        const std::string& k = page.keys[i];
        if (k.compare(0, root_.size(), root_) == 0)
          objects.push_back(S3Object{k, page.sizes[i], page.etags[i]});
      }
      token = page.truncated ? page.next_token : "";
      if (page.truncated && token.empty()) {
        throw StorageError("s3 LIST " + client_.objectUri(full_prefix) +
                           " failed: truncated page without NextContinuationToken");
      }
    } while (!token.empty());
    std::sort(objects.begin(), objects.end(),
              [](const S3Object& a, const S3Object& b) { return a.key < b.key; });
    return objects;
  }

  std::string fullKey(const std::string& key) const {
    if (key.empty()) throw StorageError("empty object key under " + describe());
    return root_ + key;
  }

  // True when `full` is the object of a completed multipart upload of `size` bytes in `parts`
  // parts (S3 gives such objects the ETag "<md5 of the part MD5s>-<parts>").
  bool completedEarlier(const std::string& full, uint64_t size, uint64_t parts) {
    s3::Response head;
    try {
      head = client_.send(s3::Request{"HEAD", "HEAD", full});
    } catch (const NotFoundError&) {
      return false;
    }
    const std::string suffix = "-" + std::to_string(parts) + "\"";
    return head.content_length == size && head.etag.size() > suffix.size() &&
           head.etag.compare(head.etag.size() - suffix.size(), suffix.size(), suffix) == 0;
  }

  StorageError shortObject(const std::string& full, uint64_t offset, uint64_t length) const {
    return StorageError("s3 GET " + client_.objectUri(full) +
                        " failed: the object is shorter than " + std::to_string(offset + length) +
                        " bytes (offset " + std::to_string(offset) + " + length " +
                        std::to_string(length) + ")");
  }

  void putMultipart(const std::string& full, const char* data, uint64_t size) {
    // Grow the part size when 10000 parts would not hold the object.
    const uint64_t part_size = std::max(options_.part_size, (size + kMaxParts - 1) / kMaxParts);
    const uint64_t parts = (size + part_size - 1) / part_size;

    s3::Request init{"CreateMultipartUpload", "POST", full};
    init.query = "uploads=";
    init.check = [](const s3::Response& response) {
      return s3::xmlFirst(response.body, "UploadId").value_or("").empty()
                 ? std::string("no UploadId in the response")
                 : std::string();
    };
    const std::string upload_id = s3::xmlFirst(client_.send(init).body, "UploadId").value_or("");
    const std::string encoded_id = s3::uriEncode(upload_id, false);
    try {
      std::vector<std::pair<int, std::string>> etags(parts);
      runParallel(parts, options_.parallelism, [&](uint64_t i) {
        const int number = static_cast<int>(i + 1);
        s3::Request r{"UploadPart " + std::to_string(number), "PUT", full};
        r.query = "partNumber=" + std::to_string(number) + "&uploadId=" + encoded_id;
        r.body = data + i * part_size;
        r.body_size = std::min(part_size, size - i * part_size);
        r.check = [](const s3::Response& response) {
          return response.etag.empty() ? std::string("no ETag in the response") : std::string();
        };
        etags[i] = {number, client_.send(r).etag};
      });
      const std::string body = s3::completeMultipartBody(etags);
      s3::Request complete{"CompleteMultipartUpload", "POST", full};
      complete.query = "uploadId=" + encoded_id;
      complete.headers.push_back("Content-Type: application/xml");
      complete.body = body.data();
      complete.body_size = body.size();
      // S3 may answer 200 at once and send the result (or an error) later: only a result
      // that names the object's ETag is a completed upload.
      complete.check = [](const s3::Response& response) {
        return s3::xmlFirst(response.body, "ETag").value_or("").empty()
                   ? std::string("no ETag in the CompleteMultipartUpload result")
                   : std::string();
      };
      try {
        client_.send(complete);
      } catch (const NotFoundError&) {
        // NoSuchUpload: an earlier attempt completed the upload and its answer was lost on
        // the way back (a retry cannot complete it twice). The object tells.
        if (!completedEarlier(full, size, parts)) throw;
      }
    } catch (...) {
      // Parts of an unfinished upload are billed until aborted: clean up, then report.
      try {
        s3::Request abort{"AbortMultipartUpload", "DELETE", full};
        abort.query = "uploadId=" + encoded_id;
        client_.send(abort);
      } catch (const std::exception& e) {
        log::warn(log::cat("could not abort the failed upload: ", e.what()));
      }
      throw;
    }
  }

  std::string bucket_;
  std::string root_;  // "prefix/" or ""
  S3Options options_;
  s3::S3Client client_;
};

void validate(const std::string& bucket, const S3Options& options) {
  if (bucket.empty()) throw ConfigError("S3 bucket name is empty");
  if (options.part_size < S3Options::kMinPartSize) {
    throw ConfigError("S3 part size " + std::to_string(options.part_size) +
                      " is below S3's minimum of 5 MiB");
  }
  if (options.max_attempts < 1) throw ConfigError("S3 max_attempts must be at least 1");
  if (options.parallelism < 1) throw ConfigError("S3 parallelism must be at least 1");
  if (options.list_page_size < 1 || options.list_page_size > 1000) {
    throw ConfigError("S3 list page size must be in 1..1000");
  }
}

}  // namespace

std::unique_ptr<Storage> makeS3Storage(const std::string& bucket, const std::string& prefix,
                                       const S3Options& options) {
  validate(bucket, options);
  return std::make_unique<S3Storage>(bucket, prefix, options);
}

std::unique_ptr<S3Objects> openS3Objects(const std::string& bucket, const std::string& prefix,
                                         const S3Options& options) {
  validate(bucket, options);
  return std::make_unique<S3Storage>(bucket, prefix, options);
}

void createS3Bucket(const std::string& bucket, const S3Options& options) {
  validate(bucket, options);
  s3::S3Client client(bucket, options);
  s3::Request r{"CreateBucket", "PUT", ""};
  // us-east-1 is the one region that rejects an explicit LocationConstraint.
  std::string body;
  if (client.region() != "us-east-1") {
    body = "<CreateBucketConfiguration><LocationConstraint>" + client.region() +
           "</LocationConstraint></CreateBucketConfiguration>";
  }
  r.body = body.data();
  r.body_size = body.size();
  try {
    client.send(r);
  } catch (const StorageError& e) {
    if (std::string(e.what()).find("BucketAlreadyOwnedByYou") == std::string::npos) throw;
  }
}

}  // namespace trainrun
