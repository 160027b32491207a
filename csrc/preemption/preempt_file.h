// The preemption notice file an agent writes for its ranks, and the outcome line rank 0 answers.
#pragma once

#include <chrono>
#include <optional>
#include <string>

namespace trainrun {

// What the agent tells its ranks before it SIGTERMs them (the file named by
// TRAINRUN_PREEMPT_FILE). Lines of key=value: deadline_unix_ms, save (0/1), reason.
struct PreemptNotice {
  // When the ranks are SIGKILLed: the spot notice's time, or SIGTERM + the grace period.
  std::chrono::system_clock::time_point deadline;
  // Why, for messages: "SIGTERM", "spot interruption notice: terminate at 2026-...Z".
  std::string reason;
  // True when this job's state exists nowhere else (a single-node job, or every node
  // leaving): write an emergency checkpoint if it fits before the deadline.
  bool save = false;
};

std::string formatPreemptNotice(const PreemptNotice& notice);
// nullopt when `text` lacks a deadline (unknown keys are ignored, for later additions).
std::optional<PreemptNotice> parsePreemptNotice(const std::string& text);

// Rank 0's one-line account of how its stop went, beside the notice file; the agent's
// summary line carries it ("emergency checkpoint committed at step 812 ...").
std::string preemptOutcomePath(const std::string& notice_path);

}  // namespace trainrun
