// Local storage: atomic puts, ranged reads, listing without temporaries, deletes.
#include "storage/local/local_storage.h"

#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <thread>

#include "support/temp_dir.h"

namespace trainrun {
namespace {

namespace fs = std::filesystem;

class LocalStorageTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = tmp_.path() / "root";
    storage_ = makeLocalStorage(root_.string());
  }
  testing::TempDir tmp_;
  fs::path root_;
  std::unique_ptr<Storage> storage_;
};

TEST_F(LocalStorageTest, PutGetRangeListRemove) {
  storage_->put("run/step-1/a.bin", std::string("0123456789"));
  storage_->put("run/step-1/b.bin", std::string("xyz"));
  storage_->put("run/latest", std::string("step-1"));
  EXPECT_EQ(storage_->get("run/step-1/a.bin"), "0123456789");
  char buf[4];
  storage_->read("run/step-1/a.bin", 3, 4, buf);
  EXPECT_EQ(std::string(buf, 4), "3456");
  EXPECT_EQ(storage_->size("run/step-1/b.bin"), 3u);
  EXPECT_FALSE(storage_->size("run/none").has_value());
  EXPECT_EQ(storage_->list("run/step-1/"),
            (std::vector<std::string>{"run/step-1/a.bin", "run/step-1/b.bin"}));
  EXPECT_EQ(storage_->list("run/").size(), 3u);
  storage_->remove("run/step-1/a.bin");
  storage_->remove("run/step-1/b.bin");
  storage_->remove("run/step-1/b.bin");            // missing: fine
  EXPECT_FALSE(fs::exists(root_ / "run/step-1"));  // emptied folder removed
  EXPECT_EQ(storage_->list("run/"), (std::vector<std::string>{"run/latest"}));
}

TEST_F(LocalStorageTest, OverwriteIsAtomicAndTemporariesAreInvisible) {
  storage_->put("k", std::string("old"));
  std::ofstream(root_ / "k.tmp-1-1") << "half-written";
  storage_->put("k", std::string("new"));
  EXPECT_EQ(storage_->get("k"), "new");
  EXPECT_EQ(storage_->list(""), (std::vector<std::string>{"k"}));
}

TEST_F(LocalStorageTest, ErrorsAreTyped) {
  char c;
  EXPECT_THROW(storage_->read("missing", 0, 1, &c), NotFoundError);
  storage_->put("short", std::string("ab"));
  char buf[8];
  EXPECT_THROW(storage_->read("short", 0, 8, buf), StorageError);
  auto unwritable = makeLocalStorage("/proc/trainrun-cannot-write-here");
  EXPECT_THROW(unwritable->put("x", std::string("1")), StorageError);
}

// Nodes sharing one folder (NFS) probe it at once: each writes, lists, reads and deletes its
// own object, and a delete drops the folders it emptied. Nobody's probe may fail for that.
TEST_F(LocalStorageTest, ProbesOfSeveralWritersInOneFolderNeverFailEachOther) {
  auto other = makeLocalStorage(root_.string());
  std::atomic<bool> stop{false};
  std::atomic<int> errors{0};
  std::thread churn([&] {
    try {
      while (!stop) {
        other->put("run/job/probe-a", std::string("a"));
        other->list("run/job/");
        other->remove("run/job/probe-a");
      }
    } catch (const std::exception& e) {
      ++errors;
      ADD_FAILURE() << "the other writer: " << e.what();
    }
  });
  for (int i = 0; i < 3000 && errors == 0; ++i) {
    try {
      storage_->list("run/job/");
      storage_->put("run/job/probe-b", std::string("b"));
      EXPECT_EQ(storage_->get("run/job/probe-b"), "b");
      storage_->remove("run/job/probe-b");
    } catch (const std::exception& e) {
      ADD_FAILURE() << "iteration " << i << ": " << e.what();
      break;
    }
  }
  stop = true;
  churn.join();
  EXPECT_FALSE(fs::exists(root_ / "run" / "job"));  // the last delete dropped the folder
}

}  // namespace
}  // namespace trainrun
