// writeTarGzFolder: a gzip stream of ustar blocks with the folder's files at the root, and a
// sparse model over 4 GiB archived whole, streamed (sizes of any length, bounded memory).
#include "pipeline/model_archive.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>
#include <zlib.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <vector>

#include "core/error.h"
#include "support/temp_dir.h"

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

// The archive of `dir`, as written to a file.
std::string tarGz(const fs::path& dir) {
  const std::string out = dir.string() + ".tar.gz";
  writeTarGzFolder(dir.string(), out);
  std::ifstream in(out, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  fs::remove(out);
  return bytes;
}

uint64_t octalField(const std::string& block, size_t offset, size_t width) {
  return std::stoull(block.substr(offset, width - 1), nullptr, 8);
}

TEST(ModelArchiveTest, FilesAtTheRootInUstarBlocks) {
  const testing::TempDir tmp("trainrun_tar");
  const fs::path dir = tmp.path();
  fs::create_directories(dir / "extra");
  std::ofstream(dir / "model.pt") << std::string(1000, 'm');
  std::ofstream(dir / "extra" / "card.json") << "{}";
  const std::string tar = gunzip(tarGz(dir));
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
  EXPECT_THROW(writeTarGzFolder("/nonexistent/trainrun/model", "/tmp/never.tar.gz"), StorageError);
}

// A model over 4 GiB (sparse: no disk, and the archive streams it, so no memory either) comes
// back whole through GNU tar: its listing shows the whole size, and the last bytes it extracts
// are the marker written at the model's very end. The old writer cast a size to 32 bits and
// cut such a model short.
TEST(ModelArchiveTest, ModelOver4GiBIsArchivedWhole) {
  const testing::TempDir tmp("trainrun_tar_big");
  const fs::path dir = tmp.path();
  const uint64_t size = (uint64_t{4} << 30) + 1000;
  const std::string tail = "end-of-model";
  {
    const int fd = ::open((dir / "model.pt").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::pwrite(fd, tail.data(), tail.size(), static_cast<off_t>(size - tail.size())),
              static_cast<ssize_t>(tail.size()));
    ::close(fd);
  }
  const std::string out = dir.string() + ".tar.gz";
  writeTarGzFolder(dir.string(), out);
  EXPECT_LT(fs::file_size(out), uint64_t{64} << 20);  // gzip of zeros, never 4 GiB

  // GNU tar reads it back: the listing (on stderr with -O) shows the whole size, and the
  // bytes it extracts end with the tail written at the very end of the model.
  const std::string listing = dir.string() + ".list";
  FILE* p = ::popen(("tar -xvvOzf " + out + " model.pt 2>" + listing + " | tail -c " +
                     std::to_string(tail.size()))
                        .c_str(),
                    "r");
  ASSERT_NE(p, nullptr);
  char got[64] = {};
  const size_t n = std::fread(got, 1, sizeof(got), p);
  EXPECT_EQ(::pclose(p), 0);
  EXPECT_EQ(std::string(got, n), tail);
  std::ifstream in(listing);
  const std::string line((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_NE(line.find(" " + std::to_string(size) + " "), std::string::npos) << line;
  EXPECT_NE(line.find("model.pt"), std::string::npos) << line;
  fs::remove(listing);
  fs::remove(out);
}

}  // namespace
}  // namespace trainrun::pipeline
