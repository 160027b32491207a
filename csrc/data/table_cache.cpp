// Decoded tables: a JSON header and 64-byte-aligned raw tensors in one file, mapped copy-on-write.
#include "data/table_cache.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <utility>
#include <vector>

#include "core/digest.h"
#include "core/error.h"
#include "core/file.h"
#include "data/table_files.h"

namespace trainrun {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// The file: kMagic, a little-endian uint64 header length, the JSON header, then each tensor's
// bytes at the offset the header gives (64-byte aligned, from the file's start).
constexpr char kMagic[8] = {'T', 'R', 'T', 'A', 'B', 'L', 'E', '1'};
constexpr int kFormatVersion = 1;
constexpr uint64_t kAlign = 64;

uint64_t aligned(uint64_t n) { return (n + kAlign - 1) / kAlign * kAlign; }

// The named tensors a split holds (undefined ones are left out).
std::vector<std::pair<std::string, torch::Tensor>> tensorsOf(const TrainEvalSplit& split) {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (const auto& [name, d] : {std::pair<const char*, const Dataset*>{"train", &split.train},
                                {"eval", &split.eval},
                                {"test", &split.test}}) {
    if (d->features.defined())
      out.emplace_back(std::string(name) + ".features", d->features.contiguous());
    if (d->labels.defined())
      out.emplace_back(std::string(name) + ".labels", d->labels.contiguous());
  }
  const TableInfo& info = *split.table;
  for (const auto& [name, t] : {std::pair<const char*, const torch::Tensor*>{"mean", &info.mean},
                                {"std", &info.std},
                                {"classes", &info.classes}})
    if (t->defined()) out.emplace_back(name, t->contiguous());
  return out;
}

[[noreturn]] void corrupt(const std::string& path, const std::string& why) {
  throw StorageError("decoded table " + path + " is unreadable (" + why +
                     "): remove it and the next run decodes the table again");
}

// A read-only file mapped copy-on-write, unmapped when the last tensor over it goes.
struct Mapping {
  void* base = MAP_FAILED;
  size_t size = 0;
  ~Mapping() {
    if (base != MAP_FAILED) ::munmap(base, size);
  }
};

}  // namespace

std::string decodedTablePath(const config::JobConfig& config, const TableInfo& info) {
  const config::DataConfig& d = config.data();
  std::string key = "version " + std::to_string(kFormatVersion) + "\nlabel " + d.label() +
                    "\ntask " + d.task() + "\nfeatures";
  for (const std::string& f : d.features()) key += " " + f;
  if (info.validation_files.empty()) key += "\neval_fraction " + std::to_string(d.eval_fraction());
  for (const auto& [role, files] :
       {std::pair<const char*, const std::vector<std::string>*>{"train", &info.train_files},
        {"validation", &info.validation_files},
        {"test", &info.test_files}})
    for (const std::string& f : *files) {
      struct stat st {};
      if (::stat(f.c_str(), &st) != 0) throw ConfigError("table file " + f + " vanished");
      key += "\n" + std::string(role) + " " + fs::absolute(f).string() + " " +
             std::to_string(st.st_ino) + " " + std::to_string(st.st_size) + " " +
             std::to_string(st.st_mtim.tv_sec) + "." + std::to_string(st.st_mtim.tv_nsec);
    }
  return tableCacheDir() + "/decoded/" + sha256Hex(key) + ".trtable";
}

