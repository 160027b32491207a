// agreeFoundInf: one 1-element MAX all-reduce.
#include "amp/found_inf.h"

#include <cstring>

namespace trainrun {

bool agreeFoundInf(Communicator* comm, bool local_found_inf, std::chrono::milliseconds timeout) {
  if (comm == nullptr || comm->size() == 1) return local_found_inf;
  const bool on_gpu = std::strcmp(comm->backendName(), "nccl") == 0;
  auto options = torch::TensorOptions().dtype(torch::kFloat);
  if (on_gpu) options = options.device(torch::kCUDA);
  std::vector<torch::Tensor> flag{
      torch::full({1}, local_found_inf ? 1.0f : 0.0f, options)};  // (1,)
  comm->allreduce(flag, ReduceOp::kMax)->wait(timeout);
  // On NCCL, wait() orders the current stream after the collective; item() then syncs it.
  return flag[0].item<float>() > 0.0f;
}

}  // namespace trainrun
