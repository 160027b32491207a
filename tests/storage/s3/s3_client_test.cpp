// Signed requests against scripted servers: retries, give-ups, timeouts, what goes on the wire.
#include "storage/s3/s3_client.h"

#include <gtest/gtest.h>

#include <atomic>

#include "core/error.h"
#include "fake_http_server.h"
#include "storage/s3/s3_storage.h"
#include "support/moto_server.h"
#include "support/scoped_env.h"

namespace trainrun {
namespace {

using testing::FakeHttpServer;
using testing::FakeRequest;
using testing::FakeResponse;
using testing::ScopedEnv;

constexpr const char* kSecret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYSECRETKEY";

// Fast retries so the suite stays quick; the policy itself is what is under test.
S3Options fastOptions(const std::string& endpoint) {
  S3Options o;
  o.endpoint = endpoint;
  o.retry_base_delay = std::chrono::milliseconds(20);
  return o;
}

class S3ClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    env_.isolateAws();
    env_.set("AWS_ACCESS_KEY_ID", "AKIDTEST");
    env_.set("AWS_SECRET_ACCESS_KEY", kSecret);
  }
  ScopedEnv env_;
};

FakeResponse s3Error(int status, const std::string& code) {
  return FakeResponse{status, "<?xml version=\"1.0\"?><Error><Code>" + code +
                                  "</Code><Message>m</Message></Error>"};
}

TEST_F(S3ClientTest, SignsWithRegionTokenAndEncodedPathStyleKey) {
  env_.set("AWS_SESSION_TOKEN", "session-token-value");
  env_.set("AWS_REGION", "eu-west-3");
  env_.set("AWS_DEFAULT_REGION", "us-west-2");  // AWS_REGION wins
  FakeHttpServer server([](const FakeRequest&) {
    return FakeResponse{200, "", {"ETag: \"abc\""}};
  });
  env_.set("AWS_ENDPOINT_URL", "http://127.0.0.1:1");
  env_.set("AWS_ENDPOINT_URL_S3", server.url());  // the S3-specific name wins
  auto storage = makeS3Storage("bkt", "/run/", fastOptions(""));
  EXPECT_EQ(storage->describe(), "s3://bkt/run");
  storage->put("step 1/a+b", "payload");
  auto requests = server.requests();
  ASSERT_EQ(requests.size(), 1u);
  const FakeRequest& r = requests[0];
  EXPECT_EQ(r.method, "PUT");
  EXPECT_EQ(r.target, "/bkt/run/step%201/a%2Bb");
  EXPECT_EQ(r.body, "payload");
  EXPECT_EQ(r.headers.at("x-amz-security-token"), "session-token-value");
  EXPECT_EQ(r.headers.at("x-amz-content-sha256"), "UNSIGNED-PAYLOAD");
  const std::string& auth = r.headers.at("authorization");
  EXPECT_NE(auth.find("AWS4-HMAC-SHA256 Credential=AKIDTEST/"), std::string::npos) << auth;
  EXPECT_NE(auth.find("/eu-west-3/s3/aws4_request"), std::string::npos) << auth;
  EXPECT_NE(auth.find("x-amz-security-token"), std::string::npos) << auth;  // signed header
  EXPECT_EQ(auth.find(kSecret), std::string::npos);
}

TEST_F(S3ClientTest, ExplicitEndpointOptionWinsOverEnvironment) {
  FakeHttpServer server([](const FakeRequest&) { return FakeResponse{404}; });
  env_.set("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:1");
  auto storage = makeS3Storage("bkt", "", fastOptions(server.url()));
  EXPECT_EQ(storage->size("k"), std::nullopt);
  EXPECT_EQ(server.requests().at(0).target, "/bkt/k");
}

TEST_F(S3ClientTest, RetriesSlowDownThenSucceeds) {
  std::atomic<int> attempts{0};
  FakeHttpServer server([&](const FakeRequest&) {
    if (++attempts <= 2) return s3Error(503, "SlowDown");
    return FakeResponse{200, "", {"ETag: \"e\""}};
  });
  auto storage = makeS3Storage("bkt", "run", fastOptions(server.url()));
  storage->put("k", "v");
  EXPECT_EQ(attempts.load(), 3);
}

TEST_F(S3ClientTest, GivesUpOn500AfterMaxAttempts) {
  std::atomic<int> attempts{0};
  FakeHttpServer server([&](const FakeRequest&) {
    ++attempts;
    return s3Error(500, "InternalError");
  });
  S3Options options = fastOptions(server.url());
  options.max_attempts = 3;
  auto storage = makeS3Storage("bkt", "run", options);
  try {
    storage->put("step-00000010/shard-0", "v");
    FAIL() << "expected StorageError";
  } catch (const StorageError& e) {
    EXPECT_EQ(std::string(e.what()),
              "s3 PUT s3://bkt/run/step-00000010/shard-0 failed: 500 InternalError: m after 3 "
              "attempts");
  }
  EXPECT_EQ(attempts.load(), 3);
}

