// Out of memory: recognize the allocators' errors and say them in one line.
#include "train/out_of_memory.h"

#include <cstdio>
#include <cstdlib>

#include "core/error.h"
#include "core/strings.h"

namespace trainrun {

std::optional<std::string> outOfMemoryReason(const c10::Error& e) {
  const std::string text = oneLine(e.what_without_backtrace());
  if (dynamic_cast<const c10::OutOfMemoryError*>(&e)) {
    // What comes after is about PyTorch's caching allocator, in several more sentences.
    for (const char* cut : {" Including non-PyTorch memory", " Of the allocated memory",
                            " If reserved but unallocated"})
      if (const size_t at = text.find(cut); at != std::string::npos) return text.substr(0, at);
    return text;
  }
  // The CPU allocator raises a plain c10::Error: "... DefaultCPUAllocator: can't allocate
  // memory: you tried to allocate 68719476736 bytes. Error code 12 (Cannot allocate memory)".
  if (text.find("DefaultCPUAllocator") == std::string::npos ||
      text.find("allocate memory") == std::string::npos)
    return std::nullopt;
  const std::string marker = "you tried to allocate ";
  const size_t at = text.find(marker);
  if (at == std::string::npos) return std::string("the host cannot allocate memory");
  const double bytes = std::strtod(text.c_str() + at + marker.size(), nullptr);
  char gib[32];
  std::snprintf(gib, sizeof gib, "%.1f GiB", bytes / double(1LL << 30));
  return std::string("the host cannot allocate ") + gib;
}

void throwIfOutOfMemory(const c10::Error& e, const std::string& where, const std::string& advice) {
  const std::optional<std::string> reason = outOfMemoryReason(e);
  if (!reason) return;
  throw OutOfMemoryError("out of memory in " + where + ": " + *reason +
                         (advice.empty() ? "" : "; " + advice));
}

}  // namespace trainrun
