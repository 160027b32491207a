// The S3 ShardSource against moto_server: listing and ranged header reads, the folder index, the
// node-local cache (blocks fetched on demand, hits, LRU eviction, held shards, two ranks sharing
// a fetch), 404/412 mid-run, faults.
#include "data/s3_shard_source.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <thread>

#include "core/error.h"
#include "data/s3_fetch.h"
#include "data/shard_index.h"
#include "data/shard_manifest.h"
#include "storage/s3/s3_storage.h"
#include "support/error_of.h"
#include "support/moto_server.h"
#include "support/ports.h"
#include "support/scoped_env.h"
#include "support/temp_dir.h"

namespace trainrun {
namespace {
namespace fs = std::filesystem;
using ::testing::HasSubstr;
using testing::TempDir;

constexpr size_t kTokens = 3000;        // 7024-byte llm.c shards
constexpr uint64_t kBlockBytes = 4096;  // two cache blocks per shard

std::string shardBytes(uint32_t first) {
  std::vector<uint32_t> t(kTokens);
  for (size_t i = 0; i < kTokens; ++i) t[i] = uint32_t((first + i * 7) % 50000);
  return encodeShard(ShardFormat::kLlmc, TokenDtype::kUint16, t);
}

// tests/support/fault_proxy.py in front of moto: counts requests by method, injects faults.
class FaultProxy {
 public:
  FaultProxy(int upstream_port, double rate) : port_(testing::freeLoopbackPort()) {
    pid_ = ::fork();
    if (pid_ == 0) {
      std::freopen(log_.path().c_str(), "w", stdout);
      const std::string up = std::to_string(upstream_port), port = std::to_string(port_),
                        r = std::to_string(rate);
      ::execl(TRAINRUN_PYTHON_EXE, "python3", TRAINRUN_FAULT_PROXY, "--upstream-port", up.c_str(),
              "--port", port.c_str(), "--rate", r.c_str(), "--kinds", "503,500", "--seed", "1",
              static_cast<char*>(nullptr));
      std::_Exit(127);
    }
    for (int i = 0; i < 200 && !testing::portAccepts(port_); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ~FaultProxy() { stop(); }
  std::string endpoint() const { return "http://127.0.0.1:" + std::to_string(port_); }
  // Stops the proxy; returns its count for `name` ("method:GET", "faults").
  int count(const std::string& name) {
    stop();
    std::ifstream in(log_.path());
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::smatch m;
    if (!std::regex_search(text, m, std::regex("\"" + name + "\": (\\d+)"))) return 0;
    return std::stoi(m[1]);
  }

 private:
  void stop() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGINT);  // prints its counts as JSON, then exits
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }
  struct LogFile {
    LogFile() : dir("fault_proxy") {}
    fs::path path() const { return dir.path() / "stdout"; }
    TempDir dir;
  } log_;
  int port_;
  pid_t pid_ = -1;
};

class S3ShardSourceTest : public ::testing::Test {
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
    createS3Bucket("shards");
    storage_ = makeS3Storage("shards", "");
    for (int i = 0; i < 3; ++i) put("train/fw_train_00000" + std::to_string(i) + ".bin", i);
    put("train/fw_val_000000.bin", 9);
    put("other/fw_train_000000.bin", 5);
  }

  void put(const std::string& key, uint32_t first) {
    const std::string bytes = shardBytes(first * 1000);
    storage_->put(key, bytes);
    const fs::path p = local_.path() / key;
    fs::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary | std::ios::trunc) << bytes;
  }

  std::unique_ptr<ShardSource> source(const std::string& path, uint64_t limit = 1ull << 30,
                                      const std::string& endpoint = "",
                                      uint64_t block_bytes = kBlockBytes) {
    S3ShardCacheOptions cache;
    cache.dir = cache_.path().string();
    cache.limit_bytes = limit;
    cache.endpoint = endpoint;
    cache.block_bytes = block_bytes;
    return openS3ShardSource(path, {}, 50000, cache);
  }

  int motoPort() const {
    const std::string e = moto_->endpoint();
    return std::stoi(e.substr(e.rfind(':') + 1));
  }

