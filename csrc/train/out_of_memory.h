// Out of memory as one line: the allocator's own words, where the run was, what to change.
#pragma once

#include <c10/util/Exception.h>

#include <optional>
#include <string>

namespace trainrun {

// The allocator's account of `e` if it is an out-of-memory error, as one sentence or two:
// CUDA's c10::OutOfMemoryError cut before its notes on the caching allocator ("CUDA out of
// memory. Tried to allocate 2.00 GiB. GPU 0 has a total capacity of 79.11 GiB of which 1.20
// GiB is free."), the CPU allocator's failure as "the host cannot allocate 64.0 GiB";
// nullopt for any other error.
std::optional<std::string> outOfMemoryReason(const c10::Error& e);

// Throws OutOfMemoryError ("out of memory in WHERE: REASON; ADVICE") if `e` is an
// out-of-memory error; returns otherwise. `advice` may be empty.
void throwIfOutOfMemory(const c10::Error& e, const std::string& where, const std::string& advice);

}  // namespace trainrun
