// TFRecord framing with masked CRC-32C, and the scalar event writer.
#include "metrics/tensorboard.h"

#include <unistd.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>

#include "core/error.h"
#include "metrics/tensorboard_event.pb.h"

namespace trainrun {
namespace {

constexpr uint32_t kCastagnoli = 0x82f63b78;  // reflected polynomial

std::array<uint32_t, 256> makeTable() {
  std::array<uint32_t, 256> t{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ kCastagnoli : c >> 1;
    t[i] = c;
  }
  return t;
}

// TFRecord stores CRCs masked: a CRC of data that holds CRCs is then less likely to be weak.
uint32_t masked(uint32_t crc) { return ((crc >> 15) | (crc << 17)) + 0xa282ead8u; }

void putLittleEndian(std::string& out, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(char((v >> (8 * i)) & 0xff));
}

double nowSeconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace

uint32_t crc32c(const void* data, size_t size) {
  static const std::array<uint32_t, 256> table = makeTable();
  const auto* p = static_cast<const unsigned char*>(data);
  uint32_t c = 0xffffffffu;
  for (size_t i = 0; i < size; ++i) c = table[(c ^ p[i]) & 0xff] ^ (c >> 8);
  return c ^ 0xffffffffu;
}

std::string tfRecord(const std::string& data) {
  std::string out;
  putLittleEndian(out, data.size(), 8);
  putLittleEndian(out, masked(crc32c(out.data(), 8)), 4);
  out += data;
  putLittleEndian(out, masked(crc32c(data.data(), data.size())), 4);
  return out;
}

TensorBoardWriter::TensorBoardWriter(const std::string& dir) : file_(nullptr, &std::fclose) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  char host[256] = "localhost";
  ::gethostname(host, sizeof(host) - 1);
  path_ = dir + "/events.out.tfevents." + std::to_string(int64_t(nowSeconds())) + "." + host + "." +
          std::to_string(::getpid()) + ".trainrun";
  file_.reset(std::fopen(path_.c_str(), "wb"));
  if (!file_)
    throw StorageError("cannot create TensorBoard event file " + path_ + ": " +
                       std::strerror(errno));
  tensorboard::Event first;
  first.set_wall_time(nowSeconds());
  first.set_file_version("brain.Event:2");
  write(first.SerializeAsString());
}

TensorBoardWriter::~TensorBoardWriter() = default;

void TensorBoardWriter::scalars(int64_t step,
                                const std::vector<std::pair<std::string, double>>& values) {
  tensorboard::Event event;
  event.set_wall_time(nowSeconds());
  event.set_step(step);
  for (const auto& [tag, v] : values) {
    tensorboard::Summary::Value* value = event.mutable_summary()->add_value();
    value->set_tag(tag);
    value->set_simple_value(float(v));
  }
  write(event.SerializeAsString());
}

void TensorBoardWriter::write(const std::string& event_bytes) {
  const std::string record = tfRecord(event_bytes);
  if (std::fwrite(record.data(), 1, record.size(), file_.get()) != record.size() ||
      std::fflush(file_.get()) != 0)
    throw StorageError("cannot write TensorBoard event file " + path_ + ": " +
                       std::strerror(errno));
}

}  // namespace trainrun
