// AWS credentials and the provider chain of the AWS SDKs (env, web identity, shared file,
// container, IMDSv2).
#pragma once

#include <chrono>
#include <mutex>
#include <optional>
#include <string>

namespace trainrun::s3 {

struct Credentials {
  std::string access_key_id;
  std::string secret_access_key;
  std::string session_token;  // temporary credentials only
  // When temporary credentials stop working; nullopt for long-term keys.
  std::optional<std::chrono::system_clock::time_point> expiration;
  // Where they came from, for messages: "environment", "profile dev in /root/.aws/credentials".
  std::string source;
};

// Each source returns nullopt when it is not configured, and throws StorageError when it is
// configured but unusable (so a broken setup is reported instead of silently skipped).
std::optional<Credentials> credentialsFromEnvironment();
// AWS_WEB_IDENTITY_TOKEN_FILE + AWS_ROLE_ARN (EKS IRSA, Kubeflow pods): the token traded for
// temporary credentials by STS AssumeRoleWithWebIdentity (AWS_ENDPOINT_URL_STS or
// AWS_ENDPOINT_URL overrides the endpoint); re-assumed before they expire.
std::optional<Credentials> credentialsFromWebIdentity();
std::optional<Credentials> credentialsFromSharedFile();
std::optional<Credentials> credentialsFromContainer();
// Not configured = AWS_EC2_METADATA_DISABLED=true or no metadata service answering within ~1 s.
std::optional<Credentials> credentialsFromInstanceMetadata();

// The first source that yields credentials, in botocore's order (env, web identity, shared
// file, container, IMDSv2); throws StorageError when none.
Credentials resolveCredentials();

// Caches the resolved credentials and re-resolves temporary ones before they expire.
// Thread-safe.
class CredentialsProvider {
 public:
  // Temporary credentials are renewed this long before their expiration.
  static constexpr std::chrono::minutes kRefreshMargin{5};

  Credentials get();

 private:
  std::mutex mu_;
  std::optional<Credentials> cached_;
};

}  // namespace trainrun::s3
