// Signed S3 HTTP requests over libcurl (SigV4 by libcurl itself), with timeouts and retries.
#include "storage/s3/s3_client.h"

#include <curl/curl.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <random>
#include <thread>

#include "core/clock.h"
#include "core/env.h"
#include "core/error.h"
#include "core/http.h"
#include "core/logging.h"
#include "core/strings.h"
#include "storage/s3/aws_config.h"
#include "storage/s3/s3_xml.h"

namespace trainrun::s3 {
namespace {

// Below this many bytes per second for stall_timeout, an attempt is considered hung.
constexpr long kStallBytesPerSecond = 1024;
// Larger socket buffers than curl's 16 KiB default: the difference is visible at GB/s.
constexpr long kTransferBufferSize = 512 * 1024;

// Per-attempt state shared with the curl callbacks.
struct Transfer {
  const Request* request = nullptr;
  Response* response = nullptr;
  uint64_t read_pos = 0;
  long status = 0;  // of the response being received (100 Continue included)
  bool sink_overflow = false;
};

// The value of header `name` ("etag:") if `line` is that header.
std::optional<std::string> headerValue(const std::string& line, const char* name) {
  const size_t n = std::strlen(name);
  if (line.size() < n || strncasecmp(line.c_str(), name, n) != 0) return std::nullopt;
  return trim(line.substr(n));
}

// Parses an unsigned decimal that fills `text`; nullopt for anything else.
std::optional<uint64_t> parseSize(const std::string& text) {
  if (text.empty() || text.size() > 19) return std::nullopt;
  uint64_t v = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + uint64_t(c - '0');
  }
  return v;
}

size_t onHeader(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  Response& r = *t->response;
  std::string line(data, size * n);
  if (line.rfind("HTTP/", 0) == 0) {
    // A new response (after "100 Continue"): forget the previous one's headers.
    size_t space = line.find(' ');
    t->status = space == std::string::npos ? 0 : std::strtol(line.c_str() + space + 1, nullptr, 10);
    r.etag.clear();
    r.body.clear();
    r.has_content_length = false;
    r.content_length = 0;
    r.object_size.reset();
  } else if (auto etag = headerValue(line, "etag:")) {
    r.etag = *etag;
  } else if (auto length = headerValue(line, "content-length:")) {
    std::optional<uint64_t> v = parseSize(*length);
    r.has_content_length = v.has_value();
    r.content_length = v.value_or(0);
  } else if (auto range = headerValue(line, "content-range:")) {
    // "bytes 0-99/1234"; an unknown size ("/*") leaves object_size unset.
    const size_t dash = range->find('-'), slash = range->find('/');
    if (range->rfind("bytes ", 0) == 0 && dash != std::string::npos && slash != std::string::npos &&
        dash < slash) {
      auto first = parseSize(range->substr(6, dash - 6));
      auto last = parseSize(range->substr(dash + 1, slash - dash - 1));
      auto total = parseSize(range->substr(slash + 1));
      if (first && last && total) {
        r.range_first = *first;
        r.range_last = *last;
        r.object_size = *total;
      }
    }
  }
  return size * n;
}

size_t onBody(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const size_t bytes = size * n;
  const Request& r = *t->request;
  if (r.sink && t->status >= 200 && t->status < 300) {
    if (t->response->received + bytes > r.sink_size) {
      t->sink_overflow = true;
      return 0;  // aborts the transfer with CURLE_WRITE_ERROR
    }
    std::memcpy(r.sink + t->response->received, data, bytes);
    t->response->received += bytes;
  } else {
    t->response->body.append(data, bytes);
  }
  return bytes;
}

size_t onRead(char* dst, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const uint64_t left = t->request->body_size - t->read_pos;
  const size_t bytes = static_cast<size_t>(std::min<uint64_t>(left, size * n));
  std::memcpy(dst, t->request->body + t->read_pos, bytes);
  t->read_pos += bytes;
  return bytes;
}

// curl rewinds the upload when it must resend it (a redirect, a rejected 100-continue).
int onSeek(void* user, curl_off_t offset, int origin) {
  auto* t = static_cast<Transfer*>(user);
  if (origin != SEEK_SET || offset < 0 || static_cast<uint64_t>(offset) > t->request->body_size) {
    return CURL_SEEKFUNC_FAIL;
  }
  t->read_pos = static_cast<uint64_t>(offset);
  return CURL_SEEKFUNC_OK;
}

bool isRetryableCurlError(CURLcode code) {
  switch (code) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
      return true;
    default:
      return false;
  }
}

