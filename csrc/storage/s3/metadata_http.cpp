// Metadata-service HTTP (core/http.h): unsigned, no proxy, short timeouts, one retry.
#include "storage/s3/metadata_http.h"

#include <time.h>

#include <ctime>
#include <iomanip>
#include <sstream>

#include "core/env.h"
#include "core/http.h"
#include "core/strings.h"

namespace trainrun::s3 {
namespace {

constexpr const char* kImdsTokenTtlSeconds = "21600";

}  // namespace

std::string MetadataResponse::describe() const {
  return error.empty() ? "HTTP " + std::to_string(status) : error;
}

MetadataResponse metadataRequest(const std::string& method, const std::string& url,
                                 const std::vector<std::string>& headers,
                                 const MetadataTimeouts& timeouts) {
  http::Request request;
  request.method = method;
  request.url = url;
  request.headers = headers;
  request.connect_timeout = timeouts.connect;
  request.total_timeout = timeouts.total;
  request.use_proxy = false;
  http::Response answer = http::perform(request);
  MetadataResponse result;
  result.error = answer.error;
  result.status = answer.status;
  result.body = std::move(answer.body);
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
