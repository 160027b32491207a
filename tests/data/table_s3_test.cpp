// Table files from S3 (moto_server): listed, fetched once into the cache and verified against
// their ETags (single-part and multipart, in one range or several), refetched when the object
// changes.
#include <gtest/gtest.h>

#include <filesystem>

#include "core/error.h"
#include "core/file.h"
#include "data/table_files.h"
#include "storage/s3/s3_storage.h"
#include "support/moto_server.h"
#include "support/scoped_env.h"
#include "support/temp_dir.h"

namespace trainrun {
namespace {
namespace fs = std::filesystem;

class TableS3Test : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!testing::MotoServer::installed()) GTEST_SKIP() << "moto_server is not on PATH";
    env_.isolateAws();
    moto_ = std::make_unique<testing::MotoServer>(/*authenticate=*/false);
    ASSERT_FALSE(moto_->endpoint().empty()) << "moto_server did not start";
    env_.set("AWS_ACCESS_KEY_ID", moto_->accessKey());
    env_.set("AWS_SECRET_ACCESS_KEY", moto_->secretKey());
    env_.set("AWS_REGION", "us-east-1");
    env_.set("AWS_ENDPOINT_URL_S3", moto_->endpoint());
    createS3Bucket("tables");
    S3Options options;
    options.part_size = S3Options::kMinPartSize;  // multipart above 5 MiB
    storage_ = makeS3Storage("tables", "", options);
    cache_ = tmp_.path() / "cache";
  }

  std::vector<std::string> fetch(const std::string& uri, std::string* summary) {
    return tableFiles(uri, "data.path", "", cache_.string(), summary);
  }

  testing::ScopedEnv env_;
  std::unique_ptr<testing::MotoServer> moto_;
  std::unique_ptr<Storage> storage_;
  testing::TempDir tmp_;
  fs::path cache_;
};

TEST_F(TableS3Test, FetchesOnceVerifiedAndRefetchesChangedObjects) {
  const std::string small = "x,y\n1,0\n2,1\n";
  std::string big = "x,y\n";  // over one 5 MiB part: a multipart upload, a multipart ETag
  while (big.size() < (6u << 20)) big += std::to_string(big.size()) + ",1\n";
  storage_->put("train/a.csv", small);
  storage_->put("train/b.csv", big);
  storage_->put("train/_SUCCESS", "");
  storage_->put("trainer/other.csv", small);  // shares the prefix, not the folder

  std::string summary;
  std::vector<std::string> files = fetch("s3://tables/train", &summary);
  ASSERT_EQ(files.size(), 2u);
  EXPECT_EQ(readWholeFile(files[0]).value_or(""), small);
  EXPECT_EQ(readWholeFile(files[1]).value_or(""), big);
  EXPECT_EQ(fs::path(files[1]).filename(), "b.csv");
  EXPECT_EQ(files[0].rfind(cache_.string(), 0), 0u);
  EXPECT_NE(summary.find("objects=2 fetched=2 fetched_bytes=" +
                         std::to_string(small.size() + big.size())),
            std::string::npos)
      << summary;

  // Cached: nothing fetched again, the same files.
  EXPECT_EQ(fetch("s3://tables/train/", &summary), files);
  EXPECT_NE(summary.find("objects=2 fetched=0 "), std::string::npos) << summary;

  // A changed object has another ETag: fetched again, beside the old copy.
  const std::string changed = "x,y\n3,1\n";
  storage_->put("train/a.csv", changed);
  std::vector<std::string> again = fetch("s3://tables/train", &summary);
  EXPECT_NE(again[0], files[0]);
  EXPECT_EQ(readWholeFile(again[0]).value_or(""), changed);
  EXPECT_NE(summary.find("objects=2 fetched=1 "), std::string::npos) << summary;

  // An object named exactly is that one file.
  EXPECT_EQ(fetch("s3://tables/train/b.csv", nullptr), (std::vector<std::string>{files[1]}));
}

TEST_F(TableS3Test, LargeObjectsAreFetchedInVerifiedRangesTogether) {
  // Over one ranged GET each: a single-part object (its MD5 is taken as the ranges land, in
  // order) and a multipart one (each part's MD5 taken by the range holding it).
  std::string single = "x,y\n", multi = "x,y\n";
  while (single.size() < (40u << 20)) single += std::to_string(single.size()) + ",0\n";
  while (multi.size() < (40u << 20)) multi += std::to_string(multi.size() * 3) + ",1\n";
  S3Options one_part;
  one_part.part_size = 64ull << 20;
  makeS3Storage("tables", "", one_part)->put("big/a.csv", single);
  storage_->put("big/b.csv", multi);

  std::string summary;
  const std::vector<std::string> files = fetch("s3://tables/big", &summary);
  ASSERT_EQ(files.size(), 2u);
  EXPECT_TRUE(readWholeFile(files[0]) == single);
  EXPECT_TRUE(readWholeFile(files[1]) == multi);
  EXPECT_NE(summary.find("objects=2 fetched=2 "), std::string::npos) << summary;
  for (const auto& entry : fs::recursive_directory_iterator(cache_))  // no temporary left
    EXPECT_EQ(entry.path().string().find(kTempMarker), std::string::npos) << entry.path();
}

TEST_F(TableS3Test, PrefixWithoutTableFilesIsAConfigError) {
  storage_->put("empty/_SUCCESS", "");
  try {
    fetch("s3://tables/empty", nullptr);
    FAIL() << "a prefix without table files was accepted";
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()),
              "data.path 's3://tables/empty' holds no .csv, .csv.gz or .parquet objects (check "
              "data.path)");
  }
}

}  // namespace
}  // namespace trainrun
