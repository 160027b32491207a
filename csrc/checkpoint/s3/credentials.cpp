// AWS credentials and the provider chain of the AWS SDKs (env, shared file, container, IMDSv2).
#include "checkpoint/s3/credentials.h"

#include <curl/curl.h>
#include <time.h>

#include <cstdlib>
#include <ctime>
#include <fstream>
#include <iomanip>
#include <nlohmann/json.hpp>
#include <sstream>
#include <vector>

#include "core/env.h"
#include "core/error.h"
#include "core/logging.h"
#include "core/strings.h"

namespace trainrun::s3 {
namespace {

// Link-local metadata services answer in milliseconds; a machine without one must not wait.
constexpr long kMetadataConnectTimeoutMs = 1000;
constexpr long kMetadataTimeoutMs = 2000;
constexpr int kMetadataAttempts = 2;
constexpr const char* kContainerHost = "http://169.254.170.2";
constexpr const char* kImdsDefaultEndpoint = "http://169.254.169.254";
constexpr const char* kImdsTokenTtlSeconds = "21600";

struct HttpResult {
  CURLcode curl = CURLE_OK;
  long status = 0;
  std::string body;
};

size_t appendBody(char* data, size_t size, size_t n, void* user) {
  static_cast<std::string*>(user)->append(data, size * n);
  return size * n;
}

// One unsigned request to a metadata endpoint. Proxies are bypassed: they cannot reach
// link-local addresses, and a proxy must never see these responses.
HttpResult httpRequest(const std::string& method, const std::string& url,
                       const std::vector<std::string>& headers) {
  HttpResult result;
  CURL* curl = curl_easy_init();
  if (!curl) throw StorageError("cannot initialise libcurl");
  curl_slist* list = nullptr;
  for (const auto& h : headers) list = curl_slist_append(list, h.c_str());
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method.c_str());
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, list);
  curl_easy_setopt(curl, CURLOPT_NOPROXY, "*");
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, kMetadataConnectTimeoutMs);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, kMetadataTimeoutMs);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, appendBody);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &result.body);
  result.curl = curl_easy_perform(curl);
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &result.status);
  curl_slist_free_all(list);
  curl_easy_cleanup(curl);
  return result;
}

// Retries once on network errors and 5xx: metadata services are local but can be briefly busy.
HttpResult httpRequestWithRetry(const std::string& method, const std::string& url,
                                const std::vector<std::string>& headers) {
  HttpResult result;
  for (int attempt = 1; attempt <= kMetadataAttempts; ++attempt) {
    result = httpRequest(method, url, headers);
    if (result.curl == CURLE_OK && result.status < 500) break;
  }
  return result;
}

std::string describeFailure(const HttpResult& r) {
  if (r.curl != CURLE_OK) return curl_easy_strerror(r.curl);
  return "HTTP " + std::to_string(r.status);
}

// "2024-05-01T12:00:00Z" (what ECS and IMDS send) to a time point.
std::optional<std::chrono::system_clock::time_point> parseIso8601(const std::string& text) {
  std::tm tm{};
  std::istringstream in(text);
  in >> std::get_time(&tm, "%Y-%m-%dT%H:%M:%S");
  if (in.fail()) return std::nullopt;
  return std::chrono::system_clock::from_time_t(timegm(&tm));
}

// The JSON document both the container endpoint and IMDS return.
Credentials parseCredentialsJson(const std::string& body, const std::string& source) {
  nlohmann::json doc = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (!doc.is_object() || !doc.contains("AccessKeyId") || !doc["AccessKeyId"].is_string() ||
      !doc.contains("SecretAccessKey") || !doc["SecretAccessKey"].is_string()) {
    throw StorageError("credentials from " + source +
                       " are not a JSON object with AccessKeyId and SecretAccessKey");
  }
  Credentials c;
  c.access_key_id = doc["AccessKeyId"].get<std::string>();
  c.secret_access_key = doc["SecretAccessKey"].get<std::string>();
  if (doc.contains("Token") && doc["Token"].is_string()) c.session_token = doc["Token"];
  if (doc.contains("Expiration") && doc["Expiration"].is_string()) {
    c.expiration = parseIso8601(doc["Expiration"].get<std::string>());
  }
  c.source = source;
  return c;
}

