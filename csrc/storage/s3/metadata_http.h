// Unsigned HTTP to the AWS metadata services (IMDSv2, the container endpoint), bounded.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace trainrun::s3 {

// Link-local services answer in milliseconds; a machine without one must not wait long.
struct MetadataTimeouts {
  std::chrono::milliseconds connect{1000};
  std::chrono::milliseconds total{2000};
};

struct MetadataResponse {
  std::string error;  // the transport's failure ("Connection refused"); "" when an answer came
  long status = 0;    // HTTP status when error is ""
  std::string body;
  bool ok() const { return error.empty() && status == 200; }
  // "Connection refused", "HTTP 404".
  std::string describe() const;
};

// One request; proxies are bypassed (they cannot reach link-local addresses, and must never
// see these responses). Never throws for transport failures: they are in the response.
MetadataResponse metadataRequest(const std::string& method, const std::string& url,
                                 const std::vector<std::string>& headers,
                                 const MetadataTimeouts& timeouts = {});
// The same, tried `attempts` times while the transport fails or the service answers 5xx.
MetadataResponse metadataRequestWithRetry(const std::string& method, const std::string& url,
                                          const std::vector<std::string>& headers,
                                          const MetadataTimeouts& timeouts = {}, int attempts = 2);

// AWS_EC2_METADATA_DISABLED is true ("true", "TRUE" or "1").
bool imdsDisabled();
// AWS_EC2_METADATA_SERVICE_ENDPOINT without trailing '/', else http://169.254.169.254.
std::string imdsEndpoint();
inline constexpr const char* kImdsDefaultEndpoint = "http://169.254.169.254";

// An IMDSv2 session token from `base` (PUT /latest/api/token); nullopt when the service is
// unreachable or refuses one (no IMDSv2 here, or a proxy answering for the address).
std::optional<std::string> imdsToken(const std::string& base, const MetadataTimeouts& timeouts,
                                     int attempts = 2);
// The header that carries the token on every IMDSv2 GET.
std::string imdsTokenHeader(const std::string& token);

// "2024-05-01T12:00:00Z" (what ECS and IMDS send) to a time point; nullopt if malformed.
std::optional<std::chrono::system_clock::time_point> parseIso8601(const std::string& text);

}  // namespace trainrun::s3
