// Hang analysis: one table of the ranks, then who did not join and where its main thread is.
#include "hang/hang_report.h"

#include <algorithm>
#include <cstdio>

namespace trainrun::launch {
namespace {

constexpr size_t kStackFrames = 8;  // top frames of a culprit's main thread in the report
constexpr size_t kMaxHeadlines = 8;

// One rank as the table shows it: from its dump when it answered, else from its heartbeat.
struct RankView {
  const RankEvidence* evidence = nullptr;
  int node = 0;
  int pid = 0;
  int64_t step = -1;
  uint64_t last_seq = 0;
  std::optional<DumpRecord> open;  // its oldest collective still issued
  int64_t open_age_ms = 0;         // at the time of the report
  std::string last_state;          // state of its last collective when none is open
  int64_t beat_age_ms = -1;        // age of the heartbeat it is known from (-1: from a dump)
  int64_t generation = -1;         // elastic jobs: its group generation
  bool regrouping = false;         // elastic jobs: it left its generation for the next
};

// What a dump and a heartbeat both say.
template <typename Source>
void takeShared(const Source& s, uint64_t last_seq, RankView& v) {
  v.node = s.node;
  v.step = s.step;
  v.last_seq = last_seq;
  v.generation = s.generation;
  v.regrouping = s.regrouping;
}

RankView viewOf(const RankEvidence& e, int64_t now_ms) {
  RankView v;
  v.evidence = &e;
  v.pid = e.pid;
  if (e.dump) {
    const RankDump& d = *e.dump;
    takeShared(d, d.last_seq, v);
    for (const DumpRecord& r : d.records) {
      if (r.state != "issued") continue;
      v.open = r;
      v.open_age_ms = r.age_ms + (now_ms - d.time_ms);
      break;
    }
    if (!d.records.empty()) v.last_state = d.records.back().state;
  } else if (e.progress) {
    const RankProgress& p = *e.progress;
    takeShared(p, p.seq, v);
    v.beat_age_ms = now_ms - p.beat_ms;
    if (p.open_seq != 0 && v.beat_age_ms <= kStaleBeatMs) {  // a stale one's may be done
      v.open = DumpRecord{p.open_seq, "", 0, p.step, "issued", 0, ""};
      v.open_age_ms = now_ms - p.open_since_ms;
    }
  }
  return v;
}

std::string seconds(int64_t ms) {
  char s[32];
  std::snprintf(s, sizeof(s), "%.1f s", static_cast<double>(ms) / 1000.0);
  return s;
}

std::string who(const RankView& v) {
  return "rank " + std::to_string(v.evidence->rank) + " (node " + std::to_string(v.node) + ")";
}

// "allreduce #41 (bucket 3, 25 MiB) at step 812", from whichever dump recorded #seq.
std::string describeCollective(const std::vector<RankView>& views, uint64_t seq) {
  for (const RankView& v : views) {
    if (!v.evidence->dump) continue;
    for (const DumpRecord& r : v.evidence->dump->records) {
      if (r.seq != seq) continue;
      return r.op + " #" + std::to_string(seq) + " (" + (r.tag.empty() ? "" : r.tag + ", ") +
             humanBytes(r.bytes) + ") at step " + std::to_string(r.step);
    }
  }
  return "collective #" + std::to_string(seq);
}

// "#0  f (a=1, b=0x2) at x.c:57" -> "#0  f (...) at x.c:57": gdb's argument lists, from
// debug info, make lines hundreds of characters long.
std::string withoutArguments(const std::string& frame) {
  const size_t open = frame.find(" (");
  if (open == std::string::npos) return frame;
  int depth = 0;
  for (size_t i = open + 1; i < frame.size(); ++i) {
    if (frame[i] == '(') ++depth;
    if (frame[i] == ')' && --depth == 0) {
      const std::string args = frame.substr(open + 2, i - open - 2);
      if (args.find('=') == std::string::npos) return frame;
      return frame.substr(0, open) + " (...)" + frame.substr(i + 1);
    }
  }
  return frame;
}

// The frames of thread `pid` (the main thread) in gdb's `thread apply all bt`.
std::vector<std::string> gdbMainThread(const std::string& gdb, int pid) {
  std::vector<std::string> frames;
  const std::string marker = "(LWP " + std::to_string(pid) + ")";
  size_t pos = gdb.find(marker);
  if (pos == std::string::npos) return frames;
  pos = gdb.find('\n', pos);
  while (pos != std::string::npos && frames.size() < kStackFrames) {
    const size_t end = gdb.find('\n', pos + 1);
    const std::string line = gdb.substr(pos + 1, end == std::string::npos ? end : end - pos - 1);
    if (line.empty() || line[0] != '#') break;
    frames.push_back(withoutArguments(line));
    pos = end;
  }
  return frames;
}

// The top of a rank's main thread: the signal-safe stack, else gdb's (the rank's or ours).
std::vector<std::string> mainStack(const RankView& v) {
  const RankEvidence& e = *v.evidence;
  std::vector<std::string> frames;
  if (e.dump) {
    for (const ThreadStack& t : e.dump->threads) {
      if (t.tid != e.dump->pid || t.frames.empty()) continue;
      for (size_t i = 0; i < t.frames.size() && i < kStackFrames; ++i)
        frames.push_back("#" + std::to_string(i) + " " + t.frames[i]);
    }
    if (frames.empty()) frames = gdbMainThread(e.dump->gdb, e.dump->pid);
  }
  if (frames.empty()) frames = gdbMainThread(e.gdb, e.pid);
  return frames;
}

void addStack(const RankView& v, std::vector<std::string>& lines) {
  const std::vector<std::string> frames = mainStack(v);
  if (frames.empty()) {
    lines.push_back("  no stack of rank " + std::to_string(v.evidence->rank) +
                    (v.evidence->process == "running" ? " (it did not answer in time)"
                                                      : " (" + v.evidence->process + ")"));
    return;
  }
  lines.push_back("  rank " + std::to_string(v.evidence->rank) + "'s main thread (pid " +
                  std::to_string(v.pid) + "):");
  for (const std::string& f : frames) lines.push_back("    " + f);
}

// What a headline adds about a rank known only from its heartbeat.
std::string heartbeatNote(const RankView& v) {
  if (v.beat_age_ms < 0) return "";
  return " (known from its heartbeat of " + seconds(v.beat_age_ms) + " ago: last collective #" +
         std::to_string(v.last_seq) + ", step " + std::to_string(v.step) + ")";
}

std::vector<std::string> table(const std::vector<RankView>& views) {
  std::vector<std::string> lines;
  char row[256];
  std::snprintf(row, sizeof(row), "%5s %5s %8s %7s %9s  %-16s %8s  %s", "rank", "node", "pid",
                "step", "last seq", "open collective", "age", "process");
  lines.push_back(row);
  for (const RankView& v : views) {
    std::string open = "none";
    if (v.regrouping) {
      open = "re-forming (gen " + std::to_string(v.generation) + ")";
    } else if (v.open) {
      open = "#" + std::to_string(v.open->seq) + " issued";
    } else if (!v.last_state.empty()) {
      open = "none (#" + std::to_string(v.last_seq) + " " + v.last_state + ")";
    }
    std::string process = v.evidence->process;
    if (v.evidence->unanswered) process += "; did not answer";
    if (v.beat_age_ms >= 0) process += "; no dump, heartbeat " + seconds(v.beat_age_ms) + " old";
    if (!v.evidence->dump && !v.evidence->progress) process += "; never reported";
    std::snprintf(row, sizeof(row), "%5d %5d %8d %7lld %9llu  %-16s %8s  %s", v.evidence->rank,
                  v.node, v.pid, static_cast<long long>(v.step),
                  static_cast<unsigned long long>(v.last_seq), open.c_str(),
                  v.open ? seconds(v.open_age_ms).c_str() : "-", process.c_str());
    lines.push_back(row);
  }
  return lines;
}

}  // namespace

std::string stuckReason(const RankEvidence& e) {
  if (e.process == "stopped by a signal" || e.process == "stopped by a debugger" ||
      e.process == "in uninterruptible sleep (D)")
    return e.process;
  if (e.unanswered && e.process == "running") return "did not answer its dump request";
  return "";
}

int64_t lastCompletedMs(const std::vector<RankEvidence>& ranks) {
  int64_t done = 0;
  for (const RankEvidence& e : ranks) {
    if (e.dump) done = std::max(done, e.dump->done_ms);
    if (e.progress) done = std::max(done, e.progress->done_ms);
  }
  return done;
}

std::string humanBytes(int64_t bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double value = static_cast<double>(bytes);
  int unit = 0;
  while (value >= 1024 && unit < 4) {
    value /= 1024;
    ++unit;
  }
  char s[32];
  if (unit == 0 || value >= 10 || value == static_cast<int64_t>(value)) {
    std::snprintf(s, sizeof(s), "%.0f %s", value, units[unit]);
  } else {
    std::snprintf(s, sizeof(s), "%.1f %s", value, units[unit]);
  }
  return s;
}

namespace {

// The ranks a hang report names, each with its headline, the likeliest cause first.
struct Suspects {
  std::vector<const RankView*> ranks;
  std::vector<std::string> headlines;
  void add(const RankView& v, std::string headline) {
    ranks.push_back(&v);
    headlines.push_back(std::move(headline));
  }
};

// Elastic jobs: ranks that left their generation wait for the others to re-form the group; a
// rank that never left is the one they wait for (collective numbers restart per group). Else
// the ranks that did not join the newest collective (`top`); when all did, those that cannot
// answer are stuck in it.
Suspects findSuspects(const std::vector<RankView>& views, uint64_t top,
                      const std::string& collective, int64_t left) {
  Suspects s;
  for (const RankView& v : views) {
    if (left < 0 || v.regrouping) continue;
    const std::string process = v.evidence->process;
    s.add(v, who(v) + " did not join the group re-forming after generation " +
                 std::to_string(left) + (process == "running" ? "" : "; it is " + process) +
                 heartbeatNote(v));
  }
  for (const RankView& v : views) {
    if (left >= 0 || v.last_seq >= top) continue;
    const std::string process = v.evidence->process;
    s.add(v, who(v) + " did not join " + collective +
                 (process == "running" ? "" : "; it is " + process) + heartbeatNote(v));
  }
  if (s.ranks.empty() && left < 0 && top > 0) {  // all joined: one that cannot answer is stuck
    for (const RankView& v : views) {
      if (v.evidence->process == "running") continue;
      s.add(v, who(v) + " is " + v.evidence->process + " inside " + collective +
                   ", which every rank joined" + heartbeatNote(v));
    }
  }
  return s;
}

// The likeliest cause first: a rank stopped by a signal, then one that cannot run for now (in
// the kernel, under a debugger: its own dump's gdb, perhaps), then running ones, and last ranks
// that ended (on their own deadline, as victims). A running rank that did not join may only be
// waiting on another (a node's leader waits for its stopped local peer).
void orderByLikelihood(Suspects& s) {
  auto rankOf = [](const RankView* v) {
    const std::string& p = v->evidence->process;
    return p == "stopped by a signal" ? 0 : p == "running" ? 2 : p == "exited" ? 3 : 1;
  };
  std::vector<size_t> order(s.ranks.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return rankOf(s.ranks[a]) < rankOf(s.ranks[b]); });
  Suspects sorted;
  for (size_t i : order) sorted.add(*s.ranks[i], s.headlines[i]);
  s = std::move(sorted);
}

// The verdict when no rank is to blame: what every rank is doing.
std::string verdictWithoutSuspects(const std::vector<RankView>& views, uint64_t top,
                                   const std::string& collective, int64_t left) {
  int64_t oldest_ms = -1;
  for (const RankView& v : views) {
    if (v.open) oldest_ms = std::max(oldest_ms, v.open_age_ms);
  }
  if (left >= 0)
    return "every rank is re-forming the group after generation " + std::to_string(left) +
           "; their stacks are in the full dump";
  if (top == 0) return "no rank has issued a collective yet; their stacks are in the full dump";
  if (oldest_ms >= 0)
    return "all " + std::to_string(views.size()) + " ranks joined " + collective +
           " and it is still open after " + seconds(oldest_ms) +
           ": no rank is missing, so suspect the transport (network, NCCL, shared "
           "memory) rather than a rank";
  return "no collective is open: every rank completed " + collective +
         "; their stacks in the full dump show where they wait";
}

}  // namespace

