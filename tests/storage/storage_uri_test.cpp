// Storage URIs: local folders, s3://bucket/prefix, and S3's bucket naming rules.
#include "storage/storage_uri.h"

#include <gtest/gtest.h>

#include "core/error.h"

namespace trainrun {
namespace {

std::string problemOf(const std::string& uri) {
  try {
    parseStorageUri(uri);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

TEST(StorageUri, SplitsBucketAndPrefix) {
  StorageUri u = parseStorageUri("s3://ckpt-1.example/runs/a///");
  EXPECT_TRUE(u.s3);
  EXPECT_EQ(u.bucket, "ckpt-1.example");
  EXPECT_EQ(u.prefix, "runs/a");
  u = parseStorageUri("s3://ckpt");
  EXPECT_EQ(u.bucket, "ckpt");
  EXPECT_EQ(u.prefix, "");
  u = parseStorageUri("/opt/ml/checkpoints/");
  EXPECT_FALSE(u.s3);
  EXPECT_EQ(u.path, "/opt/ml/checkpoints");
  EXPECT_EQ(parseStorageUri("/").path, "/");
  EXPECT_EQ(parseStorageUri("ckpt/a:b").path, "ckpt/a:b");
}

TEST(StorageUri, BucketNamingRules) {
  for (const char* good : {"abc", "a.b-c", "0123456789", "my-bucket.2024"})
    EXPECT_EQ(bucketNameProblem(good), "") << good;
  EXPECT_EQ(bucketNameProblem(std::string(64, 'a')), "has 64 characters (S3 allows 3 to 63)");
  EXPECT_EQ(bucketNameProblem("a_b"),
            "contains '_' (S3 allows lower-case letters, digits, '.' and '-')");
  EXPECT_EQ(bucketNameProblem("abc-"), "must start and end with a letter or digit");
  EXPECT_EQ(bucketNameProblem(".abc"), "must start and end with a letter or digit");
  EXPECT_EQ(bucketNameProblem("a..b"), "contains \"..\"");
  EXPECT_EQ(bucketNameProblem("192.168.5.4"), "is formatted as an IP address");
  EXPECT_EQ(bucketNameProblem("1.2.3"), "");  // three groups: a name, not an address
  EXPECT_EQ(bucketNameProblem("xn--abc"), "starts with the reserved prefix 'xn--'");
  EXPECT_EQ(bucketNameProblem("sthree-x"), "starts with the reserved prefix 'sthree-'");
  EXPECT_EQ(bucketNameProblem("data-s3alias"), "ends with the reserved suffix '-s3alias'");
  EXPECT_EQ(bucketNameProblem("data--ol-s3"), "ends with the reserved suffix '--ol-s3'");
}

TEST(StorageUri, MalformedUrisNameTheKeyAndTheFix) {
  EXPECT_EQ(problemOf("s3://"), "checkpoint.uri 's3://' names no bucket (s3://bucket/prefix)");
  EXPECT_EQ(problemOf("s3://UPPER/x"),
            "checkpoint.uri 's3://UPPER/x': bucket name 'UPPER' contains 'U' (S3 allows "
            "lower-case letters, digits, '.' and '-')");
  EXPECT_EQ(problemOf("s3://bkt/a//b"),
            "checkpoint.uri 's3://bkt/a//b' has an empty path segment (\"//\"); write "
            "s3://bkt/prefix");
  EXPECT_EQ(problemOf("S3://bkt/x"),
            "checkpoint.uri 'S3://bkt/x' is not an S3 URI; write it as s3://bucket/prefix");
  EXPECT_EQ(problemOf("file:///tmp/x"),
            "checkpoint.uri 'file:///tmp/x': unsupported scheme file:// (use s3://bucket/prefix "
            "or a local folder)");
  EXPECT_EQ(problemOf(""), "checkpoint.uri is empty");
  try {
    parseStorageUri("s3://a", "resume");
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()),
              "resume 's3://a': bucket name 'a' has 1 characters (S3 allows 3 to 63)");
  }
}

}  // namespace
}  // namespace trainrun
