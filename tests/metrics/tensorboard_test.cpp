// TFRecord framing (CRC-32C, masking) and the event file read back record by record.
#include "metrics/tensorboard.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>

#include "core/file.h"
#include "metrics/tensorboard_event.pb.h"
#include "support/temp_dir.h"

namespace trainrun {
namespace {

uint32_t readU32(const std::string& s, size_t at) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | uint8_t(s[at + i]);
  return v;
}

uint32_t unmask(uint32_t m) {
  const uint32_t rot = m - 0xa282ead8u;
  return (rot >> 17) | (rot << 15);
}

TEST(Crc32c, KnownVectors) {
  EXPECT_EQ(crc32c("123456789", 9), 0xe3069283u);  // the CRC-32C check value
  const std::string zeros(32, '\0');
  EXPECT_EQ(crc32c(zeros.data(), zeros.size()), 0x8a9136aau);  // RFC 3720 B.4
}

TEST(TfRecord, LengthAndMaskedChecksums) {
  const std::string r = tfRecord("hello");
  ASSERT_EQ(r.size(), 8u + 4 + 5 + 4);
  EXPECT_EQ(uint8_t(r[0]), 5);
  for (int i = 1; i < 8; ++i) EXPECT_EQ(r[i], 0);
  EXPECT_EQ(unmask(readU32(r, 8)), crc32c(r.data(), 8));
  EXPECT_EQ(r.substr(12, 5), "hello");
  EXPECT_EQ(unmask(readU32(r, 17)), crc32c("hello", 5));
}

TEST(TensorBoardWriter, FileVersionThenOneEventPerCall) {
  const testing::TempDir tmp;
  const auto dir = tmp.path() / "events";
  std::string path;
  {
    TensorBoardWriter w(dir.string());
    path = w.path();
    w.scalars(10, {{"train_loss", 0.25}, {"lr", 0.1}});
    w.scalars(20, {{"train_loss", 0.125}});
  }
  EXPECT_NE(path.find("events.out.tfevents."), std::string::npos);
  const std::string bytes = *readWholeFile(path);
  std::vector<tensorboard::Event> events;
  for (size_t at = 0; at < bytes.size();) {
    uint64_t len = 0;
    std::memcpy(&len, bytes.data() + at, 8);  // little-endian host
    ASSERT_LE(at + 16 + len, bytes.size());
    const std::string data = bytes.substr(at + 12, len);
    EXPECT_EQ(unmask(readU32(bytes, at + 12 + len)), crc32c(data.data(), data.size()));
    events.emplace_back().ParseFromString(data);
    at += 16 + len;
  }
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].file_version(), "brain.Event:2");
  EXPECT_EQ(events[1].step(), 10);
  ASSERT_EQ(events[1].summary().value_size(), 2);
  EXPECT_EQ(events[1].summary().value(0).tag(), "train_loss");
  EXPECT_FLOAT_EQ(events[1].summary().value(0).simple_value(), 0.25f);
  EXPECT_EQ(events[2].step(), 20);
  EXPECT_GT(events[2].wall_time(), 1.6e9);
}

}  // namespace
}  // namespace trainrun
