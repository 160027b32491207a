// The scaling predictor: the Reducer's buckets replayed on a profiled backward and a ring model.
#include "bench/predictor.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "core/bucketing.h"
#include "core/error.h"

namespace trainrun::bench {
namespace {

int64_t mib(double mb) { return static_cast<int64_t>(mb * 1024 * 1024); }

std::string number(double v) {
  char text[32];
  std::snprintf(text, sizeof(text), "%g", v);
  return text;
}

}  // namespace

Predictor::Predictor(NodeProfile profile, LinkModel link)
    : profile_(std::move(profile)), link_(std::move(link)) {
  if (profile_.grad_bytes.empty() || profile_.phases.step_ms <= 0)
    throw ConfigError("the profile has no timed steps: profile with more steps (--steps 30)");
  if (link_.bytes_per_s <= 0) throw ConfigError("the link model has no bandwidth");
}

Knobs Predictor::profiledKnobs() const {
  Knobs k;
  k.first_bucket_mb = profile_.first_bucket_mb;
  k.bucket_cap_mb = profile_.bucket_cap_mb;
  k.wire_bytes = profile_.wire_bytes;
  k.grad_accum_steps = profile_.grad_accum_steps;
  return k;
}

Prediction Predictor::model(int64_t nodes, const Knobs& knobs) const {
  const NodeProfile& p = profile_;
  const StepPhases& s = p.phases;
  const double accum_prof = double(p.grad_accum_steps);
  // One micro-step's data, forward and backward; what the phases do not cover (zeroing, the
  // learning rate) stays as measured.
  const double data = s.data_ms / accum_prof, forward = s.forward_ms / accum_prof;
  const double backward = s.backward_ms / accum_prof;
  const double other = std::max(
      0.0, s.step_ms - s.data_ms - s.forward_ms - s.backward_ms - s.comm_ms - s.optimizer_ms);
  const double accum = double(knobs.grad_accum_steps);

  Prediction out;
  out.nodes = nodes;
  out.ranks = nodes * p.world_size;
  const int64_t per_rank_micro = p.global_batch_size / p.world_size / p.grad_accum_steps;
  out.global_batch = per_rank_micro * knobs.grad_accum_steps * out.ranks;
  out.compute_ms = accum * (data + forward + backward);

  // The Reducer's buckets, launched in order as their last gradient is ready, and sent one
  // after another: each starts when it is ready and the link is free.
  std::vector<GradSize> sizes;
  for (size_t i = 0; i < p.grad_bytes.size(); ++i)
    sizes.push_back({p.grad_bytes[i], p.grad_dtype[i]});
  const auto buckets =
      assignBucketsBySize(sizes, mib(knobs.first_bucket_mb), mib(knobs.bucket_cap_mb));
  out.buckets = static_cast<int64_t>(buckets.size());
  double launched = 0, link_free = 0;
  for (const std::vector<size_t>& bucket : buckets) {
    double ready = 0;
    int64_t bytes = 0;
    for (size_t i : bucket) {
      ready = std::max(ready, p.grad_ready_ms[i]);
      bytes += p.grad_bytes[i];
    }
    launched = std::max(launched, ready);
    const double wire = double(bytes) * double(knobs.wire_bytes) / 4.0;
    const double ms = ringAllreduceSeconds(link_, nodes, static_cast<int64_t>(wire)) * 1e3;
    out.comm_ms += ms;
    link_free = std::max(link_free, launched) + ms;
  }
  out.exposed_ms = std::max(0.0, link_free - backward);
  // The profiled node's own exposed wait (its ranks' all-reduce within the node) stays.
  out.step_ms = out.compute_ms + out.exposed_ms + s.comm_ms + s.optimizer_ms + other;
  out.samples_per_sec = double(out.global_batch) / (out.step_ms / 1e3);
  return out;
}

Prediction Predictor::predict(int64_t nodes, const Knobs& knobs) const {
  if (nodes < 1) throw ConfigError("--nodes: node counts must be 1 or more");
  Prediction out = model(nodes, knobs);
  const Prediction one = model(1, knobs);
  out.efficiency = out.samples_per_sec / (double(nodes) * one.samples_per_sec);
  return out;
}

Suggestion Predictor::suggest(int64_t nodes) const {
  const Knobs base = profiledKnobs();
  Suggestion best;
  best.without = predict(nodes, base);
  best.with = best.without;
  // Nothing to win when the communication hides behind backward; accumulation would then only
  // amortize the optimizer, which is not a scaling fix and changes the batch.
  const bool exposed = best.without.exposed_ms >= 0.03 * best.without.step_ms;
  auto consider = [&](const Knobs& k, const std::string& setting) {
    if (!exposed) return;
    Prediction p = predict(nodes, k);
    if (p.samples_per_sec > best.with.samples_per_sec) {
      best.with = p;
      best.setting = setting;
    }
  };
  for (double f : {0.25, 0.5, 2.0, 4.0}) {
    Knobs k = base;
    k.bucket_cap_mb = base.bucket_cap_mb * f;
    consider(k, "dist.bucket_cap_mb=" + number(k.bucket_cap_mb));
  }
  for (double f : {0.25, 0.5}) {  // a smaller first bucket starts communication sooner
    Knobs k = base;
    k.first_bucket_mb = base.first_bucket_mb * f;
    consider(k, "dist.first_bucket_mb=" + number(k.first_bucket_mb));
  }
  if (base.wire_bytes == 4) {
    Knobs k = base;
    k.wire_bytes = 2;
    consider(k, "dist.compression=fp16");
  }
  for (int64_t a : {2, 4}) {
    if (a <= base.grad_accum_steps) continue;
    Knobs k = base;
    k.grad_accum_steps = a;
    consider(k, "train.grad_accum_steps=" + std::to_string(a) + " (global batch x" +
                    number(double(a) / double(base.grad_accum_steps)) + ")");
  }
  const double gain = best.with.samples_per_sec / best.without.samples_per_sec - 1;
  char text[200];
  if (best.setting.empty() || gain < 0.03) {
    std::snprintf(text, sizeof(text),
                  "no knob gains 3%%: %.1f ms of %.1f ms of communication is exposed",
                  best.without.exposed_ms, best.without.comm_ms);
    best.setting.clear();
    best.with = best.without;
  } else {
    std::snprintf(text, sizeof(text),
                  "%+.0f%% throughput (step %.1f -> %.1f ms, efficiency %.2f -> %.2f)", gain * 100,
                  best.without.step_ms, best.with.step_ms, best.without.efficiency,
                  best.with.efficiency);
  }
  best.why = text;
  return best;
}

}  // namespace trainrun::bench
