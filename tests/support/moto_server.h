// Test support: a moto_server child process (a real S3, IAM and STS API) that checks SigV4.
#pragma once

#include <curl/curl.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "core/env.h"
#include "storage/s3/s3_client.h"
#include "storage/s3/s3_xml.h"
#include "support/ports.h"

namespace trainrun::testing {

inline size_t appendTo(char* data, size_t size, size_t n, void* user) {
  static_cast<std::string*>(user)->append(data, size * n);
  return size * n;
}

// A signed AWS Query-protocol POST (IAM, STS) to moto; returns the response body.
inline std::string awsQuery(const std::string& endpoint, const std::string& service,
                            const std::string& key, const std::string& secret,
                            const std::string& form) {
  std::string body;
  CURL* curl = curl_easy_init();
  const std::string sigv4 = "aws:amz:us-east-1:" + service;
  curl_slist* headers =
      curl_slist_append(nullptr, "Content-Type: application/x-www-form-urlencoded");
  curl_easy_setopt(curl, CURLOPT_URL, (endpoint + "/").c_str());
  curl_easy_setopt(curl, CURLOPT_AWS_SIGV4, sigv4.c_str());
  curl_easy_setopt(curl, CURLOPT_USERNAME, key.c_str());
  curl_easy_setopt(curl, CURLOPT_PASSWORD, secret.c_str());
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_POSTFIELDS, form.c_str());
  curl_easy_setopt(curl, CURLOPT_TIMEOUT, 20L);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, appendTo);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &body);
  curl_easy_perform(curl);
  curl_slist_free_all(headers);
  curl_easy_cleanup(curl);
  return body;
}

// moto_server on a free loopback port. With `authenticate`, every request after the first
// kUnauthenticatedActions (which create an IAM user, its key and a role) must carry a valid
// SigV4 signature from a known key, as on AWS. moto's own signature check mis-encodes some
// characters (keys with '+', '%', '=', non-ASCII; query values with '/'; the aws CLI fails
// there too), so tests of such keys run without it.
class MotoServer {
 public:
  static constexpr int kUnauthenticatedActions = 5;
  static constexpr auto kStartTimeout = std::chrono::seconds(30);

  // Whether moto_server is on PATH (tests skip without it).
  static bool installed() { return !env::findOnPath("moto_server").empty(); }

  // Empty endpoint() when the server could not start.
  explicit MotoServer(bool authenticate) {
    const std::string program = env::findOnPath("moto_server");
    if (program.empty()) return;
    port_ = freeLoopbackPort();
    pid_ = ::fork();
    if (pid_ == 0) {
      ::setpgid(0, 0);
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlive a crashed test
      int null_fd = ::open("/dev/null", O_RDWR);
      ::dup2(null_fd, 1);
      ::dup2(null_fd, 2);
      if (authenticate) {
        ::setenv("INITIAL_NO_AUTH_ACTION_COUNT", std::to_string(kUnauthenticatedActions).c_str(),
                 1);
      }
      std::string port = std::to_string(port_);
      ::execl(program.c_str(), "moto_server", "-H", "127.0.0.1", "-p", port.c_str(),
              static_cast<char*>(nullptr));
      ::_exit(127);
    }
    const auto deadline = std::chrono::steady_clock::now() + kStartTimeout;
    while (!portAccepts(port_)) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_ ||
          std::chrono::steady_clock::now() > deadline) {
        pid_ = -1;
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    endpoint_ = "http://127.0.0.1:" + std::to_string(port_);
    if (!authenticate) {
      access_key_ = "testing";
      secret_key_ = "testing";
      return;
    }
    const std::string allow_all =
        "&PolicyDocument=%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%5B%7B"
        "%22Effect%22%3A%22Allow%22%2C%22Action%22%3A%22*%22%2C%22Resource%22%3A%22*%22%7D%5D%7D";
    const std::string user = "Version=2010-05-08&UserName=trainrun";
    bootstrap("Action=CreateUser&" + user);
    bootstrap("Action=PutUserPolicy&PolicyName=all&" + user + allow_all);
    std::string key = bootstrap("Action=CreateAccessKey&" + user);
    access_key_ = s3::xmlFirst(key, "AccessKeyId").value_or("");
    secret_key_ = s3::xmlFirst(key, "SecretAccessKey").value_or("");
    const std::string role = "Version=2010-05-08&RoleName=trainrun";
    std::string created = bootstrap(
        "Action=CreateRole&" + role +
        "&AssumeRolePolicyDocument=%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%5B%7B"
        "%22Effect%22%3A%22Allow%22%2C%22Principal%22%3A%7B%22AWS%22%3A%22*%22%7D%2C%22Action%22"
        "%3A%22sts%3AAssumeRole%22%7D%5D%7D");
    role_arn_ = s3::xmlFirst(created, "Arn").value_or("");
    bootstrap("Action=PutRolePolicy&PolicyName=all&" + role + allow_all);
  }

  // Temporary credentials of the role (AccessKeyId, SecretAccessKey, SessionToken), which
  // moto accepts only together with their session token.
  std::string assumeRoleResponse() const {
    return awsQuery(endpoint_, "sts", access_key_, secret_key_,
                    "Action=AssumeRole&Version=2011-06-15&RoleSessionName=test&RoleArn=" +
                        s3::uriEncode(role_arn_, false));
  }

  ~MotoServer() {
    if (pid_ > 0) {
      ::kill(-pid_, SIGTERM);
      int status = 0;
      ::waitpid(pid_, &status, 0);
    }
  }

  const std::string& endpoint() const { return endpoint_; }
  const std::string& accessKey() const { return access_key_; }
  const std::string& secretKey() const { return secret_key_; }

 private:
  std::string bootstrap(const std::string& form) const {
    return awsQuery(endpoint_, "iam", "bootstrap", "bootstrap", form);
  }

  pid_t pid_ = -1;
  int port_ = 0;
  std::string endpoint_;
  std::string access_key_;
  std::string secret_key_;
  std::string role_arn_;
};

}  // namespace trainrun::testing
