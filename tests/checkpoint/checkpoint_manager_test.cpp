// CheckpointManager on local storage: exact round trips, resharding, fallback past broken
// checkpoints, retention, fingerprint refusal, and background failures.
#include "checkpoint/checkpoint_manager.h"

#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "checkpoint/layout.h"
#include "checkpoint/shard_layout.h"
#include "support/temp_dir.h"

namespace trainrun {
namespace {

namespace fs = std::filesystem;

// Replicated tensors depend only on `step` (a private generator: ranks run as threads).
CheckpointState makeState(int64_t step, int rank = 0) {
  at::Generator gen = at::detail::createCPUGenerator(uint64_t(step));
  CheckpointState s;
  s.replicated = {{"model.w", at::randn({64, 33}, gen)},
                  {"model.b", at::randn({33}, gen)},
                  {"optim.w.step", torch::tensor({step}, torch::kInt64)}};
  s.local = {{"rng.cpu", torch::full({8}, rank + 1, torch::kUInt8)}};
  s.counters = {{"step", step}, {"epoch", step / 10}};
  return s;
}

class CheckpointManagerTest : public ::testing::Test {
 protected:
  void SetUp() override { root_ = tmp_.path() / "ckpt"; }

  CheckpointOptions options(int64_t keep_last = 10) {
    CheckpointOptions o;
    o.uri = root_.string();
    o.run_name = "run";
    o.keep_last = keep_last;
    return o;
  }
  std::unique_ptr<CheckpointManager> manager(CheckpointOptions o, int rank = 0, int world = 1,
                                             Store* store = nullptr) {
    return std::make_unique<CheckpointManager>(o, rank, world, store, fingerprint_);
  }
  fs::path stepPath(int64_t step) { return root_ / "run" / stepDir(step); }

