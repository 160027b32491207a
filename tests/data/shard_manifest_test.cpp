// Local shard sources (file, glob, folder, prefix), the manifest's text and digest, and changes.
#include "data/shard_manifest.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/time.h>

#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "support/error_of.h"
#include "support/temp_dir.h"

namespace trainrun {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::TempDir;

std::string shardBytes(size_t tokens, uint32_t first = 0) {
  std::vector<uint32_t> t(tokens);
  for (size_t i = 0; i < tokens; ++i) t[i] = uint32_t((first + i) % 50000);
  return encodeShard(ShardFormat::kLlmc, TokenDtype::kUint16, t);
}

void writeAt(const TempDir& dir, const std::string& name, const std::string& bytes,
             time_t mtime = 1700000000) {
  const std::filesystem::path p = dir.path() / name;
  std::filesystem::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary | std::ios::trunc) << bytes;
  const struct timeval times[2] = {{mtime, 0}, {mtime, 0}};
  ::utimes(p.c_str(), times);  // a fixed mtime: the manifest's version field is reproducible
}

std::vector<std::string> keys(const ShardManifest& m) {
  std::vector<std::string> k;
  for (const ShardInfo& s : m.shards) k.push_back(s.key);
  return k;
}

ShardManifest manifestOf(const std::string& data_path) {
  auto source = openLocalShardSource(data_path, {});
  return buildManifest(*source);
}

class ShardManifestTest : public ::testing::Test {
 protected:
  void SetUp() override {
    writeAt(dir_, "train/fw_train_000001.bin", shardBytes(3000));
    writeAt(dir_, "train/fw_train_000000.bin", shardBytes(2000));
    writeAt(dir_, "train/fw_val_000000.bin", shardBytes(500));
    writeAt(dir_, "train/.hidden.bin", "not a shard");
    writeAt(dir_, "train/fw_train_000002.bin.tmp-1-2", "half written");
    writeAt(dir_, "train/sub/fw_train_000003.bin", shardBytes(100));
  }
  std::string at(const std::string& rel) const { return (dir_.path() / rel).string(); }
  TempDir dir_;
};

TEST_F(ShardManifestTest, ResolvesAFileAGlobAFolderAndAPrefix) {
  EXPECT_THAT(keys(manifestOf(at("train/fw_val_000000.bin"))), ElementsAre("fw_val_000000.bin"));
  EXPECT_THAT(keys(manifestOf(at("train/fw_train_*.bin"))),
              ElementsAre("fw_train_000000.bin", "fw_train_000001.bin"));
  EXPECT_THAT(keys(manifestOf(at("train/*/fw_*.bin"))), ElementsAre("sub/fw_train_000003.bin"));
  EXPECT_THAT(keys(manifestOf(at("train"))),
              ElementsAre("fw_train_000000.bin", "fw_train_000001.bin", "fw_val_000000.bin",
                          "sub/fw_train_000003.bin"));
  EXPECT_THAT(keys(manifestOf(at("train/fw_train_"))),
              ElementsAre("fw_train_000000.bin", "fw_train_000001.bin"));
  EXPECT_THAT(keys(manifestOf(at("train/s"))), ElementsAre("sub/fw_train_000003.bin"));
  const ShardManifest m = manifestOf(at("train/fw_train_*.bin"));
  EXPECT_EQ(m.totalTokens(), 5000u);
  EXPECT_EQ(m.shards[0].bytes, 1024u + 4000);
  EXPECT_EQ(m.shards[0].version, "mtime:1700000000000000000");
  EXPECT_EQ(m.shards[1].header.token_count, 3000u);
}