// S3 asks for a retry with 5xx, 429, and a few 400 codes (a slow client, throttling).
bool isRetryableHttp(long status, const std::string& code) {
  if (status >= 500 || status == 429) return true;
  return code == "RequestTimeout" || code == "SlowDown" || code == "Throttling" ||
         code == "ThrottlingException" || code == "InternalError";
}

std::chrono::milliseconds backoff(int retry, const S3Options& options) {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  const double cap =
      std::min<double>(options.retry_max_delay.count(),
                       options.retry_base_delay.count() * std::ldexp(1.0, retry - 1));
  std::uniform_real_distribution<double> uniform(0.0, cap);
  return std::chrono::milliseconds(static_cast<long long>(uniform(rng)));
}

// Why a 2xx response that curl received without error is still not the whole answer, or "".
// curl already fails a body cut short of its Content-Length (CURLE_PARTIAL_FILE); these are
// the cases it cannot see: no length to check against, a sink left short, a bad document.
std::string incompleteResponse(const Request& request, const Response& response) {
  if (request.method == "HEAD") {
    // HEAD's Content-Length is the object's size: without it there is no size to report.
    return response.has_content_length ? "" : "no Content-Length in the HEAD response";
  }
  if (request.sink) {
    if (response.received == request.sink_size) return "";
    // Fewer bytes are an answer only when Content-Range says the object ends right there.
    const bool object_ends = response.object_size && response.status == 206 &&
                             response.range_last + 1 == *response.object_size &&
                             response.range_last - response.range_first + 1 == response.received;
    if (object_ends) return "";
    return "short body (" + std::to_string(response.received) + " of " +
           std::to_string(request.sink_size) + " bytes)";
  }
  if (response.has_content_length && response.body.size() != response.content_length) {
    return "short body (" + std::to_string(response.body.size()) + " of " +
           std::to_string(response.content_length) + " bytes)";
  }
  return request.check ? request.check(response) : "";
}

void initCurlOnce() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

}  // namespace

std::string uriEncode(const std::string& text, bool keep_slash) {
  return http::escape(text, keep_slash);
}

struct S3Client::Attempt {
  CURLcode curl = CURLE_OK;
  std::string curl_error;
  bool sink_overflow = false;
  Response response;
};

S3Client::S3Client(std::string bucket, const S3Options& options)
    : bucket_(std::move(bucket)), options_(options) {
  initCurlOnce();
  endpoint_ = options.endpoint;
  if (endpoint_.empty()) endpoint_ = env::get(env::kAwsEndpointUrlS3);
  if (endpoint_.empty()) endpoint_ = env::get(env::kAwsEndpointUrl);
  // The SDKs' chain (environment, the profile in ~/.aws/config, EC2 instance metadata). An
  // S3-compatible endpoint (MinIO, moto) ignores the region: us-east-1 signs for it. AWS
  // itself needs the bucket's: none found is an error, as boto3's NoRegionError.
  region_ = options.region;
  if (region_.empty()) region_ = resolveRegion(/*ask_instance_metadata=*/endpoint_.empty());
  if (region_.empty() && !endpoint_.empty()) region_ = "us-east-1";
  if (region_.empty())
    throw ConfigError("no AWS region for bucket " + bucket_ +
                      ": set AWS_REGION to the bucket's region, or region in the profile of " +
                      (awsConfigPath().empty() ? std::string("~/.aws/config") : awsConfigPath()) +
                      " (AWS_PROFILE=" + awsProfile() + ")");
  if (!endpoint_.empty()) {
    // S3-compatible servers (MinIO, moto) rarely have per-bucket DNS names.
    path_style_ = true;
    if (endpoint_.rfind("http://", 0) != 0 && endpoint_.rfind("https://", 0) != 0) {
      throw ConfigError("S3 endpoint '" + endpoint_ + "' must start with http:// or https://");
    }
    while (endpoint_.back() == '/') endpoint_.pop_back();
  } else if (bucket_.find('.') != std::string::npos) {
    // A dotted bucket name breaks the *.s3 wildcard TLS certificate of virtual-hosted style.
    path_style_ = true;
    endpoint_ = "https://s3." + region_ + ".amazonaws.com";
  } else {
    path_style_ = false;
    endpoint_ = "https://" + bucket_ + ".s3." + region_ + ".amazonaws.com";
  }
}

S3Client::~S3Client() {
  for (CURL* curl : pool_) curl_easy_cleanup(curl);
}

std::string S3Client::objectUri(const std::string& key) const {
  return key.empty() ? "s3://" + bucket_ : "s3://" + bucket_ + "/" + key;
}

