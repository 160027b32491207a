// TensorBoard event files: scalars as Event protos in TFRecord framing, written by rank 0.
#pragma once

#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace trainrun {

// CRC-32C (Castagnoli) of `size` bytes, as TFRecord frames use it.
uint32_t crc32c(const void* data, size_t size);

// One TFRecord: uint64 length (little-endian), uint32 masked CRC-32C of the length, the data,
// uint32 masked CRC-32C of the data.
std::string tfRecord(const std::string& data);

// Appends scalar summaries to a new events.out.tfevents.<seconds>.<host>.<pid>.trainrun in
// `dir` (created if missing), which TensorBoard reads as one run. Every write is flushed, so
// a reader sees each step as it is logged. Throws StorageError naming the file on failure.
class TensorBoardWriter {
 public:
  explicit TensorBoardWriter(const std::string& dir);
  ~TensorBoardWriter();

  // One event at `step` holding a scalar per (tag, value).
  void scalars(int64_t step, const std::vector<std::pair<std::string, double>>& values);
  const std::string& path() const { return path_; }

 private:
  void write(const std::string& event_bytes);
  std::string path_;
  std::unique_ptr<FILE, int (*)(FILE*)> file_;
};

}  // namespace trainrun
