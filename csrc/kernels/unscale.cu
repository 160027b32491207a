// Fused multi-tensor unscale + non-finite check: one read and one write per gradient element.
#include <cmath>

#include "core/cuda.h"
#include "kernels/cuda_kernels.h"
#include "kernels/device_io.cuh"
#include "kernels/launch.h"

namespace trainrun::kernels {
namespace {

// Elements one block handles per tile; tiles are the unit of work spread over the grid.
constexpr int64_t kTileElements = kBlockThreads * 16;
// Tensors per launch: the table travels by value as a kernel parameter (4 KiB limit), which
// saves a host-to-device copy of the chunk list every step.
constexpr int kMaxTensors = 96;

struct UnscaleTable {
  void* data[kMaxTensors];
  int64_t numel[kMaxTensors];
  int64_t tile_end[kMaxTensors];
  int count;
};

template <typename Io>
__global__ void unscaleKernel(UnscaleTable table, float inv_scale, float* found_inf) {
  const int64_t total_tiles = table.tile_end[table.count - 1];
  bool bad = false;
  for (int64_t tile = blockIdx.x; tile < total_tiles; tile += gridDim.x) {
    const int t = tensorOfTile(table.tile_end, table.count, tile);
    const int64_t first_tile = t == 0 ? 0 : table.tile_end[t - 1];
    const int64_t begin = (tile - first_tile) * kTileElements;
    const int64_t end = min(begin + kTileElements, table.numel[t]);
    auto* p = static_cast<typename Io::Storage*>(table.data[t]);
    for (int64_t i = begin + threadIdx.x; i < end; i += blockDim.x) {
      const float v = Io::load(p[i]);
      bad |= !isfinite(v);
      p[i] = Io::store(v * inv_scale);
    }
  }
  // One store per block at most; every writer stores the same value, so no atomics needed.
  if (__syncthreads_or(bad) && threadIdx.x == 0) *found_inf = 1.0f;
}

template <typename Io>
void launchTable(const UnscaleTable& table, float inv_scale, float* found_inf,
                 cudaStream_t stream) {
  const auto* kernel = reinterpret_cast<const void*>(&unscaleKernel<Io>);
  const int grid = gridSizeFor(kernel, table.tile_end[table.count - 1]);
  unscaleKernel<Io><<<grid, kBlockThreads, 0, stream>>>(table, inv_scale, found_inf);
  checkCuda(cudaGetLastError(), "unscaleKernel launch");
}

template <typename Io>
void launchAll(const TensorChunk* chunks, int count, float inv_scale, float* found_inf,
               cudaStream_t stream) {
  UnscaleTable table{};
  int64_t tiles = 0;
  for (int i = 0; i < count; ++i) {
    if (chunks[i].numel <= 0) continue;
    table.data[table.count] = chunks[i].data;
    table.numel[table.count] = chunks[i].numel;
    tiles += (chunks[i].numel + kTileElements - 1) / kTileElements;
    table.tile_end[table.count] = tiles;
    if (++table.count == kMaxTensors) {
      launchTable<Io>(table, inv_scale, found_inf, stream);
      table.count = 0;
      tiles = 0;
    }
  }
  if (table.count > 0) launchTable<Io>(table, inv_scale, found_inf, stream);
}

}  // namespace

void launchUnscaleAndCheck(const TensorChunk* chunks, int count, Dtype dtype, float inv_scale,
                           float* found_inf, cudaStream_t stream) {
  switch (dtype) {
    case Dtype::kFloat32:
      return launchAll<DevF32>(chunks, count, inv_scale, found_inf, stream);
    case Dtype::kFloat16:
      return launchAll<DevF16>(chunks, count, inv_scale, found_inf, stream);
    case Dtype::kBFloat16:
      return launchAll<DevBf16>(chunks, count, inv_scale, found_inf, stream);
  }
}

}  // namespace trainrun::kernels
