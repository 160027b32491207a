// Atomic file replacement and whole-line writes.
#include "core/file.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>

#include "core/error.h"
#include "support/temp_dir.h"

namespace trainrun {
namespace {

namespace fs = std::filesystem;

std::string readAll(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

class FileTest : public ::testing::Test {
 protected:
  testing::TempDir tmp_{"trainrun_file_test"};
  const fs::path dir_ = tmp_.path();
};

TEST_F(FileTest, ReplacesTheFileAndLeavesNoTemporary) {
  const std::string path = (dir_ / "a.json").string();
  writeFileAtomic(path, "first");
  writeFileAtomic(path, std::string("second\0bytes", 12));
  EXPECT_EQ(readAll(path), std::string("second\0bytes", 12));
  EXPECT_EQ(std::distance(fs::directory_iterator(dir_), fs::directory_iterator()), 1);
}

TEST_F(FileTest, FailureNamesThePathAndLeavesNoTemporary) {
  const std::string path = (dir_ / "missing" / "a.json").string();
  try {
    writeFileAtomic(path, "x");
    FAIL() << "expected StorageError";
  } catch (const StorageError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find(path), std::string::npos) << what;
    EXPECT_NE(what.find("No such file or directory"), std::string::npos) << what;
    EXPECT_EQ(what.find('\n'), std::string::npos) << what;
  }
  // A rename that fails (a folder in the way) removes the temporary file it wrote.
  fs::create_directories(dir_ / "taken" / "child");
  EXPECT_THROW(writeFileAtomic((dir_ / "taken").string(), "x"), StorageError);
  EXPECT_EQ(std::distance(fs::directory_iterator(dir_), fs::directory_iterator()), 1);
}

TEST_F(FileTest, TemporaryNamesAreUniqueAndMarked) {
  const std::string a = tempPathBeside("/x/y"), b = tempPathBeside("/x/y");
  EXPECT_NE(a, b);
  EXPECT_EQ(a.rfind(std::string("/x/y") + kTempMarker, 0), 0u);
}

TEST_F(FileTest, CommitsAFileWrittenElsewhere) {
  const std::string path = (dir_ / "model.pt").string(), tmp = tempPathBeside(path);
  std::ofstream(tmp) << "weights";
  commitFileAtomic(tmp, path);
  EXPECT_EQ(readAll(path), "weights");
  EXPECT_FALSE(fs::exists(tmp));
}

TEST(WriteLine, WritesTheLineAndANewline) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  writeLine(fds[1], "hello world");
  ::close(fds[1]);
  char buf[64];
  const ssize_t n = ::read(fds[0], buf, sizeof(buf));
  ::close(fds[0]);
  EXPECT_EQ(std::string(buf, n > 0 ? size_t(n) : 0), "hello world\n");
}

}  // namespace
}  // namespace trainrun
