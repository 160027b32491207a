// S3Storage against a real S3 API (moto_server, signatures checked) and the aws CLI.
#include "storage/s3/s3_storage.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>

#include "core/error.h"
#include "fake_http_server.h"
#include "storage/s3/s3_xml.h"
#include "support/moto_server.h"
#include "support/scoped_env.h"

namespace trainrun {
namespace {

using testing::FakeHttpServer;
using testing::FakeRequest;
using testing::FakeResponse;
using testing::MotoServer;
using testing::ScopedEnv;

constexpr const char* kBucket = "trainrun-test";

std::string randomBytes(size_t n, unsigned seed) {
  std::mt19937_64 rng(seed);
  std::string s(n, '\0');
  for (size_t i = 0; i + 8 <= n; i += 8) {
    uint64_t v = rng();
    std::memcpy(&s[i], &v, 8);
  }
  for (size_t i = n - n % 8; i < n; ++i) s[i] = static_cast<char>(rng());
  return s;
}

// Storage::get() lives in the checkpoint library; these tests link the backend alone.
std::string readAll(Storage& storage, const std::string& key) {
  auto n = storage.size(key);
  if (!n) throw NotFoundError("missing " + key);
  std::string out(*n, '\0');
  storage.read(key, 0, *n, out.data());
  return out;
}

// A fresh moto_server per test; `authenticate` makes it verify every signature.
class MotoTest : public ::testing::Test {
 protected:
  void startMoto(bool authenticate) {
    if (!testing::MotoServer::installed()) GTEST_SKIP() << "moto_server is not on PATH";
    env_.isolateAws();
    moto_ = std::make_unique<MotoServer>(authenticate);
    ASSERT_FALSE(moto_->endpoint().empty()) << "moto_server did not start";
    ASSERT_FALSE(moto_->accessKey().empty()) << "moto_server gave no IAM access key";
    env_.set("AWS_ACCESS_KEY_ID", moto_->accessKey());
    env_.set("AWS_SECRET_ACCESS_KEY", moto_->secretKey());
    env_.set("AWS_REGION", "us-east-1");
    env_.set("AWS_ENDPOINT_URL_S3", moto_->endpoint());
    createS3Bucket(kBucket);
  }

  S3Options options(uint64_t part_size = S3Options::kMinPartSize) {
    S3Options o;
    o.part_size = part_size;
    o.retry_base_delay = std::chrono::milliseconds(20);
    return o;
  }

