// Rank dump and progress files: "key=value" lines, one writer (the rank), one reader (launcher).
#include "hang/rank_dump.h"

#include <cstdlib>
#include <map>
#include <sstream>

#include "core/strings.h"

namespace trainrun {
namespace {

// "a=1 b=2 rest=x y z": space-separated fields; `rest_key`'s value runs to the end of the line.
std::map<std::string, std::string> fields(const std::string& line, const std::string& rest_key) {
  std::map<std::string, std::string> out;
  size_t pos = 0;
  while (pos < line.size()) {
    const size_t end = line.find(' ', pos);
    const std::string token = line.substr(pos, end == std::string::npos ? end : end - pos);
    const size_t eq = token.find('=');
    if (eq != std::string::npos) {
      const std::string key = token.substr(0, eq);
      if (key == rest_key) {
        out[key] = line.substr(pos + eq + 1);
        break;
      }
      out[key] = token.substr(eq + 1);
    }
    if (end == std::string::npos) break;
    pos = end + 1;
  }
  return out;
}

int64_t number(const std::map<std::string, std::string>& f, const std::string& key,
               int64_t fallback = 0) {
  auto it = f.find(key);
  return it == f.end() || it->second.empty() ? fallback
                                             : std::strtoll(it->second.c_str(), nullptr, 10);
}

std::string text(const std::map<std::string, std::string>& f, const std::string& key) {
  auto it = f.find(key);
  return it == f.end() ? "" : it->second;
}

bool startsWith(const std::string& s, const char* prefix) { return s.rfind(prefix, 0) == 0; }

}  // namespace

std::string progressPath(const std::string& dir, int rank) {
  return dir + "/rank-" + std::to_string(rank) + ".progress";
}

std::string dumpPath(const std::string& dir, int rank) {
  return dir + "/rank-" + std::to_string(rank) + ".txt";
}

std::string formatProgress(const RankProgress& p) {
  std::ostringstream s;
  s << "pid=" << p.pid << " node=" << p.node << " step=" << p.step << " seq=" << p.seq
    << " open_seq=" << p.open_seq << " open_since_ms=" << p.open_since_ms
    << " beat_ms=" << p.beat_ms << " done_ms=" << p.done_ms << " generation=" << p.generation
    << " regrouping=" << (p.regrouping ? 1 : 0) << "\n";
  return s.str();
}

std::optional<RankProgress> parseProgress(const std::string& line) {
  const auto f = fields(line.substr(0, line.find('\n')), "");
  if (f.count("pid") == 0 || f.count("beat_ms") == 0) return std::nullopt;
  RankProgress p;
  p.pid = static_cast<int>(number(f, "pid"));
  p.node = static_cast<int>(number(f, "node"));
  p.step = number(f, "step", -1);
  p.seq = static_cast<uint64_t>(number(f, "seq"));
  p.open_seq = static_cast<uint64_t>(number(f, "open_seq"));
  p.open_since_ms = number(f, "open_since_ms");
  p.beat_ms = number(f, "beat_ms");
  p.done_ms = number(f, "done_ms");
  p.generation = number(f, "generation", -1);
  p.regrouping = number(f, "regrouping") == 1;
  return p;
}

std::string formatRankDump(const RankDump& d) {
  std::ostringstream s;
  s << "trainrun-dump rank=" << d.rank << " node=" << d.node << " pid=" << d.pid
    << " step=" << d.step << " last_seq=" << d.last_seq << " time_ms=" << d.time_ms
    << " done_ms=" << d.done_ms << " final=" << (d.final ? 1 : 0) << " generation=" << d.generation
    << " regrouping=" << (d.regrouping ? 1 : 0) << " reason=" << oneLine(d.reason) << "\n";
  for (const DumpRecord& r : d.records) {
    s << "collective seq=" << r.seq << " op=" << r.op << " bytes=" << r.bytes << " step=" << r.step
      << " state=" << r.state << " age_ms=" << r.age_ms << " tag=" << r.tag << "\n";
  }
  for (const ThreadStack& t : d.threads) {
    s << "thread tid=" << t.tid << " answered=" << (t.answered ? 1 : 0) << " name=" << t.name
      << "\n";
    for (const std::string& f : t.frames) s << "  " << f << "\n";
  }
  if (!d.gdb.empty()) s << "gdb\n" << d.gdb << (d.gdb.back() == '\n' ? "" : "\n");
  return s.str();
}

std::optional<RankDump> parseRankDump(const std::string& all) {
  std::istringstream in(all);
  std::string line;
  if (!std::getline(in, line) || !startsWith(line, "trainrun-dump ")) return std::nullopt;
  RankDump d;
  auto f = fields(line, "reason");
  d.rank = static_cast<int>(number(f, "rank", -1));
  d.node = static_cast<int>(number(f, "node"));
  d.pid = static_cast<int>(number(f, "pid"));
  d.step = number(f, "step", -1);
  d.last_seq = static_cast<uint64_t>(number(f, "last_seq"));
  d.time_ms = number(f, "time_ms");
  d.done_ms = number(f, "done_ms");
  d.final = number(f, "final") == 1;
  d.generation = number(f, "generation", -1);
  d.regrouping = number(f, "regrouping") == 1;
  d.reason = text(f, "reason");
  bool in_gdb = false;
  while (std::getline(in, line)) {
    if (in_gdb) {
      d.gdb += line + "\n";
    } else if (startsWith(line, "collective ")) {
      f = fields(line, "tag");
      d.records.push_back(DumpRecord{static_cast<uint64_t>(number(f, "seq")), text(f, "op"),
                                     number(f, "bytes"), number(f, "step", -1), text(f, "state"),
                                     number(f, "age_ms"), text(f, "tag")});
    } else if (startsWith(line, "thread ")) {
      f = fields(line, "name");
      ThreadStack t;
      t.tid = static_cast<pid_t>(number(f, "tid"));
      t.answered = number(f, "answered") == 1;
      t.name = text(f, "name");
      d.threads.push_back(std::move(t));
    } else if (startsWith(line, "  ") && !d.threads.empty()) {
      d.threads.back().frames.push_back(line.substr(2));
    } else if (line == "gdb") {
      in_gdb = true;
    }
  }
  return d;
}

}  // namespace trainrun
