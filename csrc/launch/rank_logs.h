// RankLogs: torchrun's --log-dir, --redirects, --tee and --local-ranks-filter for rank output.
#pragma once

#include <map>
#include <memory>
#include <set>
#include <string>

namespace trainrun::launch {

// Streams as torchrun's Std: bit 1 stdout, bit 2 stderr (0 none, 3 both).
inline constexpr int kStdOut = 1;
inline constexpr int kStdErr = 2;

// One --redirects or --tee value: the same streams for every local rank ("3"), or per local
// rank ("0:1,1:2"; ranks not named get none).
struct StdStreams {
  int all = 0;
  std::map<int, int> by_local_rank;
  int of(int local_rank) const;
  bool any() const { return all != 0 || !by_local_rank.empty(); }
};

// Parses "N" or "R:N,R:N" (N in 0..3); throws ConfigError naming `flag` and the form.
StdStreams parseStdStreams(const std::string& flag, const std::string& value);
// Parses "0,1,2" (local ranks); throws ConfigError naming `flag` and the form.
std::set<int> parseLocalRanks(const std::string& flag, const std::string& value);

struct RankLogOptions {
  std::string log_dir;    // --log-dir; "": a fresh folder under $TMPDIR when files are wanted
  StdStreams redirects;   // --redirects/-r: to the rank's log file instead of the console
  StdStreams tee;         // --tee/-t: to the rank's log file and the console
  std::set<int> console;  // --local-ranks-filter: local ranks shown on the console (empty: all)
};

// Where one stream of one rank goes: the console (with the "[rank N] " prefix) and/or a file
// (the rank's own lines, unprefixed).
struct StreamRoute {
  bool console = true;
  std::string file;  // "": none
};

// torchrun's rules: a redirected stream goes to its file only, a tee'd one to both. A rank
// outside --local-ranks-filter shows nothing on the console that a file keeps, and no stdout;
// its stderr without a file still shows (errors are never dropped unseen).
StreamRoute routeOf(const RankLogOptions& options, int local_rank, int stream,
                    const std::string& rank_dir);

// The job's log folder: <log-dir>/<run id>_XXXXXX/attempt_<k>/<local rank>/{stdout,stderr}.log
// (torchrun's layout; k counts a rank's restarts), and each rank's error file.
class RankLogs {
 public:
  // Creates the run's folder when any stream goes to a file; throws ConfigError with one line
  // when it cannot (a --log-dir that is a file, or not writable). Without one, error files go
  // to a private folder in $TMPDIR, removed with this object (none if it cannot be made).
  RankLogs(RankLogOptions options, const std::string& run_id);
  ~RankLogs();
  RankLogs(const RankLogs&) = delete;
  RankLogs& operator=(const RankLogs&) = delete;

  // The run's folder ("" when no stream goes to a file: error files are then removed).
  const std::string& runDir() const { return run_dir_; }
  // The route of one stream of one rank's spawn (attempt 0, 1, ... for its restarts); makes
  // the attempt's rank folder when the route has a file. Throws Error naming a folder that
  // cannot be made.
  StreamRoute route(int local_rank, int attempt, int stream) const;
  // Opens a route's file, created empty; -1 when the route has none. Throws Error naming it.
  static int openFile(const StreamRoute& route);
  // TORCHELASTIC_ERROR_FILE for one rank's spawn, as torchrun sets it (PyTorch's @record writes
  // an uncaught exception there): error.json beside its logs; "" when there is no folder.
  std::string errorFile(int local_rank, int attempt) const;

 private:
  std::string rankDir(int local_rank, int attempt) const;

  RankLogOptions options_;
  std::string run_dir_;
  std::string private_dir_;  // error files when no log is kept; removed at the end
};

}  // namespace trainrun::launch