TEST_F(S3ClientTest, NoRetryOnAuthErrorAndNoSecretInMessage) {
  std::atomic<int> attempts{0};
  FakeHttpServer server([&](const FakeRequest&) {
    ++attempts;
    return s3Error(403, "InvalidAccessKeyId");
  });
  auto storage = makeS3Storage("b", "run", fastOptions(server.url()));
  try {
    storage->put("step-00000010/shard-0", "v");
    FAIL() << "expected StorageError";
  } catch (const StorageError& e) {
    EXPECT_EQ(std::string(e.what()),
              "s3 PUT s3://b/run/step-00000010/shard-0 failed: 403 InvalidAccessKeyId after 1 "
              "attempt (check AWS credentials from the environment)");
  }
  EXPECT_EQ(attempts.load(), 1);
}

TEST_F(S3ClientTest, NoSuchKeyIsNotFoundButNoSuchBucketIsNot) {
  FakeHttpServer server([&](const FakeRequest& r) {
    return s3Error(404, r.target.find("/nobucket/") == 0 ? "NoSuchBucket" : "NoSuchKey");
  });
  char buf[4];
  auto storage = makeS3Storage("bkt", "", fastOptions(server.url()));
  EXPECT_THROW(storage->read("k", 0, 4, buf), NotFoundError);
  auto missing = makeS3Storage("nobucket", "", fastOptions(server.url()));
  try {
    missing->read("k", 0, 4, buf);
    FAIL() << "expected StorageError";
  } catch (const NotFoundError&) {
    FAIL() << "a missing bucket is not a missing object";
  } catch (const StorageError& e) {
    EXPECT_EQ(std::string(e.what()),
              "s3 GET s3://nobucket/k failed: 404 NoSuchBucket after 1 attempt (does bucket "
              "nobucket exist?)");
  }
}

TEST_F(S3ClientTest, EndpointDownFailsWithinSeconds) {
  S3Options options;  // default retry policy: this is the bound users get
  options.endpoint = "http://127.0.0.1:1";
  auto storage = makeS3Storage("bkt", "run", options);
  const auto start = std::chrono::steady_clock::now();
  try {
    storage->put("k", "v");
    FAIL() << "expected StorageError";
  } catch (const StorageError& e) {
    EXPECT_EQ(std::string(e.what()),
              "s3 PUT s3://bkt/run/k failed: cannot connect to http://127.0.0.1:1 after 5 attempts "
              "(is the endpoint right?)");
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(8));
}