  testing::TempDir tmp_;
  fs::path root_;
  std::map<std::string, std::string> fingerprint_{{"model.hidden", "[64]"}};
};

void expectSameState(const LoadedCheckpoint& got, const CheckpointState& want) {
  ASSERT_EQ(got.replicated.size(), want.replicated.size());
  for (const auto& [name, t] : want.replicated) {
    ASSERT_TRUE(got.replicated.count(name)) << name;
    EXPECT_TRUE(got.replicated.at(name).equal(t)) << name;  // bit for bit
  }
  EXPECT_EQ(got.counters, want.counters);
}

TEST_F(CheckpointManagerTest, AsyncSaveRestoresBitForBit) {
  CheckpointState state = makeState(10);
  {
    auto m = manager(options());
    m->save(10, state);
    m->wait();
    EXPECT_EQ(m->committedSteps(), (std::vector<int64_t>{10}));
  }
  auto loaded = manager(options())->restore();
  ASSERT_TRUE(loaded.has_value());
  expectSameState(*loaded, state);
  EXPECT_TRUE(loaded->local.at("rng.cpu").equal(state.local[0].second));
  std::ifstream latest(root_ / "run" / "latest");
  std::string line;
  std::getline(latest, line);
  EXPECT_EQ(line, "step-00000010");
}

TEST_F(CheckpointManagerTest, NothingToResumeIsNotAnError) {
  EXPECT_FALSE(manager(options())->restore().has_value());
}

TEST_F(CheckpointManagerTest, ShardedSaveResumesAtAnyWorldSize) {
  const int world = 3;
  auto host = Store::host(0, std::chrono::minutes(2));
  std::vector<std::thread> ranks;
  for (int r = 0; r < world; ++r) {
    ranks.emplace_back([&, r] {
      auto store = Store::connect("127.0.0.1", host->port(), std::chrono::minutes(2));
      auto m = manager(options(), r, world, store.get());
      m->save(20, makeState(20, r));
      m->wait();
    });
  }
  for (auto& t : ranks) t.join();
  ASSERT_TRUE(fs::exists(stepPath(20) / "manifest.pb"));
  for (int r = 0; r < world; ++r)
    EXPECT_GT(fs::file_size(stepPath(20) / shardKey(r, world)), 8u);  // each wrote ~1/3

  for (int new_world : {1, 2, 5}) {
    for (int r = 0; r < new_world; ++r) {
      auto loaded = manager(options(), r, new_world)->restore();
      ASSERT_TRUE(loaded.has_value());
      expectSameState(*loaded, makeState(20));
      // Rank r takes the local state of old rank r % 3.
      EXPECT_EQ(loaded->local.at("rng.cpu")[0].item<int>(), r % world + 1);
    }
  }
}

TEST_F(CheckpointManagerTest, ResumeSkipsBrokenCheckpointsAndSaysWhy) {
  {
    auto m = manager(options());
    for (int64_t step : {10, 20, 30, 40}) m->save(step, makeState(step));
    m->wait();
  }
  fs::remove(stepPath(40) / "manifest.pb");  // never committed
  const fs::path shard30 = stepPath(30) / shardKey(0, 1);
  {
    std::fstream f(shard30, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(100);
    f.put('\x5a');  // flip bits in the middle
  }
  fs::resize_file(stepPath(20) / shardKey(0, 1), 50);  // truncated

  ::testing::internal::CaptureStderr();
  auto loaded = manager(options())->restore();
  std::string warnings = ::testing::internal::GetCapturedStderr();
  ASSERT_TRUE(loaded.has_value());
  EXPECT_EQ(loaded->counters.at("step"), 10);
  expectSameState(*loaded, makeState(10));
  EXPECT_NE(warnings.find("step-00000030: shard-00000-of-00001.bin fails its CRC-32 check"),
            std::string::npos)
      << warnings;
  EXPECT_NE(warnings.find("step-00000020: shard-00000-of-00001.bin is 50 bytes"), std::string::npos)
      << warnings;
  EXPECT_EQ(warnings.find("step-00000040"), std::string::npos);  // uncommitted: not a candidate
}

TEST_F(CheckpointManagerTest, RetentionKeepsExactlyKeepLastCommitted) {
  auto m = manager(options(/*keep_last=*/2));
  for (int64_t step = 1; step <= 5; ++step) {
    m->save(step, makeState(step));
    m->wait();
    EXPECT_EQ(m->committedSteps().size(), std::min<size_t>(step, 2));
  }
  EXPECT_EQ(m->committedSteps(), (std::vector<int64_t>{4, 5}));
  EXPECT_FALSE(fs::exists(stepPath(3)));  // shards gone with the manifest
}

TEST_F(CheckpointManagerTest, FingerprintMismatchIsRefusedUnlessForced) {
  {
    auto m = manager(options());
    m->save(10, makeState(10));
  }
  fingerprint_["model.hidden"] = "[128]";
  try {
    manager(options())->restore();
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("model.hidden: [64] but this config has model.hidden: [128]"),
              std::string::npos)
        << msg;
  }
  CheckpointOptions forced = options();
  forced.force_resume = true;
  EXPECT_TRUE(manager(forced)->restore().has_value());
}

TEST_F(CheckpointManagerTest, OtherDataIsDataChangedAndAnOlderCheckpointWithoutDigestLoads) {
  {
    auto m = manager(options());  // saved before data digests existed: no data.sha256
    m->save(10, makeState(10));
  }
  fingerprint_[kDataFingerprintKey] = "aaaa";
  EXPECT_TRUE(manager(options())->restore().has_value());
  {
    auto m = manager(options());
    m->save(20, makeState(20));
  }
  fingerprint_[kDataFingerprintKey] = "bbbb";
  try {
    manager(options())->restore();
    FAIL() << "expected DataChangedError";
  } catch (const DataChangedError& e) {
    EXPECT_EQ(e.saved(), "aaaa");
    EXPECT_EQ(e.current(), "bbbb");
  }
  // Another model outranks other data: that stays a plain config mismatch.
  fingerprint_["model.hidden"] = "[128]";
  try {
    manager(options())->restore();
    FAIL() << "expected ConfigError";
  } catch (const DataChangedError&) {
    FAIL() << "a model change is not a data change";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("model.hidden"), std::string::npos) << e.what();
  }
  fingerprint_["model.hidden"] = "[64]";
  // A run that starts fresh under another name has nothing to resume there, then its own.
  auto m = manager(options());
  m->switchRun("other");
  EXPECT_FALSE(m->restore().has_value());
  m->save(30, makeState(30));
  m->wait();
  EXPECT_EQ(manager(options())->committedSteps(), (std::vector<int64_t>{10, 20}));
  auto again = manager(options());
  again->switchRun("other");
  EXPECT_EQ(again->restore()->counters.at("step"), 30);
}

TEST_F(CheckpointManagerTest, BackgroundFailureSurfacesAndCommitsNothing) {
  CheckpointOptions o = options();
  o.uri = "/proc/trainrun-not-writable";
  auto m = manager(o);
  m->save(10, makeState(10));  // returns after the snapshot
  EXPECT_THROW(m->wait(), StorageError);
  EXPECT_TRUE(m->committedSteps().empty());
}

TEST_F(CheckpointManagerTest, ExplicitResumeUriLoadsThatCheckpoint) {
  {
    auto m = manager(options());
    m->save(10, makeState(10));
    m->save(20, makeState(20));
  }
  auto loaded = manager(options())->restore(stepPath(10).string());
  ASSERT_TRUE(loaded.has_value());
  EXPECT_EQ(loaded->counters.at("step"), 10);
  EXPECT_THROW(manager(options())->restore(stepPath(99).string()), StorageError);
}

// Blocks saves of `step`: a regular file where its folder must go (ENOTDIR on every write).
void blockStep(const fs::path& step_path) {
  fs::create_directories(step_path.parent_path());
  std::ofstream(step_path) << "not a folder";
}

size_t count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t pos = text.find(what); pos != std::string::npos; pos = text.find(what, pos + 1)) ++n;
  return n;
}

