// Bucket flatten/unflatten: many tensors <-> one flat buffer in one launch per 80 tensors.
#include <string>

#include "core/error.h"
#include "kernels/cuda_kernels.h"
#include "kernels/device_io.cuh"
#include "kernels/launch.h"

namespace trainrun::kernels {
namespace {

constexpr int64_t kTileElements = kBlockThreads * 16;
// Passed by value as a kernel parameter (4 KiB limit): 4 arrays of 8 bytes per tensor.
constexpr int kMaxTensors = 80;

struct CopyTable {
  void* tensor[kMaxTensors];
  int64_t numel[kMaxTensors];
  int64_t offset[kMaxTensors];
  int64_t tile_end[kMaxTensors];
  int count;
};

// Word is an unsigned type of the element's size: copies move bits, never convert.
template <typename Word, bool kToFlat>
__global__ void copyKernel(CopyTable table, Word* flat) {
  const int64_t total_tiles = table.tile_end[table.count - 1];
  for (int64_t tile = blockIdx.x; tile < total_tiles; tile += gridDim.x) {
    const int t = tensorOfTile(table.tile_end, table.count, tile);
    const int64_t first_tile = t == 0 ? 0 : table.tile_end[t - 1];
    const int64_t begin = (tile - first_tile) * kTileElements;
    const int64_t end = min(begin + kTileElements, table.numel[t]);
    Word* tensor = static_cast<Word*>(table.tensor[t]);
    Word* slot = flat + table.offset[t];
    for (int64_t i = begin + threadIdx.x; i < end; i += blockDim.x) {
      if (kToFlat) {
        slot[i] = tensor[i];
      } else {
        tensor[i] = slot[i];
      }
    }
  }
}

template <typename Word, bool kToFlat>
void launchAll(const FlatSegment* segments, int count, void* flat, cudaStream_t stream) {
  const auto* kernel = reinterpret_cast<const void*>(&copyKernel<Word, kToFlat>);
  CopyTable table{};
  int64_t tiles = 0;
  auto flush = [&] {
    const int grid = gridSizeFor(kernel, tiles);
    copyKernel<Word, kToFlat><<<grid, kBlockThreads, 0, stream>>>(table, static_cast<Word*>(flat));
    checkCuda(cudaGetLastError(), kToFlat ? "flatten launch" : "unflatten launch");
    table.count = 0;
    tiles = 0;
  };
  for (int i = 0; i < count; ++i) {
    if (segments[i].numel <= 0) continue;
    table.tensor[table.count] = segments[i].tensor;
    table.numel[table.count] = segments[i].numel;
    table.offset[table.count] = segments[i].offset;
    tiles += (segments[i].numel + kTileElements - 1) / kTileElements;
    table.tile_end[table.count] = tiles;
    if (++table.count == kMaxTensors) flush();
  }
  if (table.count > 0) flush();
}

template <bool kToFlat>
void dispatch(const FlatSegment* segments, int count, void* flat, size_t elem_size,
              cudaStream_t stream) {
  switch (elem_size) {
    case 1:
      return launchAll<uint8_t, kToFlat>(segments, count, flat, stream);
    case 2:
      return launchAll<uint16_t, kToFlat>(segments, count, flat, stream);
    case 4:
      return launchAll<uint32_t, kToFlat>(segments, count, flat, stream);
    case 8:
      return launchAll<uint64_t, kToFlat>(segments, count, flat, stream);
  }
  throw Error("flatten/unflatten: unsupported element size " + std::to_string(elem_size));
}

}  // namespace

void launchFlatten(const FlatSegment* segments, int count, void* flat, size_t elem_size,
                   cudaStream_t stream) {
  dispatch<true>(segments, count, flat, elem_size, stream);
}

void launchUnflatten(const FlatSegment* segments, int count, const void* flat, size_t elem_size,
                     cudaStream_t stream) {
  // The kernel only reads `flat` when copying out of it.
  dispatch<false>(segments, count, const_cast<void*>(flat), elem_size, stream);
}

}  // namespace trainrun::kernels