void writeDecodedTable(const std::string& path, const TrainEvalSplit& split) {
  const TableInfo& info = *split.table;
  json header{{"version", kFormatVersion},
              {"regression", split.train.task == Task::kRegression},
              {"num_classes", split.train.num_classes},
              {"feature_names", info.feature_names},
              {"task_reason", info.task_reason},
              {"tensors", json::array()}};
  const auto tensors = tensorsOf(split);
  uint64_t offset = 0;  // from the data's start: the header's end, aligned
  for (const auto& [name, t] : tensors) {
    header["tensors"].push_back({{"name", name},
                                 {"dtype", int(t.scalar_type())},
                                 {"shape", t.sizes().vec()},
                                 {"offset", offset},
                                 {"bytes", t.nbytes()}});
    offset = aligned(offset + t.nbytes());
  }
  const std::string text = header.dump();
  const uint64_t data_start = aligned(sizeof(kMagic) + 8 + text.size());

  std::error_code ec;
  fs::create_directories(fs::path(path).parent_path(), ec);
  const std::string tmp = tempPathBeside(path);
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    throw StorageError("cannot write " + tmp + ": " + std::strerror(errno) +
                       " (set TRAINRUN_CACHE_DIR to a writable folder)");
  auto put = [&](const void* data, size_t size) {
    if (!writeAll(fd, data, size)) {
      const std::string why = std::strerror(errno);
      ::close(fd);
      fs::remove(tmp, ec);
      throw StorageError("cannot write " + tmp + ": " + why);
    }
  };
  const uint64_t length = text.size();
  const std::string zeros(kAlign, '\0');
  put(kMagic, sizeof(kMagic));
  put(&length, sizeof(length));
  put(text.data(), text.size());
  put(zeros.data(), data_start - sizeof(kMagic) - 8 - text.size());
  uint64_t at = data_start;
  for (const auto& [name, t] : tensors) {
    put(t.data_ptr(), t.nbytes());
    const uint64_t end = aligned(at + t.nbytes());
    put(zeros.data(), end - at - t.nbytes());
    at = end;
  }
  ::close(fd);
  commitFileAtomic(tmp, path);
}

TrainEvalSplit mapDecodedTable(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) corrupt(path, std::strerror(errno));
  struct stat st {};
  auto mapping = std::make_shared<Mapping>();
  if (::fstat(fd, &st) == 0 && st.st_size > 0) {
    mapping->size = size_t(st.st_size);
    mapping->base = ::mmap(nullptr, mapping->size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
  }
  ::close(fd);
  if (mapping->base == MAP_FAILED) corrupt(path, "cannot map it");
  const auto* bytes = static_cast<const char*>(mapping->base);
  uint64_t length = 0;
  if (mapping->size < sizeof(kMagic) + 8 || std::memcmp(bytes, kMagic, sizeof(kMagic)) != 0)
    corrupt(path, "bad magic");
  std::memcpy(&length, bytes + sizeof(kMagic), sizeof(length));
  if (length > mapping->size - sizeof(kMagic) - 8) corrupt(path, "truncated header");
  json header;
  try {
    header = json::parse(std::string(bytes + sizeof(kMagic) + 8, length));
  } catch (const std::exception& e) {
    corrupt(path, e.what());
  }
  if (header.value("version", 0) != kFormatVersion) corrupt(path, "another format version");
  TrainEvalSplit split;
  split.table.emplace();
  TableInfo& info = *split.table;
  info.feature_names = header["feature_names"].get<std::vector<std::string>>();
  info.task_reason = header["task_reason"].get<std::string>();
  const Task task = header["regression"].get<bool>() ? Task::kRegression : Task::kClassification;
  for (Dataset* d : {&split.train, &split.eval, &split.test}) {
    d->task = task;
    d->num_classes = header["num_classes"].get<int64_t>();
  }
  const uint64_t data_start = aligned(sizeof(kMagic) + 8 + length);
  for (const json& t : header["tensors"]) {
    const uint64_t offset = data_start + t["offset"].get<uint64_t>();
    const auto size = t["bytes"].get<uint64_t>();
    if (offset + size > mapping->size) corrupt(path, "truncated tensors");
    torch::Tensor tensor = torch::from_blob(
        static_cast<char*>(mapping->base) + offset, t["shape"].get<std::vector<int64_t>>(),
        [mapping](void*) {},
        torch::TensorOptions().dtype(torch::ScalarType(t["dtype"].get<int>())));
    const std::string name = t["name"].get<std::string>();
    if (name == "mean") info.mean = tensor;
    if (name == "std") info.std = tensor;
    if (name == "classes") info.classes = tensor;
    for (const auto& [prefix, d] : {std::pair<std::string, Dataset*>{"train.", &split.train},
                                    {"eval.", &split.eval},
                                    {"test.", &split.test}}) {
      if (name == prefix + "features") d->features = tensor;
      if (name == prefix + "labels") d->labels = tensor;
    }
  }
  return split;
}

}  // namespace trainrun