bool isTrue(const std::string& value) { return value == "true" || value == "TRUE" || value == "1"; }

}  // namespace

std::optional<Credentials> credentialsFromEnvironment() {
  std::string key = env::get(env::kAwsAccessKeyId);
  std::string secret = env::get(env::kAwsSecretAccessKey);
  if (key.empty() && secret.empty()) return std::nullopt;
  if (key.empty() || secret.empty()) {
    throw StorageError(std::string(key.empty() ? env::kAwsSecretAccessKey : env::kAwsAccessKeyId) +
                       " is set but " +
                       (key.empty() ? env::kAwsAccessKeyId : env::kAwsSecretAccessKey) +
                       " is not; set both, or neither to use a profile or role");
  }
  Credentials c;
  c.access_key_id = key;
  c.secret_access_key = secret;
  c.session_token = env::get(env::kAwsSessionToken);
  c.source = "the environment";
  return c;
}

std::optional<Credentials> credentialsFromSharedFile() {
  std::string path = env::get(env::kAwsSharedCredentialsFile);
  if (path.empty()) {
    std::string home = env::get(env::kHome);
    if (home.empty()) return std::nullopt;
    path = home + "/.aws/credentials";
  }
  std::string profile = env::get(env::kAwsProfile);
  const bool profile_named = !profile.empty();
  if (!profile_named) profile = "default";

  std::ifstream in(path);
  if (!in) {
    if (profile_named && !env::get(env::kAwsSharedCredentialsFile).empty()) {
      throw StorageError("cannot read AWS shared credentials file " + path);
    }
    return std::nullopt;
  }
  // INI: "[profile]" sections of "key = value" lines; '#' and ';' start comments.
  bool found_section = false;
  bool in_section = false;
  Credentials c;
  std::string line;
  while (std::getline(in, line)) {
    line = trim(line);
    if (line.empty() || line[0] == '#' || line[0] == ';') continue;
    if (line.front() == '[' && line.back() == ']') {
      std::string name = trim(line.substr(1, line.size() - 2));
      // ~/.aws/config spells sections "[profile name]"; accept that here too.
      if (name.rfind("profile ", 0) == 0) name = trim(name.substr(8));
      in_section = name == profile;
      found_section = found_section || in_section;
      continue;
    }
    if (!in_section) continue;
    size_t eq = line.find('=');
    if (eq == std::string::npos) continue;
    std::string name = trim(line.substr(0, eq));
    std::string value = trim(line.substr(eq + 1));
    if (name == "aws_access_key_id") c.access_key_id = value;
    if (name == "aws_secret_access_key") c.secret_access_key = value;
    if (name == "aws_session_token") c.session_token = value;
  }
  if (!found_section) {
    if (profile_named) throw StorageError("AWS profile '" + profile + "' not found in " + path);
    return std::nullopt;
  }
  if (c.access_key_id.empty() || c.secret_access_key.empty()) {
    if (profile_named) {
      throw StorageError("AWS profile '" + profile + "' in " + path +
                         " lacks aws_access_key_id or aws_secret_access_key");
    }
    return std::nullopt;
  }
  c.source = "profile " + profile + " in " + path;
  return c;
}

