// World-of-one backend of Communicator: the collectives of a rank that runs alone.
#pragma once

#include <torch/torch.h>

#include <chrono>
#include <memory>

#include "distributed/communicator.h"

namespace trainrun {

// The communicator of a job of one rank (c10d's fake process group): rank 0 of size 1, with no
// transport and no store. Every collective is what it is for one rank: allreduce and broadcast
// leave the tensors as they are, allgather copies the input into its one output, barrier returns.
// Each completes when issued, is numbered in the flight recorder as on every backend, and
// fails (CommError) once abort() was called. Tensors may live on `device` (where the rank
// computes, which device() reports) or anywhere else: nothing moves. backendName() is "none":
// the run line of a rank alone has always said backend=none.
std::unique_ptr<Communicator> makeSoloCommunicator(torch::Device device,
                                                   std::chrono::milliseconds timeout);

}  // namespace trainrun
