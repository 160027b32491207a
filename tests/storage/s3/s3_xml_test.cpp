// S3 XML bits and key encoding: list pages, errors, entity handling.
#include "storage/s3/s3_xml.h"

#include <gtest/gtest.h>

#include "storage/s3/s3_client.h"

namespace trainrun::s3 {
namespace {

TEST(S3Xml, ParsesListPageWithoutConfusingKeyCount) {
  const std::string xml =
      "<ListBucketResult><IsTruncated>true</IsTruncated><Contents><Key>run/a&amp;b</Key>"
      "<Size>1</Size></Contents><Contents><Key>run/&#233;t&#xE9;</Key></Contents>"
      "<KeyCount>2</KeyCount><NextContinuationToken>tok/+=</NextContinuationToken>"
      "</ListBucketResult>";
  ListPage page = parseListObjectsV2(xml);
  EXPECT_EQ(page.keys, (std::vector<std::string>{"run/a&b", "run/\xC3\xA9t\xC3\xA9"}));
  EXPECT_TRUE(page.truncated);
  EXPECT_EQ(page.next_token, "tok/+=");
}

TEST(S3Xml, ListPageCarriesEachObjectsSizeAndEtag) {
  const std::string xml =
      "<ListBucketResult><Contents><Key>t/a.csv</Key><ETag>&quot;9e1&quot;</ETag>"
      "<Size>12</Size></Contents><Contents><Key>t/b.parquet</Key><Size>7</Size>"
      "<ETag>\"ab-2\"</ETag></Contents><Contents><Key>t/c</Key></Contents></ListBucketResult>";
  ListPage page = parseListObjectsV2(xml);
  EXPECT_EQ(page.keys, (std::vector<std::string>{"t/a.csv", "t/b.parquet", "t/c"}));
  EXPECT_EQ(page.sizes, (std::vector<uint64_t>{12, 7, 0}));
  EXPECT_EQ(page.etags, (std::vector<std::string>{"\"9e1\"", "\"ab-2\"", ""}));
}

TEST(S3Xml, ParsesErrorsAndIgnoresOtherBodies) {
  ErrorBody e = parseError(
      "<?xml version=\"1.0\"?><Error><Code>SlowDown</Code>"
      "<Message>Reduce your request rate.</Message></Error>");
  EXPECT_EQ(e.code, "SlowDown");
  EXPECT_EQ(e.message, "Reduce your request rate.");
  EXPECT_EQ(parseError("<CompleteMultipartUploadResult><Code>x</Code>").code, "");
}

TEST(S3Xml, CompleteMultipartBodyEscapesEtags) {
  EXPECT_EQ(completeMultipartBody({{1, "\"a\""}, {2, "b&"}}),
            "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>&quot;a&quot;</ETag>"
            "</Part><Part><PartNumber>2</PartNumber><ETag>b&amp;</ETag></Part>"
            "</CompleteMultipartUpload>");
}

TEST(S3Xml, UriEncodeKeepsSlashOnlyInPaths) {
  EXPECT_EQ(uriEncode("run/step 1/a+b=c~_.-", true), "run/step%201/a%2Bb%3Dc~_.-");
  EXPECT_EQ(uriEncode("a/b", false), "a%2Fb");
  EXPECT_EQ(uriEncode("\xC3\xA9", true), "%C3%A9");
}

}  // namespace
}  // namespace trainrun::s3