std::optional<Credentials> credentialsFromContainer() {
  std::string url;
  std::string relative = env::get(env::kAwsContainerCredentialsRelativeUri);
  if (!relative.empty()) {
    url = kContainerHost + relative;
  } else {
    url = env::get(env::kAwsContainerCredentialsFullUri);
    if (url.empty()) return std::nullopt;
  }
  std::vector<std::string> headers;
  std::string token;
  std::string token_file = env::get(env::kAwsContainerAuthorizationTokenFile);
  if (!token_file.empty()) {
    std::ifstream in(token_file);
    if (!in) throw StorageError("cannot read container authorization token file " + token_file);
    std::stringstream s;
    s << in.rdbuf();
    token = trim(s.str());
  } else {
    token = env::get(env::kAwsContainerAuthorizationToken);
  }
  if (!token.empty()) headers.push_back("Authorization: " + token);

  HttpResult r = httpRequestWithRetry("GET", url, headers);
  if (r.curl != CURLE_OK || r.status != 200) {
    throw StorageError("cannot get container credentials from " + url + ": " + describeFailure(r));
  }
  return parseCredentialsJson(r.body, "container endpoint " + url);
}

std::optional<Credentials> credentialsFromInstanceMetadata() {
  if (isTrue(env::get(env::kAwsEc2MetadataDisabled))) return std::nullopt;
  std::string base = env::get(env::kAwsEc2MetadataServiceEndpoint);
  if (base.empty()) base = kImdsDefaultEndpoint;
  while (!base.empty() && base.back() == '/') base.pop_back();

  // IMDSv2: a session token first; an unreachable service means "not on EC2".
  HttpResult token = httpRequestWithRetry(
      "PUT", base + "/latest/api/token",
      {std::string("X-aws-ec2-metadata-token-ttl-seconds: ") + kImdsTokenTtlSeconds});
  // Like the AWS SDKs, a refused token (403/404/405: no IMDSv2 here, or a proxy answering
  // for the link-local address) means "no instance credentials", not a failed run.
  if (token.curl != CURLE_OK || token.status != 200) return std::nullopt;
  const std::string auth = "X-aws-ec2-metadata-token: " + trim(token.body);
  const std::string roles_url = base + "/latest/meta-data/iam/security-credentials/";
  HttpResult roles = httpRequestWithRetry("GET", roles_url, {auth});
  if (roles.curl != CURLE_OK || roles.status != 200) {
    if (roles.status == 404) return std::nullopt;  // an instance without a role
    throw StorageError("cannot list instance roles from EC2 instance metadata: " +
                       describeFailure(roles));
  }
  std::string role = trim(roles.body.substr(0, roles.body.find('\n')));
  if (role.empty()) return std::nullopt;
  HttpResult creds = httpRequestWithRetry("GET", roles_url + role, {auth});
  if (creds.curl != CURLE_OK || creds.status != 200) {
    throw StorageError("cannot get credentials of instance role " + role + ": " +
                       describeFailure(creds));
  }
  return parseCredentialsJson(creds.body, "instance role " + role);
}

Credentials resolveCredentials() {
  if (auto c = credentialsFromEnvironment()) return *c;
  if (auto c = credentialsFromSharedFile()) return *c;
  if (auto c = credentialsFromContainer()) return *c;
  if (auto c = credentialsFromInstanceMetadata()) return *c;
  throw StorageError(
      "no AWS credentials found (set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or run "
      "with an instance/container role)");
}

Credentials CredentialsProvider::get() {
  std::lock_guard<std::mutex> lock(mu_);
  const auto now = std::chrono::system_clock::now();
  if (cached_ && (!cached_->expiration || now + kRefreshMargin < *cached_->expiration)) {
    return *cached_;
  }
  try {
    cached_ = resolveCredentials();
  } catch (const StorageError& e) {
    // A refresh that fails while the old credentials still work must not fail the request.
    if (!cached_ || !cached_->expiration || now >= *cached_->expiration) throw;
    log::warn(log::cat("cannot refresh AWS credentials from ", cached_->source, ": ", e.what(),
                       "; using the current ones until they expire"));
  }
  return *cached_;
}

}  // namespace trainrun::s3
