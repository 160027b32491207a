// AWS credentials and the provider chain of the AWS SDKs (env, web identity, shared file,
// container, IMDSv2).
#include "storage/s3/credentials.h"

#include <chrono>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <vector>

#include "core/env.h"
#include "core/error.h"
#include "core/http.h"
#include "core/logging.h"
#include "core/strings.h"
#include "storage/s3/aws_config.h"
#include "storage/s3/metadata_http.h"
#include "storage/s3/s3_xml.h"

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

// AWS_ENDPOINT_URL_STS, else AWS_ENDPOINT_URL, else STS in the region (the global endpoint
// when no region is set), without a trailing '/'.
std::string stsEndpoint() {
  std::string url = env::get(env::kAwsEndpointUrlSts);
  if (url.empty()) url = env::get(env::kAwsEndpointUrl);
  if (url.empty()) {
    std::string region = env::get(env::kAwsRegion);
    if (region.empty()) region = env::get(env::kAwsDefaultRegion);
    url = region.empty() ? "https://sts.amazonaws.com" : "https://sts." + region + ".amazonaws.com";
  }
  while (!url.empty() && url.back() == '/') url.pop_back();
  return url;
}

}  // namespace

std::optional<Credentials> credentialsFromWebIdentity() {
  const std::string token_file = env::get(env::kAwsWebIdentityTokenFile);
  const std::string role = env::get(env::kAwsRoleArn);
  if (token_file.empty() && role.empty()) return std::nullopt;
  if (token_file.empty() || role.empty())
    throw StorageError(
        std::string(token_file.empty() ? env::kAwsRoleArn : env::kAwsWebIdentityTokenFile) +
        " is set but " + (token_file.empty() ? env::kAwsWebIdentityTokenFile : env::kAwsRoleArn) +
        " is not; set both for web identity (EKS IRSA), or neither");
  std::ifstream in(token_file);
  if (!in)
    throw StorageError("cannot read the web identity token file " + token_file + " (" +
                       env::kAwsWebIdentityTokenFile + ")");
  std::stringstream token;
  token << in.rdbuf();
  std::string session = env::get(env::kAwsRoleSessionName);
  if (session.empty())
    session = "trainrun-" + std::to_string(std::chrono::duration_cast<std::chrono::seconds>(
                                               std::chrono::system_clock::now().time_since_epoch())
                                               .count());
  const std::string url = stsEndpoint() + "/";
  // AssumeRoleWithWebIdentity is unsigned: the token is the proof.
  http::Request request;
  request.method = "POST";
  request.url = url;
  request.headers = {"Content-Type: application/x-www-form-urlencoded"};
  request.body =
      "Action=AssumeRoleWithWebIdentity&Version=2011-06-15&RoleArn=" + http::escape(role) +
      "&RoleSessionName=" + http::escape(session) +
      "&WebIdentityToken=" + http::escape(trim(token.str()));
  request.connect_timeout = std::chrono::seconds(5);
  request.total_timeout = std::chrono::seconds(30);
  http::Client client;
  http::Response answer;
  for (int attempt = 1; attempt <= 3; ++attempt) {  // a transport error or 5xx is retried
    answer = client.perform(request);
    if (answer.answered() && answer.status < 500) break;
  }
  const std::string what = "cannot assume role " + role + " with the web identity token in " +
                           token_file + " (STS " + url + ")";
  if (!answer.answered()) throw StorageError(what + ": " + answer.error);
  const std::string& response = answer.body;
  if (answer.status != 200) {
    const std::string error =
        xmlFirst(response, "Code").value_or("HTTP " + std::to_string(answer.status));
    throw StorageError(what + ": " + error + " " + xmlFirst(response, "Message").value_or(""));
  }
  Credentials c;
  c.access_key_id = xmlFirst(response, "AccessKeyId").value_or("");
  c.secret_access_key = xmlFirst(response, "SecretAccessKey").value_or("");
  c.session_token = xmlFirst(response, "SessionToken").value_or("");
  if (c.access_key_id.empty() || c.secret_access_key.empty())
    throw StorageError(what + ": the answer holds no credentials");
  if (auto expiration = xmlFirst(response, "Expiration")) c.expiration = parseIso8601(*expiration);
  c.source = "web identity (role " + role + ")";
  return c;
}

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
  // The AWS CLI's shared files, in botocore's order: the profile in ~/.aws/credentials
  // ("[NAME]"), then in ~/.aws/config ("[profile NAME]"); AWS_PROFILE names it in both.
  const std::string profile = awsProfile();
  const bool profile_named = !env::get(env::kAwsProfile).empty();
  const std::string cred_path = awsCredentialsPath(), config_path = awsConfigPath();
  if (profile_named && !env::get(env::kAwsSharedCredentialsFile).empty() &&
      !std::ifstream(cred_path))
    throw StorageError("cannot read AWS shared credentials file " + cred_path);
  bool found = false;
  for (const std::string& path : {cred_path, config_path}) {
    auto keys = readProfile(path, profile);
    if (!keys) continue;
    found = true;
    Credentials c;
    c.access_key_id = (*keys)["aws_access_key_id"];
    c.secret_access_key = (*keys)["aws_secret_access_key"];
    c.session_token = (*keys)["aws_session_token"];
    if (!c.access_key_id.empty() && !c.secret_access_key.empty()) {
      c.source = "profile " + profile + " in " + path;
      return c;
    }
    if (profile_named && c.access_key_id.empty() != c.secret_access_key.empty())
      throw StorageError("AWS profile '" + profile + "' in " + path +
                         " lacks aws_access_key_id or aws_secret_access_key");
  }
  // A profile of settings alone (region, role_arn): its credentials come from further on.
  if (!found && profile_named)
    throw StorageError("AWS profile '" + profile + "' not found in " + cred_path + " or " +
                       config_path + "; add it there, or set AWS_PROFILE to one that is");
  return std::nullopt;
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
  // botocore's order (boto3, the aws CLI): web identity before the shared credentials file.
  if (auto c = credentialsFromEnvironment()) return *c;
  if (auto c = credentialsFromWebIdentity()) return *c;
  if (auto c = credentialsFromSharedFile()) return *c;
  if (auto c = credentialsFromContainer()) return *c;
  if (auto c = credentialsFromInstanceMetadata()) return *c;
  throw StorageError(
      "no AWS credentials found (set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, "
      "AWS_WEB_IDENTITY_TOKEN_FILE with AWS_ROLE_ARN, or run with an instance/container role)");
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