std::string S3Client::url(const Request& request) const {
  std::string u = endpoint_;
  if (path_style_) u += "/" + bucket_;
  if (!request.key.empty() || !path_style_) u += "/" + uriEncode(request.key, true);
  if (!request.query.empty()) u += "?" + request.query;
  return u;
}

CURL* S3Client::acquire() {
  {
    std::lock_guard<std::mutex> lock(pool_mu_);
    if (!pool_.empty()) {
      CURL* curl = pool_.back();
      pool_.pop_back();
      return curl;
    }
  }
  CURL* curl = curl_easy_init();
  if (!curl) throw StorageError("cannot initialise libcurl");
  return curl;
}

void S3Client::release(CURL* curl) {
  // reset() clears options but keeps the handle's open connections for the next request.
  curl_easy_reset(curl);
  std::lock_guard<std::mutex> lock(pool_mu_);
  pool_.push_back(curl);
}

S3Client::Attempt S3Client::perform(const Request& request, CURL* curl,
                                    const Credentials& credentials) {
  Attempt attempt;
  Transfer transfer;
  transfer.request = &request;
  transfer.response = &attempt.response;
  char error_buffer[CURL_ERROR_SIZE] = {0};

  curl_slist* headers = nullptr;
  for (const auto& h : request.headers) headers = curl_slist_append(headers, h.c_str());
  // libcurl cannot hash a streamed body, and S3 accepts an unsigned payload over any transport
  // (TLS protects it on the wire; the checkpoint layer checksums what it stores).
  headers = curl_slist_append(headers, "x-amz-content-sha256: UNSIGNED-PAYLOAD");
  if (!credentials.session_token.empty()) {
    headers =
        curl_slist_append(headers, ("x-amz-security-token: " + credentials.session_token).c_str());
  }

  const std::string full_url = url(request);
  const std::string sigv4 = "aws:amz:" + region_ + ":s3";
  curl_easy_setopt(curl, CURLOPT_URL, full_url.c_str());
  curl_easy_setopt(curl, CURLOPT_PATH_AS_IS, 1L);  // keys may contain "./" or "../"
  curl_easy_setopt(curl, CURLOPT_AWS_SIGV4, sigv4.c_str());
  curl_easy_setopt(curl, CURLOPT_USERNAME, credentials.access_key_id.c_str());
  curl_easy_setopt(curl, CURLOPT_PASSWORD, credentials.secret_access_key.c_str());
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, error_buffer);
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS,
                   static_cast<long>(options_.connect_timeout.count()));
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(options_.request_timeout.count()));
  curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, kStallBytesPerSecond);
  curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME, static_cast<long>(options_.stall_timeout.count()));
  curl_easy_setopt(curl, CURLOPT_TCP_KEEPALIVE, 1L);
  // Waiting for "100 Continue" costs a round trip per part, for nothing: bodies are sized up
  // front. (Removing the header with "Expect:" instead breaks libcurl 7.88's signature.)
  curl_easy_setopt(curl, CURLOPT_EXPECT_100_TIMEOUT_MS, 0L);
  curl_easy_setopt(curl, CURLOPT_BUFFERSIZE, kTransferBufferSize);
  curl_easy_setopt(curl, CURLOPT_UPLOAD_BUFFERSIZE, kTransferBufferSize);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, onHeader);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &transfer);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, onBody);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &transfer);

  if (request.method == "PUT") {
    curl_easy_setopt(curl, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(curl, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(request.body_size));
    curl_easy_setopt(curl, CURLOPT_READFUNCTION, onRead);
    curl_easy_setopt(curl, CURLOPT_READDATA, &transfer);
    curl_easy_setopt(curl, CURLOPT_SEEKFUNCTION, onSeek);
    curl_easy_setopt(curl, CURLOPT_SEEKDATA, &transfer);
  } else if (request.method == "POST") {
    curl_easy_setopt(curl, CURLOPT_POST, 1L);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(request.body_size));
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, request.body ? request.body : "");
  } else if (request.method == "HEAD") {
    curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
  } else if (request.method != "GET") {
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, request.method.c_str());
  }

  attempt.curl = curl_easy_perform(curl);
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &attempt.response.status);
  attempt.curl_error = error_buffer;
  attempt.sink_overflow = transfer.sink_overflow;
  // Never leave pointers to this frame's secrets or buffers in a pooled handle.
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, nullptr);
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, nullptr);
  curl_slist_free_all(headers);
  return attempt;
}