  ScopedEnv env_;
  std::unique_ptr<MotoServer> moto_;
};

// moto accepting any signature: for keys its signature check cannot handle.
class S3StorageTest : public MotoTest {
 protected:
  void SetUp() override { startMoto(/*authenticate=*/false); }
};

// moto checking every signature and key, as AWS does.
class S3StorageSignedTest : public MotoTest {
 protected:
  void SetUp() override { startMoto(/*authenticate=*/true); }
};

TEST_F(S3StorageTest, SmallObjectsRoundTrip) {
  auto storage = makeS3Storage(kBucket, "run", options());
  EXPECT_EQ(storage->describe(), "s3://trainrun-test/run");
  storage->put("step-00000010/meta.json", "{\"step\": 10}");
  storage->put("step-00000010/empty", "");
  storage->put("odd key/é+%&=?#", "odd");
  EXPECT_EQ(readAll(*storage, "step-00000010/meta.json"), "{\"step\": 10}");
  EXPECT_EQ(readAll(*storage, "step-00000010/empty"), "");
  EXPECT_EQ(readAll(*storage, "odd key/é+%&=?#"), "odd");
  EXPECT_EQ(storage->size("step-00000010/meta.json"), 12u);
  EXPECT_EQ(storage->size("step-00000010/empty"), 0u);

  char part[4];
  storage->read("step-00000010/meta.json", 2, 4, part);
  EXPECT_EQ(std::string(part, 4), "step");
  EXPECT_THROW(storage->read("step-00000010/meta.json", 10, 4, part), StorageError);
  try {
    storage->read("step-00000010/meta.json", 20, 4, part);
    FAIL() << "expected StorageError";
  } catch (const NotFoundError&) {
    FAIL() << "a short object is not a missing one";
  } catch (const StorageError& e) {
    EXPECT_NE(std::string(e.what()).find("shorter than 24 bytes"), std::string::npos) << e.what();
  }

  EXPECT_EQ(storage->size("missing"), std::nullopt);
  EXPECT_THROW(storage->read("missing", 0, 1, part), NotFoundError);
  EXPECT_THROW(storage->read("missing", 0, 0, part), NotFoundError);

  storage->put("step-00000010/meta.json", "replaced");
  EXPECT_EQ(readAll(*storage, "step-00000010/meta.json"), "replaced");
  storage->remove("step-00000010/meta.json");
  storage->remove("step-00000010/meta.json");  // already gone: fine
  EXPECT_EQ(storage->size("step-00000010/meta.json"), std::nullopt);
  EXPECT_EQ(storage->list(""),
            (std::vector<std::string>{"odd key/é+%&=?#", "step-00000010/empty"}));
}

TEST_F(S3StorageSignedTest, LargeObjectMultipartAndParallelRangedReads) {
  const std::string data = randomBytes((40 << 20) + 12345, 7);  // 9 parts of 5 MiB
  auto storage = makeS3Storage(kBucket, "run/", options());
  storage->put("shard-0", data.data(), data.size());
  EXPECT_EQ(storage->size("shard-0"), data.size());
  EXPECT_TRUE(readAll(*storage, "shard-0") == data);
  // Slices that start and end inside parts and cross part boundaries.
  for (auto [offset, length] : {std::pair<uint64_t, uint64_t>{0, 1},
                                {(5 << 20) - 3, 6},
                                {12345, (17 << 20) + 999},
                                {data.size() - 100, 100}}) {
    std::string slice(length, '\0');
    storage->read("shard-0", offset, length, slice.data());
    EXPECT_TRUE(slice == data.substr(offset, length)) << offset << "+" << length;
  }
  std::string too_long(6 << 20, '\0');
  EXPECT_THROW(storage->read("shard-0", data.size() - 100, too_long.size(), too_long.data()),
               StorageError);
}

TEST_F(S3StorageTest, ListPaginatesAndStaysUnderThePrefix) {
  S3Options o = options();
  o.list_page_size = 7;
  auto storage = makeS3Storage(kBucket, "run", o);
  auto other = makeS3Storage(kBucket, "run-other", o);
  std::vector<std::string> expected;
  for (int i = 24; i >= 0; --i) {
    char key[32];
    std::snprintf(key, sizeof(key), "step-%08d/shard-%d", i * 10, i % 3);
    storage->put(key, "x");
    expected.push_back(key);
  }
  other->put("step-00000000/shard-0", "not mine");
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(storage->list(""), expected);
  EXPECT_EQ(storage->list("step-0000012"), (std::vector<std::string>{"step-00000120/shard-0"}));
  EXPECT_EQ(storage->list("nothing-here"), std::vector<std::string>{});
  EXPECT_EQ(other->list(""), std::vector<std::string>{"step-00000000/shard-0"});
}

TEST_F(S3StorageSignedTest, ErrorsAreOneLineWithTheFixAndNoSecret) {
  const std::string secret = "Sup3rSecretValueThatMustNotLeak/abcdefghijkl";
  auto check = [&](const std::string& expected_part) {
    auto storage = makeS3Storage(kBucket, "run", options());
    try {
      storage->put("step-00000010/shard-0", "v");
      FAIL() << "expected StorageError";
    } catch (const StorageError& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find(expected_part), std::string::npos) << what;
      EXPECT_EQ(what.find(secret), std::string::npos) << what;
      EXPECT_EQ(what.find('\n'), std::string::npos) << what;
    }
  };
  env_.set("AWS_ACCESS_KEY_ID", "AKIAUNKNOWNKEY000000");
  env_.set("AWS_SECRET_ACCESS_KEY", secret);
  check(
      "s3 PUT s3://trainrun-test/run/step-00000010/shard-0 failed: 403 InvalidAccessKeyId after 1 "
      "attempt (check AWS credentials from the environment)");
  env_.set("AWS_ACCESS_KEY_ID", moto_->accessKey());
  check("failed: 403 SignatureDoesNotMatch after 1 attempt (check AWS credentials");

