// lineage.json: file digests, the data digest's independence of paths, build identity.
#include "pipeline/lineage.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "core/digest.h"
#include "core/error.h"
#include "support/temp_dir.h"

namespace trainrun {
namespace {

// Writes `bytes` to file `name` in this test program's scratch folder (removed at exit).
std::string writeTemp(const std::string& name, const std::string& bytes) {
  static const testing::TempDir scratch("lineage_test");
  const auto path = scratch.path() / name;
  std::ofstream(path, std::ios::binary) << bytes;
  return path.string();
}

TEST(Digest, Sha256OfKnownBytesAndFiles) {
  // FIPS 180-2's example.
  const std::string abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
  EXPECT_EQ(sha256Hex("abc"), abc);
  const std::string path = writeTemp("abc", "abc");
  EXPECT_EQ(sha256OfFile(path).sha256, abc);
  EXPECT_EQ(sha256OfFile(path).bytes, 3u);
  // Larger than one read block.
  const std::string big(3 << 20, 'x');
  EXPECT_EQ(sha256OfFile(writeTemp("big", big)).sha256, sha256Hex(big));
  EXPECT_THROW(sha256OfFile("/nonexistent/file"), ConfigError);
}

TEST(DataDigest, DependsOnContentNotPath) {
  const std::string a = writeTemp("a", "1,2,3\n"), b = writeTemp("b", "1,2,3\n");
  const std::string c = writeTemp("c", "1,2,4\n");
  const DataDigest da = digestInputData({{"data", a}});
  EXPECT_EQ(da.sha256, digestInputData({{"data", b}}).sha256);
  EXPECT_NE(da.sha256, digestInputData({{"data", c}}).sha256);
  EXPECT_EQ(da.files.at(0).sha256, sha256Hex("1,2,3\n"));
  EXPECT_EQ(da.files.at(0).path, a);
  EXPECT_TRUE(digestInputData({}).sha256.empty());  // synthetic data: nothing to hash
}

TEST(Lineage, DocumentHoldsWhatARegistryNeeds) {
  Lineage l;
  l.run = "job";
  l.config_sha256 = sha256Hex("x");
  l.data = digestInputData({{"data", writeTemp("d", "data")}});
  l.world_size = 4;
  const auto j = lineageJson(l);
  EXPECT_EQ(j["data"]["sha256"], l.data.sha256);
  EXPECT_EQ(j["data"]["files"][0]["bytes"], 4);
  EXPECT_EQ(j["world_size"], 4);
  EXPECT_TRUE(j["resumed_from"].is_null());
  EXPECT_TRUE(j["software"]["libtorch"].get<std::string>().rfind("2.", 0) == 0);
  // Built in a git checkout: a 40-digit revision (with -dirty when tracked files changed).
  const std::string rev = trainrunGitRevision();
  EXPECT_TRUE(rev == "unknown" || rev.size() >= 40) << rev;
  EXPECT_STREQ(j["trainrun"]["version"].get<std::string>().c_str(), trainrunVersion());
}

}  // namespace
}  // namespace trainrun
