// TokenBatchReader: one window read per row, split into inputs and targets.
#include "data/token_batch.h"

#include <cstring>

#include "core/parallel.h"

namespace trainrun {

template <typename Out>
void TokenBatchReader::readAs(uint64_t begin, uint64_t count, Out* inputs, Out* targets) const {
  const uint64_t t = blockSize();
  if (source_.readParallelism() > 1) prefetch(begin, count);
  std::vector<Out> window(t + 1);  // (T + 1,): one read per window, then the two shifted copies
  for (uint64_t i = 0; i < count; ++i) {
    const WindowRef w = stream_.windowAt(begin + i);
    source_.open(manifest_.shards[w.shard])->read(w.token_offset, t + 1, window.data());
    std::memcpy(inputs + i * t, window.data(), t * sizeof(Out));
    std::memcpy(targets + i * t, window.data() + 1, t * sizeof(Out));
  }
}

void TokenBatchReader::read(uint64_t begin, uint64_t count, int32_t* inputs,
                            int32_t* targets) const {
  readAs(begin, count, inputs, targets);
}

void TokenBatchReader::read(uint64_t begin, uint64_t count, int64_t* inputs,
                            int64_t* targets) const {
  readAs(begin, count, inputs, targets);
}

std::vector<uint64_t> TokenBatchReader::windowIds(uint64_t begin, uint64_t count) const {
  std::vector<uint64_t> ids(count);
  for (uint64_t i = 0; i < count; ++i) ids[i] = stream_.windowId(begin + i);
  return ids;
}

void TokenBatchReader::prefetch(uint64_t begin, uint64_t count) const {
  runParallel(count, source_.readParallelism(), [&](uint64_t i) {
    const WindowRef w = stream_.windowAt(begin + i);
    source_.open(manifest_.shards[w.shard])->prefetch(w.token_offset, blockSize() + 1);
  });
}

}  // namespace trainrun