TEST_F(CheckpointManagerTest, FailedSavesWarnUntilTheLimitAndKeepTheCommittedOne) {
  CheckpointOptions o = options();
  o.max_consecutive_failures = 3;
  auto m = manager(o);
  m->save(10, makeState(10));
  m->wait();
  for (int64_t step : {20, 30, 40}) blockStep(stepPath(step));
  ::testing::internal::CaptureStderr();
  m->save(20, makeState(20));  // fails in the background
  m->save(30, makeState(30));  // collects 20's failure: a warning
  m->save(40, makeState(40));  // collects 30's: the second in a row
  try {
    m->save(50, makeState(50));  // collects 40's: the third in a row ends the run
    FAIL() << "expected StorageError";
  } catch (const StorageError& e) {
    EXPECT_NE(std::string(e.what()).find("checkpoint step 40 not saved: cannot create folder"),
              std::string::npos)
        << e.what();
    EXPECT_NE(std::string(e.what()).find("(3 checkpoint saves failed in a row; "
                                         "checkpoint.max_consecutive_failures is 3)"),
              std::string::npos)
        << e.what();
  }
  const std::string warnings = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(count(warnings, "CHECKPOINT NOT SAVED, training continues"), 2u) << warnings;
  EXPECT_NE(warnings.find("checkpoint step 20 not saved"), std::string::npos) << warnings;
  EXPECT_NE(warnings.find("checkpoint step 30 not saved"), std::string::npos) << warnings;
  EXPECT_EQ(m->committedSteps(), (std::vector<int64_t>{10}));
  auto loaded = manager(options())->restore();
  ASSERT_TRUE(loaded.has_value());
  expectSameState(*loaded, makeState(10));
}

TEST_F(CheckpointManagerTest, ASuccessfulSaveResetsTheFailureCount) {
  for (bool async : {true, false}) {
    fs::remove_all(root_);
    CheckpointOptions o = options();
    o.max_consecutive_failures = 2;
    o.async = async;
    auto m = manager(o);
    for (int64_t step : {20, 40}) blockStep(stepPath(step));
    ::testing::internal::CaptureStderr();
    for (int64_t step : {10, 20, 30, 40, 50}) m->save(step, makeState(step));
    m->wait();
    const std::string warnings = ::testing::internal::GetCapturedStderr();
    EXPECT_EQ(count(warnings, "CHECKPOINT NOT SAVED"), 2u) << warnings;
    EXPECT_EQ(m->committedSteps(), (std::vector<int64_t>{10, 30, 50})) << "async=" << async;
  }
}

TEST_F(CheckpointManagerTest, TheFinalSaveMayNotFail) {
  CheckpointOptions o = options();
  o.max_consecutive_failures = 3;
  auto m = manager(o);
  blockStep(stepPath(20));
  m->save(20, makeState(20));
  EXPECT_THROW(m->wait(), StorageError);  // the first failure, but the last save
}

TEST_F(CheckpointManagerTest, UnreadableStorageFailsResumeInsteadOfFallingBack) {
  {
    auto m = manager(options());
    m->save(10, makeState(10));
    m->save(20, makeState(20));
  }
  // The shard cannot be read (here a folder where the file was; EIO or EACCES alike): no
  // verdict on the checkpoint, so no fallback to step 10.
  const fs::path shard = stepPath(20) / shardKey(0, 1);
  fs::remove(shard);
  fs::create_directory(shard);
  ::testing::internal::CaptureStderr();
  try {
    manager(options())->restore();
    FAIL() << "expected StorageError";
  } catch (const CorruptCheckpointError& e) {
    FAIL() << "a storage error is not a verdict: " << e.what();
  } catch (const StorageError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("cannot read checkpoint " + stepPath(20).string() + ": cannot stat"),
              std::string::npos)
        << what;
    EXPECT_NE(what.find("not falling back to an older one"), std::string::npos) << what;
  }
  EXPECT_EQ(::testing::internal::GetCapturedStderr().find("skipping"), std::string::npos);
}

TEST_F(CheckpointManagerTest, ProbeProvesTheFolderWorksAndLeavesNothing) {
  auto m = manager(options());
  m->probe();
  EXPECT_TRUE(fs::is_directory(root_));
  EXPECT_TRUE(fs::is_empty(root_));  // the probe object and its folder are gone
  EXPECT_TRUE(m->committedSteps().empty());
}

TEST_F(CheckpointManagerTest, ProbeOfAFolderThatCannotBeCreatedIsAConfigError) {
  fs::create_directories(root_);
  std::ofstream(root_ / "file") << "x";
  CheckpointOptions o = options();
  o.uri = (root_ / "file" / "ckpt").string();
  try {
    manager(o)->probe();
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    const std::string what = e.what();
    EXPECT_EQ(what.rfind("checkpoint.uri " + o.uri +
                             ": cannot write a probe object: cannot "
                             "create folder " +
                             o.uri + "/run: ",
                         0),
              0u)
        << what;
    EXPECT_NE(what.find("(choose a folder this user can create and write"), std::string::npos)
        << what;
    EXPECT_EQ(what.find('\n'), std::string::npos);
  }
}

}  // namespace
}  // namespace trainrun
