// The credentials chain: shared file profiles, container endpoint, IMDSv2, nothing found.
#include "storage/s3/credentials.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "fake_http_server.h"
#include "storage/s3/aws_config.h"
#include "storage/s3/s3_client.h"
#include "support/moto_server.h"
#include "support/scoped_env.h"
#include "support/temp_dir.h"

namespace trainrun::s3 {
namespace {

using trainrun::testing::FakeHttpServer;
using trainrun::testing::FakeRequest;
using trainrun::testing::FakeResponse;
using trainrun::testing::ScopedEnv;

const char* kCredentialsJson =
    R"({"AccessKeyId":"ASIATEMP","SecretAccessKey":"temp-secret","Token":"temp-token",)"
    R"("Expiration":"2099-01-02T03:04:05Z"})";

std::string writeTempFile(const std::string& text) {
  std::string path = ::testing::TempDir() + "trainrun_creds_" + std::to_string(::getpid());
  std::ofstream(path) << text;
  return path;
}

TEST(S3Credentials, EnvironmentWinsAndNeedsBothHalves) {
  ScopedEnv env;
  env.isolateAws();
  env.set("AWS_ACCESS_KEY_ID", "AKENV");
  env.set("AWS_SECRET_ACCESS_KEY", "env-secret");
  env.set("AWS_SESSION_TOKEN", "env-token");
  Credentials c = resolveCredentials();
  EXPECT_EQ(c.access_key_id, "AKENV");
  EXPECT_EQ(c.session_token, "env-token");
  EXPECT_EQ(c.source, "the environment");
  env.unset("AWS_SECRET_ACCESS_KEY");
  EXPECT_THROW(resolveCredentials(), StorageError);
}

TEST(S3Credentials, SharedFileHonoursProfile) {
  ScopedEnv env;
  env.isolateAws();
  std::string path = writeTempFile(
      "# comment\n[default]\naws_access_key_id = AKDEFAULT\naws_secret_access_key=default-secret\n"
      "\n[ trainrun-test ]\n; another comment\naws_access_key_id=AKPROFILE\n"
      "aws_secret_access_key = profile-secret \naws_session_token = profile-token\n");
  env.set("AWS_SHARED_CREDENTIALS_FILE", path);
  EXPECT_EQ(resolveCredentials().access_key_id, "AKDEFAULT");
  env.set("AWS_PROFILE", "trainrun-test");
  Credentials c = resolveCredentials();
  EXPECT_EQ(c.access_key_id, "AKPROFILE");
  EXPECT_EQ(c.secret_access_key, "profile-secret");
  EXPECT_EQ(c.session_token, "profile-token");
  EXPECT_EQ(c.source, "profile trainrun-test in " + path);
  env.set("AWS_PROFILE", "missing");
  try {
    resolveCredentials();
    FAIL() << "expected StorageError";
  } catch (const StorageError& e) {
    EXPECT_EQ(std::string(e.what()).rfind("AWS profile 'missing' not found in " + path + " or ", 0),
              0u)
        << e.what();
  }
  std::remove(path.c_str());
}

// A temp HOME with the AWS CLI's two files: ~/.aws/config ("[profile NAME]", region) and
// ~/.aws/credentials ("[NAME]"), as `aws configure` writes them.
class AwsHome {
 public:
  explicit AwsHome(ScopedEnv& env) {
    std::filesystem::create_directories(home_ + "/.aws");
    env.set("HOME", home_);
  }
  void write(const std::string& name, const std::string& text) {
    std::ofstream(home_ + "/.aws/" + name) << text;
  }
  std::string path(const std::string& name) const { return home_ + "/.aws/" + name; }

