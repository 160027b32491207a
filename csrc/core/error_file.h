// torchrun's error file (TORCHELASTIC_ERROR_FILE): the JSON a failing rank leaves its launcher.
#pragma once

#include <string>

namespace trainrun {

// Writes {"message": {"message": MESSAGE, "extraInfo": {"timestamp": "<unix seconds>"}}} to
// `path`, the layout PyTorch's @record writes; nothing when `path` is "". Never throws: a rank
// that is failing still exits with its own error.
void writeErrorFile(const std::string& path, const std::string& message);

// The first line of the message in such a file (message.message, or message when it is a
// string), cut at 400 characters; "" when the file is missing or holds none.
std::string readErrorFile(const std::string& path);

}  // namespace trainrun
