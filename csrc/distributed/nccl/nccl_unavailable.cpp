// Stand-in factory for builds without CUDA/NCCL: the API exists, choosing it is an error.
#include "core/error.h"
#include "distributed/init.h"
#include "distributed/nccl/nccl_communicator.h"

namespace trainrun {

std::unique_ptr<NcclCommunicator> makeNcclCommunicator(Store&, const std::string&, int, int,
                                                       NcclOptions) {
  throw CommError("the nccl backend is not in this build (built without CUDA/NCCL); use gloo");
}

bool ncclAvailable() { return false; }

std::string ncclVersion() { return ""; }

}  // namespace trainrun