 private:
  const trainrun::testing::TempDir dir_{"trainrun_home"};
  const std::string home_ = dir_.str();
};

TEST(S3Credentials, ConfigFileProfilesGiveRegionAndCredentials) {
  ScopedEnv env;
  env.isolateAws();
  AwsHome home(env);
  home.write("config",
             "[default]\nregion = eu-west-1\n\n[profile dev]\nregion=ap-south-1\n"
             "aws_access_key_id = AKCONFIG\naws_secret_access_key = config-secret\n"
             "[profile ci]\nregion = us-west-2\n");
  home.write("credentials", "[ci]\naws_access_key_id = AKCI\naws_secret_access_key = ci-secret\n");
  EXPECT_EQ(resolveRegion(false), "eu-west-1");  // the default profile
  env.set("AWS_PROFILE", "dev");
  EXPECT_EQ(resolveRegion(false), "ap-south-1");
  Credentials c = resolveCredentials();  // only the config file has dev's keys
  EXPECT_EQ(c.access_key_id, "AKCONFIG");
  EXPECT_EQ(c.source, "profile dev in " + home.path("config"));
  env.set("AWS_PROFILE", "ci");  // region from config, keys from credentials
  EXPECT_EQ(resolveRegion(false), "us-west-2");
  EXPECT_EQ(resolveCredentials().access_key_id, "AKCI");
  env.set("AWS_REGION", "sa-east-1");  // the environment wins, as in the SDKs
  EXPECT_EQ(resolveRegion(false), "sa-east-1");
  env.unset("AWS_REGION");
  env.set("AWS_CONFIG_FILE", home.path("elsewhere"));
  home.write("elsewhere", "[profile ci]\nregion = ca-central-1\n");
  EXPECT_EQ(resolveRegion(false), "ca-central-1");
  env.set("AWS_PROFILE", "nowhere");
  EXPECT_EQ(resolveRegion(false), "");
  EXPECT_THROW(resolveCredentials(), StorageError);  // a named profile that does not exist
}

// No region anywhere: AWS S3 needs the bucket's, so it is an error naming the fix (boto3's
// NoRegionError), never a silent us-east-1; an S3-compatible endpoint signs with us-east-1.
TEST(S3Credentials, NoRegionIsAnErrorForAwsButNotForAnEndpoint) {
  ScopedEnv env;
  env.isolateAws();
  AwsHome home(env);
  try {
    S3Client client("my-bucket", S3Options{});
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("set AWS_REGION"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(home.path("config")), std::string::npos) << e.what();
  }
  home.write("config", "[default]\nregion = eu-central-1\n");
  EXPECT_EQ(S3Client("my-bucket", S3Options{}).region(), "eu-central-1");
  std::filesystem::remove(home.path("config"));
  S3Options local;
  local.endpoint = "http://127.0.0.1:9";
  EXPECT_EQ(S3Client("my-bucket", local).region(), "us-east-1");
}

TEST(S3Credentials, ContainerEndpointSendsAuthorizationToken) {
  ScopedEnv env;
  env.isolateAws();
  FakeHttpServer server([](const FakeRequest&) { return FakeResponse{200, kCredentialsJson}; });
  env.set("AWS_CONTAINER_CREDENTIALS_FULL_URI", server.url() + "/v2/credentials/abc");
  std::string token_file = writeTempFile("file-token\n");
  env.set("AWS_CONTAINER_AUTHORIZATION_TOKEN", "inline-token");
  env.set("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", token_file);
  Credentials c = resolveCredentials();
  EXPECT_EQ(c.access_key_id, "ASIATEMP");
  EXPECT_EQ(c.secret_access_key, "temp-secret");
  EXPECT_EQ(c.session_token, "temp-token");
  ASSERT_TRUE(c.expiration.has_value());
  EXPECT_EQ(std::chrono::system_clock::to_time_t(*c.expiration), 4071006245);
  auto requests = server.requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].target, "/v2/credentials/abc");
  EXPECT_EQ(requests[0].headers["authorization"], "file-token");  // the file wins
  std::remove(token_file.c_str());
}

TEST(S3Credentials, WebIdentityThroughStsBeforeTheSharedFile) {
  ScopedEnv env;
  env.isolateAws();
  FakeHttpServer sts([](const FakeRequest&) {
    return FakeResponse{200,
                        "<AssumeRoleWithWebIdentityResponse><AssumeRoleWithWebIdentityResult>"
                        "<Credentials><AccessKeyId>ASIAWEB</AccessKeyId>"
                        "<SecretAccessKey>web-secret</SecretAccessKey>"
                        "<SessionToken>web-token</SessionToken>"
                        "<Expiration>2099-01-02T03:04:05Z</Expiration></Credentials>"
                        "</AssumeRoleWithWebIdentityResult></AssumeRoleWithWebIdentityResponse>"};
  });
  std::string token_file = writeTempFile("eyJ.payload.sig\n");
  std::string shared = ::testing::TempDir() + "trainrun_shared_" + std::to_string(::getpid());
  std::ofstream(shared) << "[default]\naws_access_key_id = AKSHARED\naws_secret_access_key = s\n";
  env.set("AWS_SHARED_CREDENTIALS_FILE", shared);
  env.set("AWS_WEB_IDENTITY_TOKEN_FILE", token_file);
  env.set("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/train");
  env.set("AWS_ROLE_SESSION_NAME", "pod 7");
  env.set("AWS_ENDPOINT_URL_STS", sts.url());
  Credentials c = resolveCredentials();
  EXPECT_EQ(c.access_key_id, "ASIAWEB");
  EXPECT_EQ(c.secret_access_key, "web-secret");
  EXPECT_EQ(c.session_token, "web-token");
  ASSERT_TRUE(c.expiration.has_value());
  EXPECT_EQ(std::chrono::system_clock::to_time_t(*c.expiration), 4071006245);
  auto requests = sts.requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].method, "POST");
  EXPECT_NE(requests[0].body.find("Action=AssumeRoleWithWebIdentity"), std::string::npos);
  EXPECT_NE(requests[0].body.find("RoleArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Ftrain"),
            std::string::npos);
  EXPECT_NE(requests[0].body.find("RoleSessionName=pod%207"), std::string::npos);
  const std::string tail = "&WebIdentityToken=eyJ.payload.sig";  // the file's newline trimmed
  EXPECT_EQ(requests[0].body.substr(requests[0].body.size() - tail.size()), tail);
  EXPECT_EQ(requests[0].headers.count("authorization"), 0u);  // unsigned: the token is the proof
  // Half a configuration is an error naming the missing half; STS's refusal names its code.
  env.unset("AWS_ROLE_ARN");
  try {
    resolveCredentials();
    FAIL() << "expected StorageError";
  } catch (const StorageError& e) {
    EXPECT_NE(std::string(e.what()).find("AWS_ROLE_ARN is not"), std::string::npos) << e.what();
  }
  FakeHttpServer refusing([](const FakeRequest&) {
    return FakeResponse{403,
                        "<ErrorResponse><Error><Code>InvalidIdentityToken</Code>"
                        "<Message>expired</Message></Error></ErrorResponse>"};
  });
  env.set("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/train");
  env.set("AWS_ENDPOINT_URL_STS", refusing.url());
  try {
    resolveCredentials();
    FAIL() << "expected StorageError";
  } catch (const StorageError& e) {
    EXPECT_NE(std::string(e.what()).find("InvalidIdentityToken expired"), std::string::npos)
        << e.what();
  }
  std::remove(token_file.c_str());
  std::remove(shared.c_str());
}

