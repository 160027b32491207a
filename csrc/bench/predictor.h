// Step time at N nodes from one node's profile and a link model: ring all-reduce per bucket,
// overlapped with backward as the Reducer launches it; and the knob that would help most.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "bench/link_model.h"
#include "metrics/step_profile.h"

namespace trainrun::bench {

// The settings a prediction varies (dist.* and train.grad_accum_steps).
struct Knobs {
  double first_bucket_mb = 1;
  double bucket_cap_mb = 25;
  int64_t wire_bytes = 4;  // per fp32 gradient element: 4 none, 2 fp16/bf16
  int64_t grad_accum_steps = 1;
};

struct Prediction {
  int64_t nodes = 1;
  int64_t ranks = 1;
  int64_t global_batch = 0;  // samples per optimizer step
  int64_t buckets = 0;
  double step_ms = 0;
  double compute_ms = 0;  // data, forward, backward of every micro-step
  double comm_ms = 0;     // the all-reduces' link time, overlapped or not
  double exposed_ms = 0;  // the part after backward ended
  double samples_per_sec = 0;
  double efficiency = 1;  // samples_per_sec over nodes x the one-node rate with these knobs
};

// A knob's change and its predicted effect at some node count.
struct Suggestion {
  std::string setting;  // "dist.bucket_cap_mb=6.25", or empty when nothing helps
  std::string why;      // one line for the report
  Prediction with;
  Prediction without;
};

class Predictor {
 public:
  // `profile`: one node's run with `nproc_per_node` ranks (train.profile: true); weak scaling:
  // every rank keeps the profiled per-rank batch.
  Predictor(NodeProfile profile, LinkModel link);
  Knobs profiledKnobs() const;
  Prediction predict(int64_t nodes, const Knobs& knobs) const;
  Prediction predict(int64_t nodes) const { return predict(nodes, profiledKnobs()); }
  // Tries bucket sizes (x1/4 .. x4), a smaller first bucket (x1/4, x1/2), fp16 compression and
  // accumulation (2, 4 micro-steps) and names the one with the highest predicted throughput, if it
  // gains 3% or more.
  Suggestion suggest(int64_t nodes) const;
  const NodeProfile& profile() const { return profile_; }
  const LinkModel& link() const { return link_; }

 private:
  Prediction model(int64_t nodes, const Knobs& knobs) const;
  NodeProfile profile_;
  LinkModel link_;
};

}  // namespace trainrun::bench
