// Keyed Feistel permutations with cycle walking, and the two-level epoch order built on them.
#include "data/sample_order.h"

#include <algorithm>
#include <string>

#include "core/error.h"

namespace trainrun {
namespace {

// splitmix64's finalizer: a fixed, well-mixed 64-bit bijection (the same on every compiler).
uint64_t mix64(uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return x;
}

uint64_t epochKey(uint64_t seed, uint64_t epoch, uint64_t which) {
  uint64_t h = mix64(seed + 0x9e3779b97f4a7c15ULL);
  h = mix64(h ^ (epoch + 0x632be59bd9b4e019ULL));
  return mix64(h ^ (which + 0x8cb92ba72f3d8dd7ULL));
}

}  // namespace

KeyedPermutation::KeyedPermutation(uint64_t n, uint64_t key) : n_(n) {
  if (n_ <= 1) return;
  int bits = 64 - __builtin_clzll(n_ - 1);  // 2^bits >= n
  bits += bits % 2;
  half_bits_ = bits / 2;
  half_mask_ = half_bits_ == 64 ? ~0ULL : (uint64_t(1) << half_bits_) - 1;
  for (int r = 0; r < 8; ++r) keys_[r] = mix64(key + uint64_t(r + 1) * 0x9e3779b97f4a7c15ULL);
}

uint64_t KeyedPermutation::round(uint64_t half, int r) const {
  return mix64(half ^ keys_[r]) & half_mask_;
}

uint64_t KeyedPermutation::encrypt(uint64_t x) const {
  uint64_t left = x >> half_bits_, right = x & half_mask_;
  for (int r = 0; r < 8; ++r) {
    const uint64_t next = left ^ round(right, r);
    left = right;
    right = next;
  }
  return (left << half_bits_) | right;
}

uint64_t KeyedPermutation::decrypt(uint64_t x) const {
  uint64_t left = x >> half_bits_, right = x & half_mask_;
  for (int r = 7; r >= 0; --r) {
    const uint64_t prev = right ^ round(left, r);
    right = left;
    left = prev;
  }
  return (left << half_bits_) | right;
}

uint64_t KeyedPermutation::operator()(uint64_t i) const {
  if (n_ <= 1) return 0;
  // Cycle walking: the network permutes [0, 2^bits); following it from i until it lands in
  // [0, n) again restricts it to a bijection of [0, n).
  uint64_t x = encrypt(i);
  while (x >= n_) x = encrypt(x);
  return x;
}

uint64_t KeyedPermutation::inverse(uint64_t j) const {
  if (n_ <= 1) return 0;
  uint64_t x = decrypt(j);
  while (x >= n_) x = decrypt(x);
  return x;
}

SampleOrder::SampleOrder(uint64_t n, const SampleOrderOptions& options) : n_(n), options_(options) {
  if (n_ == 0) throw ConfigError("the token data holds no window to sample");
  const uint64_t g = options_.block_windows, k = options_.group_blocks;
  if (g < 1 || k < 1 || g > (uint64_t(1) << 30) || k > (uint64_t(1) << 20))
    throw ConfigError("the sample order's block_windows (" + std::to_string(g) +
                      ") must be 1..2^30 and group_blocks (" + std::to_string(k) + ") 1..2^20");
  blocks_ = (n_ + g - 1) / g;
  short_deficit_ = blocks_ * g - n_;
}

// The first epoch position of group `group` (groups past the last start at n): every slot
// before it holds block_windows windows, less the deficit if the short block's slot is one.
uint64_t SampleOrder::groupStart(uint64_t group, uint64_t short_slot) const {
  const uint64_t slots = std::min(group * options_.group_blocks, blocks_);
  return slots * options_.block_windows - (short_slot < slots ? short_deficit_ : 0);
}

uint64_t SampleOrder::windowAt(uint64_t epoch, uint64_t position) const {
  const uint64_t g = options_.block_windows, k = options_.group_blocks;
  const KeyedPermutation blocks(blocks_, epochKey(options_.seed, epoch, 0));  // slot -> block
  const uint64_t short_slot = short_deficit_ > 0 ? blocks.inverse(blocks_ - 1) : blocks_;
  // The short slot makes at most one group shorter, so the group is position / (k*g) or next.
  uint64_t group = position / (k * g);
  if (groupStart(group + 1, short_slot) <= position) ++group;
  const uint64_t start = groupStart(group, short_slot);
  const uint64_t size = groupStart(group + 1, short_slot) - start;
  const KeyedPermutation within(size, epochKey(options_.seed, epoch, group + 1));
  uint64_t q = within(position - start);  // in [0, size): which window of the group's blocks
  // Lay the group's slots end to end (the short one, if here, holds g - deficit windows).
  const uint64_t first_slot = group * k;
  if (short_slot >= first_slot && short_slot < first_slot + k) {
    const uint64_t short_begin = (short_slot - first_slot) * g;
    if (q >= short_begin + (g - short_deficit_)) q += short_deficit_;  // past the short slot
  }
  return blocks(first_slot + q / g) * g + q % g;
}

}  // namespace trainrun
