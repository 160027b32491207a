// AWS credentials and the provider chain of the AWS SDKs (env, shared file, container, IMDSv2).
#include "checkpoint/s3/credentials.h"

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <vector>

#include "checkpoint/s3/metadata_http.h"
#include "core/env.h"
#include "core/error.h"
#include "core/logging.h"
#include "core/strings.h"

namespace trainrun::s3 {
namespace {

constexpr const char* kContainerHost = "http://169.254.170.2";

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

  MetadataResponse r = metadataRequestWithRetry("GET", url, headers);
  if (!r.ok())
    throw StorageError("cannot get container credentials from " + url + ": " + r.describe());
  return parseCredentialsJson(r.body, "container endpoint " + url);
}

std::optional<Credentials> credentialsFromInstanceMetadata() {
  if (imdsDisabled()) return std::nullopt;
  const std::string base = imdsEndpoint();
  // IMDSv2: a session token first. Like the AWS SDKs, an unreachable service or a refused
  // token (403/404/405: no IMDSv2 here, or a proxy answering for the link-local address)
  // means "no instance credentials", not a failed run.
  const std::optional<std::string> token = imdsToken(base, MetadataTimeouts{});
  if (!token) return std::nullopt;
  const std::string auth = imdsTokenHeader(*token);
  const std::string roles_url = base + "/latest/meta-data/iam/security-credentials/";
  MetadataResponse roles = metadataRequestWithRetry("GET", roles_url, {auth});
  if (!roles.ok()) {
    if (roles.error.empty() && roles.status == 404) return std::nullopt;  // no role
    throw StorageError("cannot list instance roles from EC2 instance metadata: " +
                       roles.describe());
  }
  std::string role = trim(roles.body.substr(0, roles.body.find('\n')));
  if (role.empty()) return std::nullopt;
  MetadataResponse creds = metadataRequestWithRetry("GET", roles_url + role, {auth});
  if (!creds.ok())
    throw StorageError("cannot get credentials of instance role " + role + ": " + creds.describe());
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
