// NCCL backend checks that need no GPU: device probing and the no-device / no-NCCL errors.
#include "distributed/nccl/nccl_communicator.h"

#include <gtest/gtest.h>

#include "core/cuda_devices.h"
#include "core/error.h"
#include "distributed/init.h"
#include "store/store.h"

namespace trainrun {
namespace {

TEST(NcclCommunicatorNoDevice, FactoryFailsWithOneLineCommErrorWithoutDevice) {
  if (cudaDevicesVisible()) GTEST_SKIP() << "a CUDA device is visible; covered by the gpu tests";
  auto store = Store::host(0, std::chrono::seconds(30));
  NcclOptions options;
  options.timeout = std::chrono::seconds(2);
  try {
    makeNcclCommunicator(*store, "nccl_test/", 0, 1, options);
    FAIL() << "expected CommError";
  } catch (const CommError& e) {
    const std::string msg = e.what();
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
    EXPECT_NE(msg.find(ncclAvailable() ? "no CUDA device" : "not in this build"), std::string::npos)
        << msg;
  }
}

TEST(NcclCommunicatorNoDevice, DeviceProbeIsStable) {
  // Probing twice must give the same answer and must not leave a sticky CUDA error behind.
  EXPECT_EQ(cudaDevicesVisible(), cudaDevicesVisible());
}

}  // namespace
}  // namespace trainrun