HangReport analyzeHang(const std::vector<RankEvidence>& ranks, int64_t now_ms) {
  std::vector<RankView> views;
  for (const RankEvidence& e : ranks) views.push_back(viewOf(e, now_ms));
  std::sort(views.begin(), views.end(), [](const RankView& a, const RankView& b) {
    return a.evidence->rank < b.evidence->rank;
  });
  HangReport report;
  report.lines = table(views);
  uint64_t top = 0;  // the last collective any rank issued: the one the job waits in
  for (const RankView& v : views) top = std::max(top, v.last_seq);
  const std::string collective = describeCollective(views, top);
  int64_t left = -1;  // elastic jobs: the generation ranks left to re-form the group
  for (const RankView& v : views) {
    if (v.regrouping) left = std::max(left, v.generation);
  }

  Suspects suspects = findSuspects(views, top, collective, left);
  orderByLikelihood(suspects);
  for (const RankView* v : suspects.ranks) report.culprits.push_back(v->evidence->rank);
  if (suspects.ranks.empty()) {
    report.verdict = verdictWithoutSuspects(views, top, collective, left);
    report.lines.push_back(report.verdict);
    return report;
  }
  const size_t n = suspects.ranks.size();
  for (size_t i = 0; i < n && i < kMaxHeadlines; ++i) {
    report.lines.push_back(suspects.headlines[i]);
    addStack(*suspects.ranks[i], report.lines);
  }
  if (n > kMaxHeadlines)
    report.lines.push_back("and " + std::to_string(n - kMaxHeadlines) +
                           " more ranks did not join (see the table)");
  report.verdict = suspects.headlines.front();
  return report;
}

}  // namespace trainrun::launch
