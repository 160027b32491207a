// SampleLog: one line per micro-batch, flushed so that a killed rank's lines survive it.
#include "train/sample_log.h"

#include <unistd.h>

#include <filesystem>
#include <string>

#include "core/env.h"
#include "core/error.h"

namespace trainrun {

std::unique_ptr<SampleLog> SampleLog::fromEnv() {
  const std::string dir = env::get(env::kSampleLog);
  if (dir.empty()) return nullptr;
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  return std::unique_ptr<SampleLog>(
      new SampleLog(dir + "/samples-" + std::to_string(::getpid()) + ".txt"));
}

SampleLog::SampleLog(const std::string& path) : out_(path, std::ios::app) {
  if (!out_) throw ConfigError(std::string(env::kSampleLog) + ": cannot write " + path);
}

void SampleLog::add(int64_t step, int64_t micro, int rank, int world_size,
                    const std::vector<uint64_t>& window_ids) {
  out_ << step << ' ' << micro << ' ' << rank << ' ' << world_size << ' ';
  for (size_t i = 0; i < window_ids.size(); ++i) out_ << (i ? "," : "") << window_ids[i];
  out_ << '\n' << std::flush;
}

}  // namespace trainrun