struct S3Client::Verdict {
  bool ok = false;  // attempt.response is whole
  bool retryable = false;
  ErrorBody error;
  std::string failure;  // "503 SlowDown" or "cannot connect to ..."
  std::string hint;
};

S3Client::Verdict S3Client::judge(const Request& request, Attempt& attempt) const {
  Verdict v;
  const long status = attempt.response.status;
  if (attempt.curl == CURLE_OK) {
    v.error = parseError(attempt.response.body);
    // CompleteMultipartUpload may answer 200 and report the failure in the body.
    if (status >= 200 && status < 300 && v.error.code.empty()) {
      v.failure = incompleteResponse(request, attempt.response);
      v.ok = v.failure.empty();
      v.retryable = true;  // a cut connection, a confused proxy: the next attempt may be whole
    } else if (status >= 200 && status < 300) {
      v.failure = std::to_string(status) + " " + v.error.code;
      v.retryable = true;
    } else {
      v.failure = std::to_string(status);
      if (!v.error.code.empty()) v.failure += " " + v.error.code;
      v.retryable = isRetryableHttp(status, v.error.code);
    }
    return v;
  }
  if (attempt.sink_overflow) {
    v.failure = "the server sent more bytes than requested";
    return v;
  }
  v.retryable = isRetryableCurlError(attempt.curl);
  switch (attempt.curl) {
    case CURLE_COULDNT_CONNECT:
      v.failure = "cannot connect to " + endpoint_;
      v.hint = "is the endpoint right?";
      break;
    case CURLE_COULDNT_RESOLVE_HOST:
      v.failure = "cannot resolve the host of " + endpoint_;
      v.hint = "is the endpoint right?";
      break;
    case CURLE_OPERATION_TIMEDOUT:
      v.failure = "timed out talking to " + endpoint_;
      break;
    default:
      v.failure = curl_easy_strerror(attempt.curl);
      if (!attempt.curl_error.empty()) v.failure += " (" + oneLine(attempt.curl_error) + ")";
  }
  return v;
}

void S3Client::explain(Verdict& v, const Credentials& credentials) const {
  const std::string& code = v.error.code;
  if (code == "InvalidAccessKeyId" || code == "SignatureDoesNotMatch" || code == "InvalidToken" ||
      code == "ExpiredToken" || code == "TokenRefreshRequired") {
    v.hint = "check AWS credentials from " + credentials.source;
  } else if (code == "AccessDenied" || code == "AllAccessDisabled") {
    v.hint = "the AWS credentials from " + credentials.source + " lack access to this object";
  } else if (code == "NoSuchBucket") {
    v.hint = "does bucket " + bucket_ + " exist?";
  } else if (code == "PermanentRedirect" || code == "AuthorizationHeaderMalformed" ||
             code == "IllegalLocationConstraintException") {
    v.hint = "is " + region_ + " the bucket's region? set AWS_REGION";
  } else if (!v.error.message.empty() && v.hint.empty()) {
    v.failure += ": " + oneLine(v.error.message);
  }
}

Response S3Client::send(const Request& request) {
  const auto start = Clock::now();
  const std::string what = "s3 " + request.op + " " +
                           objectUri(request.shown_key.empty() ? request.key : request.shown_key);
  for (int attempt_no = 1;; ++attempt_no) {
    Credentials credentials = credentials_.get();
    CURL* curl = acquire();
    Attempt attempt;
    try {
      attempt = perform(request, curl, credentials);
    } catch (...) {
      release(curl);
      throw;
    }
    release(curl);

    Verdict verdict = judge(request, attempt);
    if (verdict.ok) return std::move(attempt.response);
    std::chrono::milliseconds delay{0};
    bool retry = verdict.retryable && attempt_no < options_.max_attempts;
    if (retry) {
      delay = backoff(attempt_no, options_);
      if (Clock::now() - start + delay > options_.retry_deadline) retry = false;
    }
    if (retry) {
      log::warn(log::cat(what, ": ", verdict.failure, "; retrying in ", delay.count(),
                         " ms (attempt ", attempt_no + 1, " of ", options_.max_attempts, ")"));
      std::this_thread::sleep_for(delay);
      continue;
    }

    explain(verdict, credentials);
    std::string message =
        what + " failed: " + verdict.failure + " after " + plural(attempt_no, "attempt");
    if (!verdict.hint.empty()) message += " (" + verdict.hint + ")";
    if (attempt.response.status == 404 && verdict.error.code != "NoSuchBucket")
      throw NotFoundError(message);
    throw StorageError(message);
  }
}

}  // namespace trainrun::s3
