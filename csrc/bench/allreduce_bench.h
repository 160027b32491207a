// The all-reduce benchmark a rank runs: nccl-tests' method over trainrun's communicators.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "distributed/communicator.h"

namespace trainrun::bench {

// One size of one type on one backend: out-of-place and in-place, as nccl-tests reports.
struct AllreduceRow {
  std::string backend;
  int64_t bytes = 0;
  int64_t count = 0;  // elements
  std::string type;   // float, half, bfloat16
  double oop_us = 0, oop_algbw = 0, oop_busbw = 0;
  int64_t oop_wrong = -1;  // -1: not checked
  double ip_us = 0, ip_algbw = 0, ip_busbw = 0;
  int64_t ip_wrong = -1;
};

struct AllreduceRun {
  int64_t bytes = 0;
  std::string type;
  int warmup_iters = 5;
  int iters = 20;
  bool check = true;
};

// Times `run` on `comm` (every rank calls it): the loop's wall time / iters, the slowest rank's;
// algbw = bytes / time, busbw = algbw * 2 (n - 1) / n (GB/s, 1e9 B). Out-of-place copies the
// input into the output buffer and all-reduces that (trainrun's collectives work in place),
// so its time includes the copy. The check fills rank r's element i with (i + r) % 5 + 1 and
// counts elements of the sum that differ from the exact one, over all ranks.
AllreduceRow timeAllreduce(Communicator& comm, const AllreduceRun& run);

// "float" -> torch::kFloat32, "half" -> kFloat16, "bfloat16" -> kBFloat16.
int64_t elementBytes(const std::string& type);

// nccl-tests' fixed-width table: two header lines, a units line, then one line per row.
std::vector<std::string> formatTable(const std::vector<AllreduceRow>& rows);

// The JSON document --json writes.
std::string formatJson(const std::vector<AllreduceRow>& rows, int world_size, int nodes);

}  // namespace trainrun::bench
