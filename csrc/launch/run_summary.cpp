// Wording of the summary line; kept apart from the agent so its tests need no processes.
#include "launch/run_summary.h"

#include <sstream>
#include <vector>

#include "core/error.h"
#include "core/strings.h"

namespace trainrun::launch {
namespace {

std::string join(const std::vector<std::string>& parts, const std::string& sep) {
  std::string out;
  for (const auto& p : parts) out += (out.empty() ? "" : sep) + p;
  return out;
}

// Notes on how the stop went, shared by both kinds of summary.
std::vector<std::string> stopNotes(const AgentResult& r, std::chrono::milliseconds grace) {
  std::vector<std::string> notes;
  if (r.force_killed > 0) {
    std::ostringstream s;
    s << r.force_killed << " needed SIGKILL after the " << grace.count() / 1000.0
      << " s grace period";
    notes.push_back(s.str());
  }
  for (int rank : r.unreaped) {
    notes.push_back("rank " + std::to_string(rank) + " did not exit even after SIGKILL");
  }
  return notes;
}

// What a hang cost the run, and the stuck ranks the agent killed without a grace period.
std::vector<std::string> hangNotes(const AgentResult& r) {
  std::vector<std::string> notes;
  if (!r.hung_killed.empty()) notes.push_back("killed at once: " + join(r.hung_killed, ", "));
  if (r.hang_cost_ms >= 0) {
    std::ostringstream s;
    s.setf(std::ios::fixed);
    s.precision(1);
    s << "the hang cost " << r.hang_cost_ms / 1000.0
      << " s from the last completed collective to the exit";
    notes.push_back(s.str());
  }
  return notes;
}

}  // namespace

std::string summaryLine(const AgentResult& r, std::chrono::milliseconds grace_period) {
  if (r.preemption) {
    const std::string head = "trainrun: preempted (" + r.preemption->reason + ")";
    if (r.stopped_ok == r.stopped) return head + " as every rank had finished; the run is complete";
    std::vector<std::string> notes = stopNotes(r, grace_period);
    if (r.force_killed > 0)  // SIGKILL came at the notice's deadline, not after a grace period
      notes.front() = std::to_string(r.force_killed) + " needed SIGKILL at the deadline";
    return head + "; " +
           (r.preemption_outcome.empty() ? "the ranks reported no emergency checkpoint"
                                         : r.preemption_outcome) +
           "; stopped " + plural(r.stopped, "rank") +
           (notes.empty() ? "" : " (" + join(notes, "; ") + ")");
  }
  if (r.first_failure) {
    const auto& f = *r.first_failure;
    std::vector<std::string> notes;
    if (f.hung.empty() && !f.status.hint().empty()) notes.push_back(f.status.hint());
    if (r.stopped > 0) notes.push_back("stopped " + plural(r.stopped, "other rank"));
    if (!r.hang.empty()) notes.push_back("hang report above: " + r.hang);
    for (auto& n : hangNotes(r)) notes.push_back(n);
    for (auto& n : stopNotes(r, grace_period)) notes.push_back(n);
    if (!f.error.empty() && !f.error_file.empty())
      notes.push_back("its traceback: " + f.error_file);
    const std::string how =
        f.hung.empty() ? f.status.describe() : "hung (" + f.hung + ") and killed by the launcher";
    return "trainrun: rank " + std::to_string(f.rank) + " failed first: " + how +
           (f.error.empty() ? "" : ": " + f.error) +
           (notes.empty() ? "" : " (" + join(notes, "; ") + ")");
  }
  if (!r.peer_failure.empty()) {
    std::vector<std::string> notes = stopNotes(r, grace_period);
    return "trainrun: " + r.peer_failure + "; stopped " + plural(r.stopped, "rank") +
           " on this node" + (notes.empty() ? "" : " (" + join(notes, "; ") + ")");
  }
  if (!r.hang.empty()) {
    std::vector<std::string> notes = hangNotes(r);
    for (auto& n : stopNotes(r, grace_period)) notes.push_back(n);
    return "trainrun: hang: " + r.hang + "; stopped " + plural(r.stopped, "rank") +
           (notes.empty() ? "" : " (" + join(notes, "; ") + ")");
  }
  if (r.received_signal != 0) {
    std::vector<std::string> notes = stopNotes(r, grace_period);
    return "trainrun: received " + signalName(r.received_signal) + "; stopped " +
           plural(r.stopped, "rank") + (notes.empty() ? "" : " (" + join(notes, "; ") + ")");
  }
  return "";
}

int launcherExitCode(const AgentResult& r) {
  if (r.preemption) return r.stopped_ok == r.stopped ? 0 : kExitPreempted;
  if (r.first_failure) return r.first_failure->status.shellCode();
  if (r.received_signal != 0) return 128 + r.received_signal;
  if (!r.peer_failure.empty()) return kExitLostNode;
  if (!r.hang.empty()) return 1;
  return 0;
}

}  // namespace trainrun::launch
