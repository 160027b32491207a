// runParallel: a task over 0..count-1 on a few threads, the first failure rethrown.
#pragma once

#include <cstdint>
#include <functional>

namespace trainrun {

// Runs task(0..count-1) on up to `parallelism` threads (indices are started in order); the
// first exception stops the remaining tasks from starting and is rethrown once every thread
// has finished.
void runParallel(uint64_t count, int parallelism, const std::function<void(uint64_t)>& task);

}  // namespace trainrun
