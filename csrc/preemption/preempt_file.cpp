// Preemption notice file: key=value lines, parsed leniently so either side may add keys.
#include "preemption/preempt_file.h"

#include <sstream>

#include "core/strings.h"

namespace trainrun {

std::string formatPreemptNotice(const PreemptNotice& notice) {
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(notice.deadline.time_since_epoch())
          .count();
  return "deadline_unix_ms=" + std::to_string(ms) + "\nsave=" + (notice.save ? "1" : "0") +
         "\nreason=" + oneLine(notice.reason) + "\n";
}

std::optional<PreemptNotice> parsePreemptNotice(const std::string& text) {
  PreemptNotice notice;
  bool has_deadline = false;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    const size_t eq = line.find('=');
    if (eq == std::string::npos) continue;
    const std::string key = line.substr(0, eq), value = line.substr(eq + 1);
    if (key == "deadline_unix_ms") {
      try {
        notice.deadline =
            std::chrono::system_clock::time_point(std::chrono::milliseconds(std::stoll(value)));
        has_deadline = true;
      } catch (const std::exception&) {
        return std::nullopt;
      }
    } else if (key == "save") {
      notice.save = value == "1";
    } else if (key == "reason") {
      notice.reason = value;
    }
  }
  if (!has_deadline) return std::nullopt;
  return notice;
}

std::string preemptOutcomePath(const std::string& notice_path) { return notice_path + ".outcome"; }

}  // namespace trainrun