TEST_F(ShardManifestTest, SaysWhenNothingMatchesOrAShardIsBad) {
  EXPECT_THAT(testing::errorOf([&] { manifestOf(at("train/nothing_*.bin")); }),
              HasSubstr("matches no shard"));
  EXPECT_THAT(testing::errorOf([&] { manifestOf(at("train/zz")); }), HasSubstr("matches no shard"));
  EXPECT_THAT(testing::errorOf([&] { manifestOf(at("missing/dir/x")); }), HasSubstr("not found"));
  std::filesystem::create_directories(dir_.path() / "empty");
  EXPECT_THAT(testing::errorOf([&] { manifestOf(at("empty")); }), HasSubstr("matches no shard"));
  writeAt(dir_, "train/fw_train_000009.bin", shardBytes(10).substr(0, 1030));
  EXPECT_THAT(testing::errorOf([&] { manifestOf(at("train/fw_train_")); }),
              HasSubstr("fw_train_000009.bin': truncated"));
}

TEST_F(ShardManifestTest, TextRoundTripsAndTheDigestIsStable) {
  const ShardManifest m = manifestOf(at("train"));
  const std::string text = manifestToText(m);
  EXPECT_THAT(text, HasSubstr("trainrun-shard-manifest 1\nfw_train_000000.bin\t5024\tmtime:"
                              "1700000000000000000\tllm.c\t1\tuint16\t2000\t1024\t0\n"));
  const ShardManifest back = manifestFromText(text, "ckpt/manifest");
  EXPECT_EQ(manifestToText(back), text);
  EXPECT_TRUE(diffManifests(m, back).empty());
  // The same shards named another way, or listed again, are the same data.
  EXPECT_EQ(manifestDigest(m), manifestDigest(manifestOf(at("train/"))));
  EXPECT_EQ(manifestDigest(m), manifestDigest(manifestOf(at("train"))));
  EXPECT_EQ(manifestDigest(m).size(), 64u);
  // A moved copy with the same names, sizes and mtimes is the same data too.
  TempDir other;
  for (const ShardInfo& s : m.shards)
    writeAt(other, "d/" + s.key, shardBytes(s.header.token_count));
  EXPECT_EQ(manifestDigest(manifestOf((other.path() / "d").string())), manifestDigest(m));
  EXPECT_THROW(manifestFromText("x", "ckpt/manifest"), ConfigError);
  EXPECT_THAT(testing::errorOf([] { manifestFromText("trainrun-shard-manifest 1\na\tb\n", "m"); }),
              HasSubstr("m: shard manifest line 2 has 2 fields"));
}

TEST_F(ShardManifestTest, NamesEveryChange) {
  const ShardManifest before = manifestOf(at("train/fw_train_*.bin"));
  writeAt(dir_, "train/fw_train_000000.bin", shardBytes(2000, 7), 1800000000);  // rewritten
  writeAt(dir_, "train/fw_train_000001.bin", shardBytes(2999));                 // truncated copy
  writeAt(dir_, "train/fw_train_000004.bin", shardBytes(64));                   // added
  const ShardManifest after = manifestOf(at("train/fw_train_*.bin"));
  EXPECT_NE(manifestDigest(before), manifestDigest(after));
  const std::vector<ShardChange> changes = diffManifests(before, after);
  ASSERT_EQ(changes.size(), 3u);
  EXPECT_EQ(describeChanges(changes),
            "3 shards changed: replaced 'fw_train_000000.bin' (mtime:1700000000000000000 -> "
            "mtime:1800000000000000000); resized 'fw_train_000001.bin' (7024 -> 7022 bytes); "
            "added 'fw_train_000004.bin'");
  EXPECT_EQ(describeChanges(diffManifests(after, before), 1),
            "3 shards changed: replaced 'fw_train_000000.bin' (mtime:1800000000000000000 -> "
            "mtime:1700000000000000000); and 2 more");
  EXPECT_EQ(diffManifests(after, before)[2].kind, ShardChange::Kind::kRemoved);
  EXPECT_THAT(testing::errorOf([&] { requireSameShards(before, after); }),
              HasSubstr("are not the ones this run started with: 3 shards changed"));
  requireSameShards(after, manifestOf(at("train/fw_train_*.bin")));
}

