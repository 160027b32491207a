// Error files: writing and reading the JSON of torchrun's TORCHELASTIC_ERROR_FILE.
#include "core/error_file.h"

#include <chrono>
#include <nlohmann/json.hpp>
#include <optional>

#include "core/file.h"
#include "core/strings.h"

namespace trainrun {

void writeErrorFile(const std::string& path, const std::string& message) {
  if (path.empty()) return;
  const auto now = std::chrono::system_clock::now().time_since_epoch();
  const nlohmann::json doc = {
      {"message",
       {{"message", message},
        {"extraInfo",
         {{"timestamp",
           std::to_string(std::chrono::duration_cast<std::chrono::seconds>(now).count())}}}}}};
  try {
    writeFileAtomic(path, doc.dump(2) + "\n");
  } catch (const std::exception&) {  // the rank's own error line already said what failed
  }
}

std::string readErrorFile(const std::string& path) {
  if (path.empty()) return "";
  const std::optional<std::string> text = readWholeFile(path);
  if (!text) return "";
  const nlohmann::json doc = nlohmann::json::parse(*text, nullptr, /*allow_exceptions=*/false);
  if (!doc.is_object() || !doc.contains("message")) return "";
  const nlohmann::json& m = doc["message"];
  const nlohmann::json& message = m.is_object() && m.contains("message") ? m["message"] : m;
  if (!message.is_string()) return "";
  std::string line = trim(message.get<std::string>());
  line = line.substr(0, line.find('\n'));
  constexpr size_t kMaxChars = 400;
  return line.size() > kMaxChars ? line.substr(0, kMaxChars) + "..." : line;
}

}  // namespace trainrun
