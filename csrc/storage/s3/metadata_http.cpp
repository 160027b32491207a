// Metadata-service HTTP over libcurl: unsigned, no proxy, short timeouts, one retry.
#include "storage/s3/metadata_http.h"

#include <curl/curl.h>
#include <time.h>

#include <ctime>
#include <iomanip>
#include <sstream>

#include "core/env.h"
#include "core/error.h"
#include "core/strings.h"

namespace trainrun::s3 {
namespace {

constexpr const char* kImdsTokenTtlSeconds = "21600";

size_t appendBody(char* data, size_t size, size_t n, void* user) {
  static_cast<std::string*>(user)->append(data, size * n);
  return size * n;
}

}  // namespace

std::string MetadataResponse::describe() const {
  return error.empty() ? "HTTP " + std::to_string(status) : error;
}

MetadataResponse metadataRequest(const std::string& method, const std::string& url,
                                 const std::vector<std::string>& headers,
                                 const MetadataTimeouts& timeouts) {
  MetadataResponse result;
  CURL* curl = curl_easy_init();
  if (!curl) throw StorageError("cannot initialise libcurl");
  curl_slist* list = nullptr;
  for (const auto& h : headers) list = curl_slist_append(list, h.c_str());
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method.c_str());
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, list);
  curl_easy_setopt(curl, CURLOPT_NOPROXY, "*");
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, long(timeouts.connect.count()));
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, long(timeouts.total.count()));
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, appendBody);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &result.body);
  const CURLcode code = curl_easy_perform(curl);
  if (code != CURLE_OK) result.error = curl_easy_strerror(code);
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &result.status);
  curl_slist_free_all(list);
  curl_easy_cleanup(curl);
  return result;
}

MetadataResponse metadataRequestWithRetry(const std::string& method, const std::string& url,
                                          const std::vector<std::string>& headers,
                                          const MetadataTimeouts& timeouts, int attempts) {
  MetadataResponse result;
  for (int attempt = 1; attempt <= attempts; ++attempt) {
    result = metadataRequest(method, url, headers, timeouts);
    if (result.error.empty() && result.status < 500) break;
  }
  return result;
}

bool imdsDisabled() {
  const std::string v = env::get(env::kAwsEc2MetadataDisabled);
  return v == "true" || v == "TRUE" || v == "1";
}

std::string imdsEndpoint() {
  std::string base = env::get(env::kAwsEc2MetadataServiceEndpoint);
  if (base.empty()) base = kImdsDefaultEndpoint;
  while (!base.empty() && base.back() == '/') base.pop_back();
  return base;
}

std::optional<std::string> imdsToken(const std::string& base, const MetadataTimeouts& timeouts,
                                     int attempts) {
  MetadataResponse r = metadataRequestWithRetry(
      "PUT", base + "/latest/api/token",
      {std::string("X-aws-ec2-metadata-token-ttl-seconds: ") + kImdsTokenTtlSeconds}, timeouts,
      attempts);
  if (!r.ok()) return std::nullopt;
  return trim(r.body);
}

std::string imdsTokenHeader(const std::string& token) {
  return "X-aws-ec2-metadata-token: " + token;
}

std::optional<std::chrono::system_clock::time_point> parseIso8601(const std::string& text) {
  std::tm tm{};
  std::istringstream in(text);
  in >> std::get_time(&tm, "%Y-%m-%dT%H:%M:%S");
  if (in.fail()) return std::nullopt;
  return std::chrono::system_clock::from_time_t(timegm(&tm));
}

}  // namespace trainrun::s3
