// Test support: environment variables set or unset for one scope, restored after it.
#pragma once

#include <cstdlib>
#include <map>
#include <optional>
#include <string>

namespace trainrun::testing {

class ScopedEnv {
 public:
  ScopedEnv() = default;
  // Sets `name` to `value` (unsets it for nullopt) until the object goes.
  ScopedEnv(const std::string& name, std::optional<std::string> value) {
    value ? set(name, *value) : unset(name);
  }
  ~ScopedEnv() {
    for (const auto& [name, value] : saved_)
      value ? ::setenv(name.c_str(), value->c_str(), 1) : ::unsetenv(name.c_str());
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

  void set(const std::string& name, const std::string& value) {
    save(name);
    ::setenv(name.c_str(), value.c_str(), 1);
  }
  void unset(const std::string& name) {
    save(name);
    ::unsetenv(name.c_str());
  }
  // Clears every variable that could leak the developer's own AWS setup into a test.
  void isolateAws() {
    for (const char* name : {"AWS_ACCESS_KEY_ID",
                             "AWS_SECRET_ACCESS_KEY",
                             "AWS_SESSION_TOKEN",
                             "AWS_PROFILE",
                             "AWS_SHARED_CREDENTIALS_FILE",
                             "AWS_CONFIG_FILE",
                             "AWS_REGION",
                             "AWS_DEFAULT_REGION",
                             "AWS_ENDPOINT_URL",
                             "AWS_ENDPOINT_URL_S3",
                             "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
                             "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                             "AWS_CONTAINER_AUTHORIZATION_TOKEN",
                             "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
                             "AWS_EC2_METADATA_SERVICE_ENDPOINT",
                             "AWS_WEB_IDENTITY_TOKEN_FILE",
                             "AWS_ROLE_ARN",
                             "AWS_ROLE_SESSION_NAME",
                             "AWS_ENDPOINT_URL_STS",
                             "http_proxy",
                             "https_proxy",
                             "HTTP_PROXY",
                             "HTTPS_PROXY",
                             "ALL_PROXY",
                             "all_proxy"}) {
      unset(name);
    }
    set("HOME", "/nonexistent-trainrun-test-home");
    set("AWS_EC2_METADATA_DISABLED", "true");
  }

 private:
  // The first value seen is the one restored.
  void save(const std::string& name) {
    if (saved_.count(name)) return;
    const char* value = std::getenv(name.c_str());
    saved_[name] = value ? std::optional<std::string>(value) : std::nullopt;
  }
  std::map<std::string, std::optional<std::string>> saved_;
};

}  // namespace trainrun::testing
