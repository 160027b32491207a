// RankLogs: parsing torchrun's stream flags, routing each rank stream, the log folder layout.
#include "launch/rank_logs.h"

#include <fcntl.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>

#include "core/error.h"
#include "core/strings.h"
#include "core/temp_dir.h"

namespace fs = std::filesystem;

namespace trainrun::launch {
namespace {

// A whole number in [lo, hi], or -1.
int smallInt(const std::string& text, int lo, int hi) {
  return static_cast<int>(wholeNumber(text, lo, hi).value_or(-1));
}

constexpr int kMaxLocalRank = 4095;

}  // namespace

int StdStreams::of(int local_rank) const {
  auto it = by_local_rank.find(local_rank);
  return it != by_local_rank.end() ? it->second : all;
}

StdStreams parseStdStreams(const std::string& flag, const std::string& value) {
  const std::string form = flag + " '" + value +
                           "' is not a stream choice; use 0 (none), 1 (stdout), 2 (stderr) or 3 "
                           "(both) for every local rank, or per local rank as in " +
                           flag + " 0:3,1:2";
  StdStreams out;
  if (value.find(':') == std::string::npos) {
    out.all = smallInt(value, 0, 3);
    if (out.all < 0) throw ConfigError(form);
    return out;
  }
  for (const std::string& item : splitList(value)) {
    const size_t colon = item.find(':');
    const int rank =
        colon == std::string::npos ? -1 : smallInt(item.substr(0, colon), 0, kMaxLocalRank);
    const int streams = colon == std::string::npos ? -1 : smallInt(item.substr(colon + 1), 0, 3);
    if (rank < 0 || streams < 0 || out.by_local_rank.count(rank)) throw ConfigError(form);
    out.by_local_rank[rank] = streams;
  }
  return out;
}

std::set<int> parseLocalRanks(const std::string& flag, const std::string& value) {
  std::set<int> ranks;
  for (const std::string& item : splitList(value)) {
    const int rank = smallInt(item, 0, kMaxLocalRank);
    if (rank < 0)
      throw ConfigError(flag + " '" + value + "' is not a list of local ranks; use e.g. " + flag +
                        " 0 or " + flag + " 0,1");
    ranks.insert(rank);
  }
  return ranks;
}

StreamRoute routeOf(const RankLogOptions& options, int local_rank, int stream,
                    const std::string& rank_dir) {
  const bool redirected = (options.redirects.of(local_rank) & stream) != 0;
  const bool teed = (options.tee.of(local_rank) & stream) != 0;
  const bool shown = options.console.empty() || options.console.count(local_rank) != 0;
  StreamRoute route;
  if (redirected || teed)
    route.file = rank_dir + (stream == kStdOut ? "/stdout.log" : "/stderr.log");
  route.console =
      route.file.empty() ? (shown || stream == kStdErr) : (teed && !redirected && shown);
  return route;
}

RankLogs::RankLogs(RankLogOptions options, const std::string& run_id)
    : options_(std::move(options)) {
  // The run id names the folder (a scheduler's job id may hold '/' or ':': those become '_').
  std::string name = run_id.empty() ? std::string("trainrun") : run_id;
  for (char& c : name)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '.') c = '_';
  if (!options_.redirects.any() && !options_.tee.any()) {
    private_dir_ = makeTempDir("trainrun_errors_" + name + "_");
    return;
  }
  const std::string base = options_.log_dir.empty() ? tempBase() : options_.log_dir;
  std::error_code ec;
  fs::create_directories(base, ec);
  if (ec || !fs::is_directory(base))
    throw ConfigError("--log-dir " + base + ": cannot make the folder (" +
                      (ec ? ec.message() : std::string("a file is in the way")) +
                      "); choose a writable folder");
  run_dir_ = makeTempDir(name + "_", base);
  if (run_dir_.empty())
    throw ConfigError("--log-dir " + base + ": cannot make the run's folder there (" +
                      std::strerror(errno) + "); choose a writable folder");
}

RankLogs::~RankLogs() {
  std::error_code ec;
  if (!private_dir_.empty()) fs::remove_all(private_dir_, ec);
}

std::string RankLogs::rankDir(int local_rank, int attempt) const {
  const std::string& root = run_dir_.empty() ? private_dir_ : run_dir_;
  return root + "/attempt_" + std::to_string(attempt) + "/" + std::to_string(local_rank);
}

StreamRoute RankLogs::route(int local_rank, int attempt, int stream) const {
  const std::string dir = rankDir(local_rank, attempt);
  StreamRoute r = routeOf(options_, local_rank, stream, dir);
  if (r.file.empty()) return r;
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw Error("rank logs: cannot make " + dir + " (" + ec.message() + ")");
  return r;
}

int RankLogs::openFile(const StreamRoute& route) {
  if (route.file.empty()) return -1;
  const int fd = ::open(route.file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    throw Error("rank logs: cannot create " + route.file + " (" + std::strerror(errno) + ")");
  return fd;
}

std::string RankLogs::errorFile(int local_rank, int attempt) const {
  if (run_dir_.empty() && private_dir_.empty()) return "";
  const std::string dir = rankDir(local_rank, attempt);
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return "";  // no error file: the rank runs as it would without one
  const std::string path = dir + "/error.json";
  fs::remove(path, ec);  // a fresh attempt: nothing of an earlier run's
  return path;
}

}  // namespace trainrun::launch