  std::string cachedPath(const ShardInfo& s) {
    return s3CachePath(cache_.path().string(), "shards", {"train/" + s.key, s.bytes, s.version});
  }

  // Blocks of `s` the node's cache holds, from its block map (0 when it has none).
  int presentBlocks(const ShardInfo& s) {
    std::ifstream in(ShardBlocks::mapPath(cachedPath(s)), std::ios::binary);
    const std::string map((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    return int(std::count(map.begin(), map.end(), '\1'));
  }

  static std::vector<int32_t> tokens(const TokenShard& shard) {
    std::vector<int32_t> out(shard.tokenCount());
    shard.read(0, out.size(), out.data());
    return out;
  }

  testing::ScopedEnv env_;
  std::unique_ptr<testing::MotoServer> moto_;
  std::unique_ptr<Storage> storage_;
  TempDir local_{"s3shards_local"};
  TempDir cache_{"s3shards_cache"};
};

TEST_F(S3ShardSourceTest, ListsLikeTheLocalSourceWithOneRangedGetPerShard) {
  FaultProxy proxy(motoPort(), 0.0);
  auto s3 = source("s3://shards/train/fw_train_", 1ull << 30, proxy.endpoint());
  const ShardManifest remote = buildManifest(*s3);
  // One listing page, one for the folder's index key (none here), one header read per shard.
  EXPECT_EQ(proxy.count("method:GET"), 1 + 1 + 3);
  auto local = openLocalShardSource((local_.path() / "train/fw_train_").string(), {}, 50000);
  const ShardManifest here = buildManifest(*local);
  ASSERT_EQ(remote.shards.size(), 3u);
  ASSERT_EQ(here.shards.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    const ShardInfo &r = remote.shards[i], &l = here.shards[i];
    EXPECT_EQ(r.key, l.key);
    EXPECT_EQ(r.bytes, l.bytes);
    EXPECT_THAT(r.version, ::testing::MatchesRegex("\"[0-9a-f]{32}\""));
    EXPECT_EQ(r.header.format, l.header.format);
    EXPECT_EQ(r.header.dtype, l.header.dtype);
    EXPECT_EQ(r.header.token_count, l.header.token_count);
    EXPECT_EQ(r.header.data_offset, l.header.data_offset);
  }
  EXPECT_EQ(remote.totalTokens(), here.totalTokens());
  EXPECT_EQ(manifestFromText(manifestToText(remote), "test").shards.size(), 3u);
  EXPECT_FALSE(fs::exists(cache_.path() / "s3"));  // listing fetched no shard

  // A glob on the last part: the same shards (not fw_val, not other/).
  auto glob = source("s3://shards/train/fw_train_*.bin");
  EXPECT_EQ(manifestDigest(buildManifest(*glob)), manifestDigest(remote));
}

TEST_F(S3ShardSourceTest, BytesEqualTheLocalSourcesAndCacheHitsNeedNoS3) {
  auto s3 = source("s3://shards/train/");
  auto local = openLocalShardSource((local_.path() / "train").string(), {}, 50000);
  const std::vector<ShardInfo> shards = s3->list(), local_shards = local->list();
  ASSERT_EQ(shards.size(), 4u);
  for (size_t i = 0; i < shards.size(); ++i)
    EXPECT_EQ(tokens(*s3->open(shards[i])), tokens(*local->open(local_shards[i]))) << shards[i].key;
  EXPECT_TRUE(fs::is_regular_file(cachedPath(shards[0])));
  EXPECT_EQ(s3->open(shards[0])->path(), cachedPath(shards[0]));

  // A hit: another source (another rank, or a restart) maps the cached file, S3 untouched.
  storage_->remove("train/" + shards[0].key);
  auto again = source("s3://shards/train/");
  EXPECT_EQ(tokens(*again->open(shards[0])), tokens(*local->open(local_shards[0])));
  // A miss for the deleted object: one line naming it.
  TempDir empty("s3shards_empty");
  S3ShardCacheOptions other;
  other.dir = empty.path().string();
  auto cold = openS3ShardSource("s3://shards/train/", {}, 50000, other);
  EXPECT_THAT(testing::errorOf<ConfigError>([&] { tokens(*cold->open(shards[0])); }),
              HasSubstr("s3://shards/train/" + shards[0].key + " was deleted during the run"));
}

TEST_F(S3ShardSourceTest, ReplacedObjectIsRefusedNamingBothETags) {
  auto s3 = source("s3://shards/train/fw_train_");
  const std::vector<ShardInfo> shards = s3->list();
  storage_->put("train/" + shards[1].key, shardBytes(777));
  const std::string message = testing::errorOf<ConfigError>([&] { tokens(*s3->open(shards[1])); });
  EXPECT_THAT(message, HasSubstr("s3://shards/train/fw_train_000001.bin changed during the run "
                                 "(ETag " +
                                 shards[1].version + " -> \""));
  EXPECT_THAT(message, HasSubstr("restart to take the new data"));
  EXPECT_EQ(message.find('\n'), std::string::npos);
  EXPECT_EQ(presentBlocks(shards[1]), 0);  // nothing of the new version taken for the old
}

TEST_F(S3ShardSourceTest, ReadsFetchOnlyTheBlocksTheyTouch) {
  FaultProxy proxy(motoPort(), 0.0);
  auto s3 = source("s3://shards/train/fw_train_", 1ull << 30, proxy.endpoint(), 1024);
  auto local = openLocalShardSource((local_.path() / "train/fw_train_").string(), {}, 50000);
  const std::vector<ShardInfo> s = s3->list();  // 2 + 3 GETs
  auto shard = s3->open(s[1]);                  // no GET: the listing read the header
  EXPECT_EQ(presentBlocks(s[1]), 0);
  std::vector<int32_t> some(10), want(10);
  shard->read(2000, 10, some.data());  // bytes 5024..5044 of 7024: block 4 of 7
  local->open(local->list()[1])->read(2000, 10, want.data());
  EXPECT_EQ(some, want);
  EXPECT_EQ(presentBlocks(s[1]), 1);
  std::vector<int32_t> all = tokens(*shard), all_local = tokens(*local->open(local->list()[1]));
  EXPECT_EQ(all, all_local);
  EXPECT_EQ(presentBlocks(s[1]), 6);                // block 0 holds only the header: never needed
  EXPECT_EQ(tokens(*s3->open(s[1])), all_local);    // all present: no GET
  EXPECT_EQ(proxy.count("method:GET"), 2 + 3 + 6);  // each block once
}

TEST_F(S3ShardSourceTest, EvictsLeastRecentlyUsedButNeverAHeldShard) {
  const uint64_t shard_bytes = shardBytes(0).size();
  auto s3 = source("s3://shards/train/fw_train_", 2 * shard_bytes + shard_bytes / 2);
  const std::vector<ShardInfo> s = s3->list();
  tokens(*s3->open(s[0]));  // whole shards: every block fetched
  tokens(*s3->open(s[1]));
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  s3->open(s[0]);           // now the most recent
  tokens(*s3->open(s[2]));  // evicts s[1], the least recently used
  EXPECT_TRUE(fs::exists(cachedPath(s[0])));
  EXPECT_FALSE(fs::exists(cachedPath(s[1])));
  EXPECT_TRUE(fs::exists(cachedPath(s[2])));

  // Two held shards fill the limit: a third cannot evict them.
  auto a = s3->open(s[0]);
  auto c = s3->open(s[2]);
  EXPECT_THAT(testing::errorOf<StorageError>([&] { tokens(*s3->open(s[1])); }),
              HasSubstr("exceed data.cache_limit"));
  EXPECT_EQ(tokens(*a).size(), kTokens);  // still mapped and readable
  EXPECT_TRUE(fs::exists(cachedPath(s[0])));
  EXPECT_TRUE(fs::exists(cachedPath(s[2])));
  c.reset();
  EXPECT_EQ(tokens(*s3->open(s[1])).size(), kTokens);  // s[2] released: evicted for s[1]
  EXPECT_FALSE(fs::exists(cachedPath(s[2])));
}

TEST_F(S3ShardSourceTest, LimitBelowOneBlockIsRefusedAtOnce) {
  const std::string message =
      testing::errorOf<ConfigError>([&] { source("s3://shards/train/fw_train_", 1000); });
  EXPECT_THAT(message, HasSubstr("data.cache_limit_gb (1000 bytes) is smaller than one cache "
                                 "block (4096 bytes) of s3://shards/train/fw_train_"));
}

// A cache disk that fills up (a 16 KiB tmpfs: one shard's two blocks and its map fit, the next
// shard's blocks do not): one line naming the folder and the fixes, and the shard already
// cached stays whole and readable.
TEST_F(S3ShardSourceTest, FullCacheDiskIsOneLineAndTheCachedShardStaysWhole) {
  if (::geteuid() != 0) {
    if (std::getenv("CI")) FAIL() << "needs root to mount a small tmpfs (CI runs as root)";
    GTEST_SKIP() << "needs root to mount a small tmpfs";
  }
  const fs::path disk = cache_.path() / "small_disk";
  fs::create_directories(disk);
  ASSERT_EQ(std::system(("mount -t tmpfs -o size=16k tmpfs " + disk.string()).c_str()), 0);
  struct Unmount {
    fs::path at;
    ~Unmount() { std::system(("umount " + at.string()).c_str()); }
  } unmount{disk};
  S3ShardCacheOptions cache;
  cache.dir = disk.string();
  cache.block_bytes = kBlockBytes;
  auto s3 = openS3ShardSource("s3://shards/train/fw_train_", {}, 50000, cache);
  auto local = openLocalShardSource((local_.path() / "train/fw_train_").string(), {}, 50000);
  const std::vector<ShardInfo> s = s3->list(), ls = local->list();
  std::shared_ptr<const TokenShard> first = s3->open(s[0]);
  ASSERT_EQ(tokens(*first), tokens(*local->open(ls[0])));
  const std::string message = testing::errorOf<StorageError>([&] {
    for (size_t i = 1; i < s.size(); ++i) tokens(*s3->open(s[i]));
  });
  EXPECT_THAT(message, HasSubstr("the data cache folder "));
  EXPECT_THAT(message, HasSubstr(" is full: no room for "));
  EXPECT_THAT(message, HasSubstr("lower data.cache_limit_gb"));
  EXPECT_EQ(message.find('\n'), std::string::npos);
  EXPECT_EQ(tokens(*first), tokens(*local->open(ls[0])));
}

TEST_F(S3ShardSourceTest, EmptyOrMissingPrefixIsOneLine) {
  EXPECT_THAT(testing::errorOf<ConfigError>([&] { source("s3://shards/nothing_")->list(); }),
              HasSubstr("data.path 's3://shards/nothing_' matches no object"));
  EXPECT_THAT(testing::errorOf<ConfigError>([&] { source("s3://shards/train/*.idx")->list(); }),
              HasSubstr("matches no object"));
}

TEST_F(S3ShardSourceTest, TwoRanksShareOneDownload) {
  FaultProxy proxy(motoPort(), 0.0);
  auto rank0 = source("s3://shards/train/fw_train_", 1ull << 30, proxy.endpoint());
  auto rank1 = source("s3://shards/train/fw_train_", 1ull << 30, proxy.endpoint());
  const std::vector<ShardInfo> s0 = rank0->list(), s1 = rank1->list();  // 2 x (2 + 3) GETs
  std::shared_ptr<const TokenShard> a, b;
  std::vector<int32_t> ta, tb;
  std::thread t0([&] { a = rank0->open(s0[2]), ta = tokens(*a); });
  std::thread t1([&] { b = rank1->open(s1[2]), tb = tokens(*b); });
  t0.join();
  t1.join();
  EXPECT_EQ(a->path(), b->path());
  EXPECT_EQ(ta, tb);
  EXPECT_EQ(proxy.count("method:GET"), 2 * (2 + 3) + 2);  // each of its two blocks fetched once
}

TEST_F(S3ShardSourceTest, TransientFaultsAreRetriedAndBytesUnchanged) {
  FaultProxy proxy(motoPort(), 0.3);
  auto s3 = source("s3://shards/train/", 1ull << 30, proxy.endpoint());
  auto local = openLocalShardSource((local_.path() / "train").string(), {}, 50000);
  const std::vector<ShardInfo> shards = s3->list(), local_shards = local->list();
  for (size_t i = 0; i < shards.size(); ++i)
    EXPECT_EQ(tokens(*s3->open(shards[i])), tokens(*local->open(local_shards[i])));
  EXPECT_GT(proxy.count("faults"), 0);
}

TEST_F(S3ShardSourceTest, PrefetchFetchesAheadAndItsErrorSurfacesOnOpen) {
  auto s3 = source("s3://shards/train/fw_train_");
  const std::vector<ShardInfo> s = s3->list();
  s3->prefetch(s[1]);
  for (int i = 0; i < 200 && presentBlocks(s[1]) < 2; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  ASSERT_EQ(presentBlocks(s[1]), 2);
  storage_->remove("train/" + s[1].key);  // fetched ahead: opening needs no S3
  EXPECT_EQ(tokens(*s3->open(s[1])).size(), kTokens);

  storage_->remove("train/" + s[2].key);
  s3->prefetch(s[2]);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  EXPECT_THAT(testing::errorOf<ConfigError>([&] { s3->open(s[2]); }),
              HasSubstr("fw_train_000002.bin was deleted during the run"));
}

// The folder index (trainrun index): the listing takes every indexed header from one small
// object, and gives the same manifest as reading each header.
TEST_F(S3ShardSourceTest, IndexedFolderListsWithNoHeaderReads) {
  const ShardManifest read_each = buildManifest(*source("s3://shards/train/fw_train_"));
  const ShardIndexReport report = writeS3ShardIndex("s3://shards/train/fw_train_");
  EXPECT_EQ(report.uri, "s3://shards/train/.trainrun-index");
  ASSERT_EQ(report.shards.size(), 4u);  // the whole folder: fw_val too, for its data.path
  EXPECT_TRUE(report.skipped.empty());
  {
    FaultProxy proxy(motoPort(), 0.0);
    auto s3 = source("s3://shards/train/fw_train_", 1ull << 30, proxy.endpoint());
    EXPECT_EQ(manifestToText(buildManifest(*s3)), manifestToText(read_each));
    EXPECT_EQ(proxy.count("method:GET"), 1 + 1 + 1);  // the listing, the index's key, the index
  }
  {  // A folder's listing holds the index already: one GET fewer.
    FaultProxy proxy(motoPort(), 0.0);
    auto s3 = source("s3://shards/train/", 1ull << 30, proxy.endpoint());
    EXPECT_EQ(buildManifest(*s3).shards.size(), 4u);  // the index is not a shard
    EXPECT_EQ(proxy.count("method:GET"), 1 + 1);
  }
  // A glob lists the folder too, and matches the same shards as the prefix.
  EXPECT_EQ(manifestToText(buildManifest(*source("s3://shards/train/fw_train_*.bin"))),
            manifestToText(read_each));
}

TEST_F(S3ShardSourceTest, ShardsChangedSinceTheIndexAreReadAgain) {
  writeS3ShardIndex("s3://shards/train/");
  std::vector<uint32_t> fewer(2000, 7);
  storage_->put("train/fw_train_000001.bin", encodeShard(ShardFormat::kLlmc, TokenDtype::kUint16,
                                                         fewer));  // rewritten: another ETag
  put("train/fw_train_000003.bin", 3);                             // added
  FaultProxy proxy(motoPort(), 0.0);
  auto s3 = source("s3://shards/train/fw_train_", 1ull << 30, proxy.endpoint());
  const std::vector<ShardInfo> shards = s3->list();
  ASSERT_EQ(shards.size(), 4u);
  EXPECT_EQ(shards[1].header.token_count, 2000u);  // not the indexed 3000
  EXPECT_EQ(shards[3].header.token_count, kTokens);
  EXPECT_EQ(proxy.count("method:GET"), 3 + 2);  // header reads for those two only
}

TEST_F(S3ShardSourceTest, IndexedHeadersPassTheChecksAHeaderReadDoes) {
  writeS3ShardIndex("s3://shards/train/");
  S3ShardCacheOptions cache;
  cache.dir = cache_.path().string();
  ShardFormatSpec uint32;
  uint32.dtype = TokenDtype::kUint32;
  EXPECT_THAT(testing::errorOf<ConfigError>([&] {
                openS3ShardSource("s3://shards/train/fw_train_", uint32, 50000, cache)->list();
              }),
              HasSubstr("token shard 's3://shards/train/fw_train_000000.bin': uint16 tokens where "
                        "uint32 are declared"));
  // A headerless spec takes nothing from the index: each head is read, and a header refused.
  ShardFormatSpec headerless;
  headerless.headerless = true;
  headerless.dtype = TokenDtype::kUint16;
  EXPECT_THAT(testing::errorOf<ConfigError>([&] {
                openS3ShardSource("s3://shards/train/fw_train_", headerless, 50000, cache)->list();
              }),
              HasSubstr("starts with a shard header at byte 0"));
}

TEST_F(S3ShardSourceTest, CorruptIndexIsOneLineNamingItAndTheFix) {
  storage_->put("train/.trainrun-index", std::string("not an index\n"));
  const std::string message =
      testing::errorOf<ConfigError>([&] { source("s3://shards/train/fw_train_")->list(); });
  EXPECT_THAT(message, HasSubstr("s3://shards/train/.trainrun-index: not a shard manifest"));
  EXPECT_THAT(message, HasSubstr("write it again with `trainrun index DATA_PATH`, or delete it"));
  EXPECT_EQ(message.find('\n'), std::string::npos);
}

TEST_F(S3ShardSourceTest, IndexSkipsObjectsThatAreNotShardsAndNeedsOne) {
  storage_->put("train/README.txt", std::string("token shards of fineweb\n"));
  const ShardIndexReport report = writeS3ShardIndex("s3://shards/train/");
  EXPECT_EQ(report.shards.size(), 4u);
  ASSERT_EQ(report.skipped.size(), 1u);
  EXPECT_THAT(report.skipped[0], HasSubstr("s3://shards/train/README.txt': bad magic at byte 0"));
  storage_->put("docs/README.txt", std::string("no shards here\n"));
  EXPECT_THAT(testing::errorOf<ConfigError>([&] { writeS3ShardIndex("s3://shards/docs/"); }),
              HasSubstr("trainrun index: no token shard under s3://shards/docs/"));
}

TEST_F(S3ShardSourceTest, AMegatronPairListsFromItsIdxAndIsIndexed) {
  const auto [bin, idx] = encodeMegatron(TokenDtype::kUint16, {{1, 2, 3}, {4, 5}});
  storage_->put("mega/c_000.bin", bin);
  storage_->put("mega/c_000.idx", idx);
  ShardManifest first;
  for (const std::string& path :
       {"s3://shards/mega/", "s3://shards/mega/c_", "s3://shards/mega/*.bin"}) {
    auto s3 = source(path);
    const ShardManifest m = buildManifest(*s3);
    ASSERT_EQ(m.shards.size(), 1u) << path;  // the .idx is the .bin's header, not a shard
    EXPECT_EQ(m.shards[0].key, "c_000.bin");
    EXPECT_EQ(m.shards[0].header.format, ShardFormat::kMegatron);
    EXPECT_EQ(tokens(*s3->open(m.shards[0])), std::vector<int32_t>({1, 2, 3, 4, 5}));
    first = m;
  }
  EXPECT_EQ(writeS3ShardIndex("s3://shards/mega/").shards.size(), 1u);
  FaultProxy proxy(motoPort(), 0.0);
  auto s3 = source("s3://shards/mega/", 1ull << 30, proxy.endpoint());
  EXPECT_EQ(manifestToText(buildManifest(*s3)), manifestToText(first));
  EXPECT_EQ(proxy.count("method:GET"), 1 + 1);  // the listing and the index: no .idx read
}

}  // namespace
}  // namespace trainrun