TEST_F(ShardManifestTest, ASameSizedRewriteWithTheSameMtimeIsNamedByItsHeader) {
  ShardManifest before = manifestOf(at("train/fw_val_000000.bin"));
  ShardManifest after = before;
  after.shards[0].header.dtype = TokenDtype::kUint32;
  after.shards[0].header.token_count = 250;
  EXPECT_EQ(describeChanges(diffManifests(before, after)),
            "1 shard changed: replaced 'fw_val_000000.bin' (llm.c v1 uint16 500 tokens -> llm.c "
            "v1 uint32 250 tokens)");
}

TEST_F(ShardManifestTest, OpensListedShardsAndRefusesOnesChangedSince) {
  auto source = openLocalShardSource(at("train/fw_train_"), {}, 50000);
  const ShardManifest m = buildManifest(*source);
  auto shard = source->open(m.shards[1]);
  EXPECT_EQ(shard->tokenCount(), 3000u);
  EXPECT_EQ(source->open(m.shards[1]), shard);  // mapped once
  int32_t out[3];
  shard->read(2997, 3, out);
  EXPECT_EQ(out[2], 2999);
  writeAt(dir_, "train/fw_train_000000.bin", shardBytes(1999));
  EXPECT_THAT(testing::errorOf([&] { source->open(m.shards[0]); }),
              HasSubstr("fw_train_000000.bin' changed since it was listed (5024 -> 5022 bytes"));
  std::filesystem::remove(dir_.path() / "train/fw_train_000000.bin");
  EXPECT_THAT(testing::errorOf([&] { source->open(m.shards[0]); }), HasSubstr("is gone"));
}

// Megatron's .bin/.idx: the .bin is the shard, its header from the .idx beside it.
TEST_F(ShardManifestTest, AMegatronPairIsOneShardReadFromItsBin) {
  const std::vector<std::vector<uint32_t>> docs{{5, 6, 7, 8}, {9, 10}, {11}};
  const auto [bin, idx] = encodeMegatron(TokenDtype::kUint16, docs);
  writeAt(dir_, "mega/corpus_text_document.bin", bin);
  writeAt(dir_, "mega/corpus_text_document.idx", idx);
  writeAt(dir_, "mega/corpus_zz.bin", shardBytes(50));  // an llm.c shard beside it
  for (const std::string& path : {at("mega"), at("mega/corpus_"), at("mega/*.bin")}) {
    auto source = openLocalShardSource(path, {}, 50000);
    const ShardManifest m = buildManifest(*source);
    ASSERT_THAT(keys(m), ElementsAre("corpus_text_document.bin", "corpus_zz.bin")) << path;
    const ShardHeader& h = m.shards[0].header;
    EXPECT_EQ(h.format, ShardFormat::kMegatron);
    EXPECT_EQ(h.token_count, 7u);
    int32_t out[7];
    source->open(m.shards[0])->read(0, 7, out);
    EXPECT_THAT(out, ElementsAre(5, 6, 7, 8, 9, 10, 11));
    EXPECT_EQ(manifestFromText(manifestToText(m), "t").shards[0].header.format,
              ShardFormat::kMegatron);
  }
  // A truncated .bin is named with where its .idx says it ends.
  writeAt(dir_, "mega/corpus_text_document.bin", bin.substr(0, bin.size() - 2));
  EXPECT_THAT(testing::errorOf([&] { manifestOf(at("mega")); }),
              HasSubstr("corpus_text_document.bin': truncated: the .idx's last sequence ends at "
                        "byte 14, but the file has 12 bytes"));
  // An .idx without its .bin is no pair: read as a shard, it is named.
  std::filesystem::remove(dir_.path() / "mega/corpus_text_document.bin");
  EXPECT_THAT(testing::errorOf([&] { manifestOf(at("mega")); }),
              HasSubstr("corpus_text_document.idx': bad magic at byte 0"));
}

}  // namespace
}  // namespace trainrun
