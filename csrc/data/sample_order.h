// The epoch order of windows: a keyed bijection per epoch, computed per position in O(1).
#pragma once

#include <cstdint>

namespace trainrun {

// A pseudo-random bijection of [0, n) chosen by `key`: an 8-round balanced Feistel network over
// the smallest even number of bits covering n, with cycle walking (a value >= n is encrypted
// again until it lands in [0, n); the domain is < 4n, so under 4 rounds of walking on average).
// No table: O(1) memory, and any position costs the same.
class KeyedPermutation {
 public:
  KeyedPermutation(uint64_t n, uint64_t key);

  uint64_t size() const { return n_; }
  uint64_t operator()(uint64_t i) const;  // i in [0, n)
  uint64_t inverse(uint64_t j) const;     // inverse((*this)(i)) == i

 private:
  uint64_t encrypt(uint64_t x) const;
  uint64_t decrypt(uint64_t x) const;
  uint64_t round(uint64_t half, int r) const;

  uint64_t n_;
  int half_bits_ = 0;
  uint64_t half_mask_ = 0;
  uint64_t keys_[8] = {};
};

// The order's parameters, saved with a checkpoint (with kSampleOrderVersion): the same values,
// seed and windows give the same stream.
struct SampleOrderOptions {
  uint64_t seed = 0;
  // Locality for a shard cache: windows are cut into blocks of `block_windows` consecutive
  // windows (consecutive bytes of a shard); an epoch visits the blocks in a keyed random order,
  // `group_blocks` blocks at a time, and shuffles the windows of those blocks among themselves.
  // A stretch of group_blocks * block_windows samples therefore reads group_blocks blocks, so a
  // cache of a few groups serves a whole epoch with each block fetched once. 1 and 1 give a
  // full random permutation of the windows. With GPT-2's 1024-token windows the defaults make
  // ~1 MiB blocks (uint16) and groups of 16 blocks: every micro-batch draws from 16 places
  // spread over the whole corpus.
  uint64_t block_windows = 512;
  uint64_t group_blocks = 16;
};

// Bumped whenever the order a (seed, epoch, window count, options) gives changes: a checkpoint
// with another version cannot continue its sample stream exactly.
inline constexpr int kSampleOrderVersion = 1;

// The epoch orders of n windows: epoch e's order is a bijection of [0, n), a pure function of
// (options, n, e). Two levels: a keyed permutation of the blocks, then one of the windows within
// each group of consecutive permuted blocks (the short last block, when n is not a multiple of
// block_windows, sits wherever its permuted slot puts it). O(1) time and memory per position.
class SampleOrder {
 public:
  // Throws ConfigError for n == 0 or options of 0.
  SampleOrder(uint64_t n, const SampleOrderOptions& options);

  uint64_t size() const { return n_; }
  // The window at `position` in [0, n) of epoch `epoch`'s order.
  uint64_t windowAt(uint64_t epoch, uint64_t position) const;
  // The stream: epoch 0's order, then epoch 1's, ...: window at stream position p.
  uint64_t streamAt(uint64_t position) const { return windowAt(position / n_, position % n_); }

 private:
  uint64_t groupStart(uint64_t group, uint64_t short_slot) const;

  uint64_t n_;
  SampleOrderOptions options_;
  uint64_t blocks_;         // ceil(n / block_windows)
  uint64_t short_deficit_;  // block_windows - the last block's windows (0: all blocks full)
};

}  // namespace trainrun