TEST_F(S3ClientTest, HungServerTimesOut) {
  FakeHttpServer* self = nullptr;
  FakeHttpServer server([&](const FakeRequest&) {
    while (!self->stopping()) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    return FakeResponse{200};
  });
  self = &server;
  S3Options options = fastOptions(server.url());
  options.request_timeout = std::chrono::milliseconds(300);
  options.max_attempts = 2;
  auto storage = makeS3Storage("bkt", "", options);
  const auto start = std::chrono::steady_clock::now();
  try {
    storage->size("k");
    FAIL() << "expected StorageError";
  } catch (const StorageError& e) {
    EXPECT_NE(std::string(e.what()).find("timed out talking to " + server.url() + " after"),
              std::string::npos)
        << e.what();
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
}

// The read path: a response is content only when it is whole. These are the answers a cut
// connection or a confused proxy produce, which curl alone accepts as complete.
TEST_F(S3ClientTest, CloseDelimitedShortRangeIsRetriedNotReturned) {
  std::atomic<int> attempts{0};
  FakeHttpServer server([&](const FakeRequest& r) {
    EXPECT_EQ(r.headers.at("range"), "bytes=0-9");
    if (++attempts == 1)  // no Content-Length: only the close ends the body, after 5 bytes
      return testing::rawResponse("HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 0-9/10",
                                  "01234");
    return FakeResponse{206, "0123456789", {"Content-Range: bytes 0-9/10"}};
  });
  auto storage = makeS3Storage("bkt", "", fastOptions(server.url()));
  char buf[10];
  storage->read("k", 0, 10, buf);
  EXPECT_EQ(std::string(buf, 10), "0123456789");
  EXPECT_EQ(attempts.load(), 2);
}

TEST_F(S3ClientTest, PersistentShortBodyFailsNamingItNotAsAShortObject) {
  FakeHttpServer server([&](const FakeRequest&) {
    return testing::rawResponse("HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 0-9/10",
                                "01234");
  });
  S3Options options = fastOptions(server.url());
  options.max_attempts = 3;
  auto storage = makeS3Storage("bkt", "", options);
  char buf[10];
  try {
    storage->read("k", 0, 10, buf);
    FAIL() << "expected StorageError";
  } catch (const StorageError& e) {
    EXPECT_EQ(std::string(e.what()),
              "s3 GET s3://bkt/k failed: short body (5 of 10 bytes) after 3 attempts");
  }
  EXPECT_EQ(server.requests().size(), 3u);
}

TEST_F(S3ClientTest, ObjectThatEndsInsideTheRangeIsAShortObjectAtOnce) {
  // Content-Range proves the object has 10 bytes: asking for 5..14 is the caller's mistake
  // (or a truncated object), a fact that no retry changes.
  FakeHttpServer server([&](const FakeRequest&) {
    return FakeResponse{206, "56789", {"Content-Range: bytes 5-9/10"}};
  });
  auto storage = makeS3Storage("bkt", "", fastOptions(server.url()));
  char buf[10];
  try {
    storage->read("k", 5, 10, buf);
    FAIL() << "expected StorageError";
  } catch (const StorageError& e) {
    EXPECT_NE(std::string(e.what()).find("the object is shorter than 15 bytes"), std::string::npos)
        << e.what();
  }
  EXPECT_EQ(server.requests().size(), 1u);
}

TEST_F(S3ClientTest, HeadWithoutContentLengthIsRetried) {
  std::atomic<int> attempts{0};
  FakeHttpServer server([&](const FakeRequest& r) {
    EXPECT_EQ(r.method, "HEAD");
    if (++attempts == 1) return testing::rawResponse("HTTP/1.1 200 OK", "");
    return FakeResponse{200, std::string(42, 'x')};  // HEAD: Content-Length 42, no body
  });
  auto storage = makeS3Storage("bkt", "", fastOptions(server.url()));
  EXPECT_EQ(storage->size("k"), 42u);  // not 0, which would read as a truncated object
  EXPECT_EQ(attempts.load(), 2);
}

TEST_F(S3ClientTest, IncompleteListPageIsRetriedNotParsed) {
  const std::string head =
      "<?xml version=\"1.0\"?><ListBucketResult><Name>bkt</Name><IsTruncated>false</IsTruncated>";
  const std::string keys =
      "<Contents><Key>run/step-00000010/manifest.pb</Key></Contents>"
      "<Contents><Key>run/step-00000020/manifest.pb</Key></Contents>";
  std::atomic<int> attempts{0};
  FakeHttpServer server([&](const FakeRequest&) {
    // The first page is cut after the first key: parsed, it would hide step 20.
    if (++attempts == 1)
      return testing::rawResponse("HTTP/1.1 200 OK", head + keys.substr(0, keys.size() / 2));
    return FakeResponse{200, head + keys + "</ListBucketResult>"};
  });
  auto storage = makeS3Storage("bkt", "", fastOptions(server.url()));
  EXPECT_EQ(storage->list("run/"), (std::vector<std::string>{"run/step-00000010/manifest.pb",
                                                             "run/step-00000020/manifest.pb"}));
  EXPECT_EQ(attempts.load(), 2);
}

TEST_F(S3ClientTest, ErrorBodyIsNeverReadAsContent) {
  std::atomic<int> attempts{0};
  FakeHttpServer server([&](const FakeRequest&) {
    if (++attempts == 1) return s3Error(503, "SlowDown");
    return FakeResponse{200, "manifest"};
  });
  auto storage = makeS3Storage("bkt", "", fastOptions(server.url()));
  char buf[8];
  storage->read("k", 0, 8, buf);
  EXPECT_EQ(std::string(buf, 8), "manifest");
  EXPECT_EQ(attempts.load(), 2);
}

TEST_F(S3ClientTest, CompleteWhoseAnswerWasLostIsNotAFailure) {
  const uint64_t size = 2 * S3Options::kMinPartSize + 7;  // 3 parts
  std::atomic<int> completes{0};
  FakeHttpServer server([&](const FakeRequest& r) {
    if (r.method == "POST" && r.target.find("uploads=") != std::string::npos)
      return FakeResponse{200,
                          "<InitiateMultipartUploadResult><UploadId>u1</UploadId>"
                          "</InitiateMultipartUploadResult>"};
    if (r.method == "PUT") return FakeResponse{200, "", {"ETag: \"p\""}};
    if (r.method == "POST") {  // the first Complete takes effect, then the connection drops
      if (++completes == 1)
        return testing::rawResponse("HTTP/1.1 200 OK", "<CompleteMultipartUploadResult><Locat");
      return s3Error(404, "NoSuchUpload");
    }
    if (r.method == "HEAD")
      return FakeResponse{200, std::string(size, 'x'), {"ETag: \"0123abcd-3\""}};
    return FakeResponse{500};
  });
  S3Options options = fastOptions(server.url());
  options.part_size = S3Options::kMinPartSize;
  auto storage = makeS3Storage("bkt", "", options);
  const std::string data(size, 'd');
  storage->put("shard", data.data(), data.size());
  EXPECT_EQ(completes.load(), 2);
  for (const auto& r : server.requests()) EXPECT_NE(r.method, "DELETE");  // not aborted
}

TEST_F(S3ClientTest, RejectsInvalidOptions) {
  S3Options options;
  options.part_size = 1 << 20;
  EXPECT_THROW(makeS3Storage("bkt", "", options), ConfigError);
  options = S3Options{};
  options.endpoint = "127.0.0.1:9000";
  EXPECT_THROW(makeS3Storage("bkt", "", options), ConfigError);
}

}  // namespace
}  // namespace trainrun