TEST(S3Credentials, InstanceMetadataV2) {
  ScopedEnv env;
  env.isolateAws();
  FakeHttpServer server([](const FakeRequest& r) {
    if (r.method == "PUT" && r.target == "/latest/api/token") {
      if (r.headers.count("x-aws-ec2-metadata-token-ttl-seconds") == 0) return FakeResponse{400};
      return FakeResponse{200, "imds-token"};
    }
    if (r.headers.count("x-aws-ec2-metadata-token") == 0 ||
        r.headers.at("x-aws-ec2-metadata-token") != "imds-token") {
      return FakeResponse{401};
    }
    if (r.target == "/latest/meta-data/iam/security-credentials/") {
      return FakeResponse{200, "trainer-role\n"};
    }
    if (r.target == "/latest/meta-data/iam/security-credentials/trainer-role") {
      return FakeResponse{200, kCredentialsJson};
    }
    return FakeResponse{404};
  });
  env.unset("AWS_EC2_METADATA_DISABLED");
  env.set("AWS_EC2_METADATA_SERVICE_ENDPOINT", server.url());
  Credentials c = resolveCredentials();
  EXPECT_EQ(c.access_key_id, "ASIATEMP");
  EXPECT_EQ(c.session_token, "temp-token");
  EXPECT_EQ(c.source, "instance role trainer-role");
  EXPECT_EQ(server.requests().size(), 3u);
}

TEST(S3Credentials, NothingFoundFailsFastWithTheFix) {
  ScopedEnv env;
  env.isolateAws();
  env.unset("AWS_EC2_METADATA_DISABLED");
  // A metadata service that is not there, as on any non-EC2 machine.
  env.set("AWS_EC2_METADATA_SERVICE_ENDPOINT",
          "http://127.0.0.1:" + std::to_string(trainrun::testing::freeLoopbackPort()));
  const auto start = std::chrono::steady_clock::now();
  try {
    resolveCredentials();
    FAIL() << "expected StorageError";
  } catch (const StorageError& e) {
    EXPECT_EQ(std::string(e.what()),
              "no AWS credentials found (set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, "
              "AWS_WEB_IDENTITY_TOKEN_FILE with AWS_ROLE_ARN, or run with an instance/container "
              "role)");
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
}

TEST(S3Credentials, RefusedMetadataTokenMeansNoInstanceCredentials) {
  ScopedEnv env;
  env.isolateAws();
  env.unset("AWS_EC2_METADATA_DISABLED");
  // A proxy that answers for the metadata address with 403, as on many non-EC2 networks.
  FakeHttpServer server([](const FakeRequest&) { return FakeResponse{403}; });
  env.set("AWS_EC2_METADATA_SERVICE_ENDPOINT", server.url());
  try {
    resolveCredentials();
    FAIL() << "expected StorageError";
  } catch (const StorageError& e) {
    EXPECT_NE(std::string(e.what()).find("no AWS credentials found"), std::string::npos)
        << e.what();
  }
}

TEST(S3Credentials, ProviderRefreshesBeforeExpiration) {
  ScopedEnv env;
  env.isolateAws();
  int served = 0;
  FakeHttpServer server([&](const FakeRequest&) {
    ++served;
    // Expires within the refresh margin, so every get() must fetch anew.
    auto soon = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now() +
                                                     std::chrono::minutes(1));
    char expiration[32];
    std::strftime(expiration, sizeof(expiration), "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&soon));
    return FakeResponse{200, std::string(R"({"AccessKeyId":"AK)") + std::to_string(served) +
                                 R"(","SecretAccessKey":"s","Token":"t","Expiration":")" +
                                 expiration + "\"}"};
  });
  env.set("AWS_CONTAINER_CREDENTIALS_FULL_URI", server.url() + "/creds");
  CredentialsProvider provider;
  EXPECT_EQ(provider.get().access_key_id, "AK1");
  EXPECT_EQ(provider.get().access_key_id, "AK2");
}

}  // namespace
}  // namespace trainrun::s3
