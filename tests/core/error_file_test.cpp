// Tests of the error file: torchrun's JSON written by a failing rank and read by the launcher.
#include "core/error_file.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "core/file.h"
#include "support/temp_dir.h"

namespace fs = std::filesystem;

namespace trainrun {
namespace {

class ErrorFileTest : public ::testing::Test {
 protected:
  std::string read(const std::string& text) {
    std::ofstream(path_, std::ios::trunc) << text;
    return readErrorFile(path_);
  }
  testing::TempDir tmp_{"trainrun_error_file"};
  const std::string dir_ = tmp_.str();
  const std::string path_ = dir_ + "/error.json";
};

// PyTorch's @record: {"message": {"message": "<Type>: <text>", "extraInfo": {...}}}.
TEST_F(ErrorFileTest, ReadsWhatPyTorchsRecordWrites) {
  EXPECT_EQ(read(R"({"message": {"message": "ValueError: bad batch 7",
                    "extraInfo": {"py_callstack": "Traceback ...", "timestamp": "1"}}})"),
            "ValueError: bad batch 7");
  EXPECT_EQ(read(R"({"message": "  CUDA error: out of memory\nsecond line"})"),
            "CUDA error: out of memory");
  EXPECT_EQ(read(std::string(R"({"message": ")") + std::string(500, 'x') + "\"}").size(),
            403u);  // cut at 400 characters, with "..."
  EXPECT_EQ(read("not json"), "");
  EXPECT_EQ(read(R"({"message": {"extraInfo": {}}})"), "");
  EXPECT_EQ(readErrorFile(dir_ + "/missing.json"), "");
  EXPECT_EQ(readErrorFile(""), "");
}

TEST_F(ErrorFileTest, WritesTheSameLayoutItReads) {
  writeErrorFile(path_, "data file x.bin: truncated at byte 12; re-write it");
  EXPECT_EQ(readErrorFile(path_), "data file x.bin: truncated at byte 12; re-write it");
  const std::string text = *readWholeFile(path_);
  EXPECT_NE(text.find("\"extraInfo\""), std::string::npos);
  EXPECT_NE(text.find("\"timestamp\""), std::string::npos);
  writeErrorFile("", "nowhere");                                   // no file asked for: nothing
  writeErrorFile(dir_ + "/missing/dir/error.json", "unwritable");  // never throws
  EXPECT_FALSE(fs::exists(dir_ + "/missing"));
}

}  // namespace
}  // namespace trainrun
