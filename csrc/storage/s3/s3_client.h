// Signed S3 HTTP requests over libcurl (SigV4 by libcurl itself), with timeouts and retries.
#pragma once

#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "storage/s3/credentials.h"
#include "storage/s3/s3_storage.h"

typedef void CURL;

namespace trainrun::s3 {

struct Response;

struct Request {
  Request(std::string op_name, std::string http_method, std::string object_key)
      : op(std::move(op_name)), method(std::move(http_method)), key(std::move(object_key)) {}

  std::string op;         // for messages: "PUT", "GET", "UploadPart 3", ...
  std::string method;     // GET, PUT, HEAD, POST, DELETE
  std::string key;        // full object key (root prefix included); empty for the bucket itself
  std::string shown_key;  // the key messages name when it is not `key` (LIST: the prefix)
  // Query string without '?', in SigV4 canonical form, because libcurl 7.88 signs it verbatim:
  // sorted by name, names and values uriEncode()d, flags written "name=".
  std::string query;
  std::vector<std::string> headers;
  const char* body = nullptr;  // PUT/POST payload, sent as is and not copied
  uint64_t body_size = 0;
  char* sink = nullptr;  // when set, a 2xx GET body lands here (exactly sink_size bytes)
  uint64_t sink_size = 0;
  // Extra check of a 2xx response: "" when it is complete content, else what is wrong with it
  // ("no ETag", "an incomplete XML document"); send() then retries it as a transient failure.
  std::function<std::string(const Response&)> check;
};

struct Response {
  long status = 0;
  std::string body;  // the body unless it went to Request::sink
  std::string etag;
  bool has_content_length = false;  // the response carried a Content-Length header
  uint64_t content_length = 0;      // its value: the object's size for HEAD, else the body's
  uint64_t received = 0;            // bytes written to Request::sink
  // From "Content-Range: bytes first-last/size" of a 206; object_size is unset when absent.
  uint64_t range_first = 0, range_last = 0;
  std::optional<uint64_t> object_size;
};

// S3's URI encoding: everything but A-Z a-z 0-9 - _ . ~ (and '/' when keep_slash) as %XX.
std::string uriEncode(const std::string& text, bool keep_slash);

// Requests against one bucket. Thread-safe; keeps a pool of curl handles so connections
// are reused across requests.
class S3Client {
 public:
  S3Client(std::string bucket, const S3Options& options);
  ~S3Client();
  S3Client(const S3Client&) = delete;
  S3Client& operator=(const S3Client&) = delete;

  // Sends with retries and returns a complete 2xx response: every body as long as its
  // Content-Length; a HEAD with a Content-Length; a sink filled with sink_size bytes, or with
  // fewer only when Content-Range proves the object ends there (the caller's "short object").
  // An error body, a short body or a failed Request::check is retried like a 503, never
  // returned. Throws NotFoundError on 404 (except NoSuchBucket) and StorageError otherwise,
  // with one line naming the op, the object and the last failure.
  Response send(const Request& request);

  // "s3://bucket/key", for messages.
  std::string objectUri(const std::string& key) const;
  const std::string& endpoint() const { return endpoint_; }
  const std::string& region() const { return region_; }

 private:
  struct Attempt;
  struct Verdict;
  Attempt perform(const Request& request, CURL* curl, const Credentials& credentials);
  // What an attempt came to: a whole response, or a failure and whether to retry it.
  Verdict judge(const Request& request, Attempt& attempt) const;
  // A failure that will not be retried: the hint its S3 error code calls for.
  void explain(Verdict& verdict, const Credentials& credentials) const;
  std::string url(const Request& request) const;
  CURL* acquire();
  void release(CURL* curl);

  std::string bucket_;
  S3Options options_;
  std::string endpoint_;  // scheme://host[:port], no trailing '/'
  std::string region_;
  bool path_style_;
  CredentialsProvider credentials_;
  std::mutex pool_mu_;
  std::vector<CURL*> pool_;
};

}  // namespace trainrun::s3
