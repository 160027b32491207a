// tarGzFolder: a gzip stream of ustar blocks with the folder's files at the root, checksummed.
#include "pipeline/model_archive.h"

#include <gtest/gtest.h>
#include <unistd.h>
#include <zlib.h>

#include <filesystem>
#include <fstream>

#include "core/error.h"

namespace trainrun::pipeline {
namespace {
namespace fs = std::filesystem;

std::string gunzip(const std::string& gz) {
  z_stream z{};
  EXPECT_EQ(inflateInit2(&z, 15 + 16), Z_OK);
  std::string out(1 << 20, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(gz.data()));
  z.avail_in = static_cast<uInt>(gz.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(inflate(&z, Z_FINISH), Z_STREAM_END);
  out.resize(z.total_out);
  inflateEnd(&z);
  return out;
}

uint64_t octalField(const std::string& block, size_t offset, size_t width) {
  return std::stoull(block.substr(offset, width - 1), nullptr, 8);
}

TEST(ModelArchiveTest, FilesAtTheRootInUstarBlocks) {
  const fs::path dir = fs::temp_directory_path() / ("trainrun_tar_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir / "extra");
  std::ofstream(dir / "model.pt") << std::string(1000, 'm');
  std::ofstream(dir / "extra" / "card.json") << "{}";
  const std::string tar = gunzip(tarGzFolder(dir.string()));
  fs::remove_all(dir);
  // extra/card.json (1 header + 1 block), model.pt (1 + 2), end marker (2): 7 blocks.
  ASSERT_EQ(tar.size(), 7u * 512);
  const std::string first = tar.substr(0, 512), second = tar.substr(1024, 512);
  EXPECT_EQ(std::string(first.c_str()), "extra/card.json");
  EXPECT_EQ(std::string(second.c_str()), "model.pt");
  EXPECT_EQ(octalField(second, 124, 12), 1000u);
  EXPECT_EQ(second.substr(257, 6), std::string("ustar\0", 6));
  EXPECT_EQ(second[156], '0');
  EXPECT_EQ(tar.substr(1536, 1000), std::string(1000, 'm'));
  // The checksum: the header's bytes summed with its own field read as spaces.
  std::string blank = second;
  blank.replace(148, 8, 8, ' ');
  unsigned sum = 0;
  for (unsigned char c : blank) sum += c;
  EXPECT_EQ(octalField(second, 148, 7), sum);
  EXPECT_EQ(tar.substr(5 * 512), std::string(1024, '\0'));
}

TEST(ModelArchiveTest, MissingFolderIsAStorageError) {
  EXPECT_THROW(tarGzFolder("/nonexistent/trainrun/model"), StorageError);
}

}  // namespace
}  // namespace trainrun::pipeline
