// Grid sizing from the device's SM count and the kernel's occupancy, both read at run time.
#include <algorithm>
#include <map>
#include <mutex>
#include <string>
#include <utility>

#include "core/cuda.h"
#include "kernels/launch.h"

namespace trainrun::kernels {

int gridSizeFor(const void* kernel, int64_t work_items) {
  if (work_items <= 0) return 0;
  int device = 0;
  checkCuda(cudaGetDevice(&device), "cudaGetDevice");
  // Occupancy queries cost microseconds; launches happen every step, so remember them.
  static std::mutex mu;
  static std::map<std::pair<int, const void*>, int> resident_blocks;
  int resident = 0;
  {
    std::lock_guard<std::mutex> lock(mu);
    auto it = resident_blocks.find({device, kernel});
    if (it != resident_blocks.end()) resident = it->second;
  }
  if (resident == 0) {
    int sms = 0;
    int per_sm = 0;
    checkCuda(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device),
              "cudaDeviceGetAttribute(multiProcessorCount)");
    checkCuda(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, kernel, kBlockThreads, 0),
              "cudaOccupancyMaxActiveBlocksPerMultiprocessor");
    resident = std::max(1, sms * std::max(1, per_sm));
    std::lock_guard<std::mutex> lock(mu);
    resident_blocks[{device, kernel}] = resident;
  }
  return static_cast<int>(std::min<int64_t>(resident, work_items));
}

}  // namespace trainrun::kernels
