// Local storage: atomic puts, ranged reads, listing without temporaries, deletes.
#include "storage/local/local_storage.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

namespace trainrun {
namespace {

namespace fs = std::filesystem;

class LocalStorageTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("trainrun_local_" + std::to_string(::getpid()));
    fs::remove_all(root_);
    storage_ = makeLocalStorage(root_.string());
  }
  void TearDown() override { fs::remove_all(root_); }
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

}  // namespace
}  // namespace trainrun