  env_.set("AWS_SECRET_ACCESS_KEY", moto_->secretKey());
  auto missing = makeS3Storage("no-such-bucket", "run", options());
  try {
    missing->put("k", "v");
    FAIL() << "expected StorageError";
  } catch (const StorageError& e) {
    EXPECT_EQ(std::string(e.what()),
              "s3 PUT s3://no-such-bucket/run/k failed: 404 NoSuchBucket after 1 attempt (does "
              "bucket no-such-bucket exist?)");
  }
}

TEST_F(S3StorageSignedTest, SignedListWithContinuationTokens) {
  // moto's signature check mishandles '/' in query values, so no '/' in this prefix.
  S3Options o = options();
  o.list_page_size = 4;
  auto storage = makeS3Storage(kBucket, "", o);
  std::vector<std::string> expected;
  for (int i = 0; i < 10; ++i) {
    expected.push_back("step-" + std::to_string(100 + i));
    storage->put(expected.back(), "x");
  }
  storage->put("other", "x");
  EXPECT_EQ(storage->list("step-"), expected);
  EXPECT_EQ(storage->list("").size(), 11u);
}

// Writes `text` to a file in the test's temp dir and returns its path.
std::string tempFile(const std::string& name, const std::string& text) {
  std::string path = ::testing::TempDir() + name + "_" + std::to_string(::getpid());
  std::ofstream(path, std::ios::binary) << text;
  return path;
}

TEST_F(S3StorageSignedTest, CredentialsFromSharedFileProfile) {
  std::string path =
      tempFile("credentials",
               "[default]\naws_access_key_id = AKIAWRONGDEFAULT0000\n"
               "aws_secret_access_key = wrong\n[ckpt]\naws_access_key_id = " +
                   moto_->accessKey() + "\naws_secret_access_key = " + moto_->secretKey() + "\n");
  env_.unset("AWS_ACCESS_KEY_ID");
  env_.unset("AWS_SECRET_ACCESS_KEY");
  env_.set("AWS_SHARED_CREDENTIALS_FILE", path);
  env_.set("AWS_PROFILE", "ckpt");
  auto storage = makeS3Storage(kBucket, "run", options());
  storage->put("from-profile", "ok");
  EXPECT_EQ(readAll(*storage, "from-profile"), "ok");
  std::remove(path.c_str());
}

TEST_F(S3StorageSignedTest, CredentialsFromContainerEndpoint) {
  const std::string role = moto_->assumeRoleResponse();
  auto field = [&](const char* tag) { return s3::xmlFirst(role, tag).value_or(""); };
  ASSERT_FALSE(field("SessionToken").empty()) << role;
  const std::string body = "{\"AccessKeyId\":\"" + field("AccessKeyId") +
                           "\",\"SecretAccessKey\":\"" + field("SecretAccessKey") +
                           "\",\"Token\":\"" + field("SessionToken") +
                           "\",\"Expiration\":\"2099-01-01T00:00:00Z\"}";
  FakeHttpServer container([&](const FakeRequest& r) {
    if (r.headers.count("authorization") == 0 || r.headers.at("authorization") != "Bearer xyz") {
      return FakeResponse{401};
    }
    return FakeResponse{200, body};
  });
  env_.unset("AWS_ACCESS_KEY_ID");
  env_.unset("AWS_SECRET_ACCESS_KEY");
  env_.set("AWS_CONTAINER_CREDENTIALS_FULL_URI", container.url() + "/v2/credentials/task");
  env_.set("AWS_CONTAINER_AUTHORIZATION_TOKEN", "Bearer xyz");
  auto storage = makeS3Storage(kBucket, "run", options());
  storage->put("from-container", "ok");
  EXPECT_EQ(readAll(*storage, "from-container"), "ok");
  EXPECT_EQ(container.requests().size(), 1u);  // cached until near expiration
}

// Runs a shell command; returns its exit status.
int shell(const std::string& command) { return std::system(command.c_str()); }

TEST_F(S3StorageTest, AwsCliReadsOurObjectsAndWeReadItsObjects) {
  if (env::findOnPath("aws").empty()) GTEST_SKIP() << "aws CLI is not on PATH";
  const std::string aws = "aws --endpoint-url " + moto_->endpoint() + " ";
  auto storage = makeS3Storage(kBucket, "interop", options());

  const std::string ours = randomBytes((12 << 20) + 7, 11);  // multipart on our side
  storage->put("ours.bin", ours.data(), ours.size());
  const std::string downloaded = ::testing::TempDir() + "ours_" + std::to_string(::getpid());
  ASSERT_EQ(shell(aws + "s3 cp --quiet s3://trainrun-test/interop/ours.bin " + downloaded), 0);
  std::ifstream in(downloaded, std::ios::binary);
  std::stringstream got;
  got << in.rdbuf();
  EXPECT_TRUE(got.str() == ours) << "aws CLI downloaded " << got.str().size() << " bytes";
  std::remove(downloaded.c_str());
  const std::string listing = ::testing::TempDir() + "ls_" + std::to_string(::getpid());
  ASSERT_EQ(shell(aws + "s3 ls s3://trainrun-test/interop/ > " + listing), 0);
  std::ifstream ls(listing);
  std::stringstream ls_text;
  ls_text << ls.rdbuf();
  EXPECT_NE(ls_text.str().find(std::to_string(ours.size()) + " ours.bin"), std::string::npos)
      << ls_text.str();
  std::remove(listing.c_str());

  const std::string theirs = randomBytes((9 << 20) + 3, 13);  // the CLI's multipart threshold
  const std::string upload = tempFile("theirs", theirs);
  ASSERT_EQ(shell(aws + "s3 cp --quiet " + upload + " s3://trainrun-test/interop/theirs.bin"), 0);
  std::remove(upload.c_str());
  EXPECT_TRUE(readAll(*storage, "theirs.bin") == theirs);
  EXPECT_EQ(storage->list(""), (std::vector<std::string>{"ours.bin", "theirs.bin"}));
}

}  // namespace
}  // namespace trainrun
