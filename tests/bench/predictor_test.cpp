// The predictor: its timeline against hand-computed cases, its knob advice, profile.json.
#include "bench/predictor.h"

#include <gtest/gtest.h>

#include "core/error.h"

namespace trainrun::bench {
namespace {

// Four 1 MiB gradients; backward takes 40 ms and produces the last layer's first (every 10 ms).
NodeProfile fourLayers() {
  NodeProfile p;
  p.phases = {1, 10, 40, 0, 5, 56};
  p.grad_bytes = {1 << 20, 1 << 20, 1 << 20, 1 << 20};
  p.grad_ready_ms = {40, 30, 20, 10};
  p.grad_dtype = {0, 0, 0, 0};
  p.world_size = 1;
  p.global_batch_size = 64;
  p.first_bucket_mb = 1;
  p.bucket_cap_mb = 2;
  p.steps = 10;
  return p;
}

LinkModel mibPerSecond(double mib_per_s) {
  LinkModel l;
  l.bytes_per_s = mib_per_s * (1 << 20);
  return l;
}

TEST(Predictor, OneNodeIsTheProfiledStep) {
  const Prediction p = Predictor(fourLayers(), mibPerSecond(100)).predict(1);
  EXPECT_DOUBLE_EQ(p.step_ms, 56);
  EXPECT_DOUBLE_EQ(p.efficiency, 1);
  EXPECT_EQ(p.global_batch, 64);
}

TEST(Predictor, OverlapsBucketsWithBackwardAsTheReducerLaunchesThem) {
  // Buckets: {3} (1 MiB, ready at 10 ms), {2,1} (2 MiB, ready at 30), {0} (1 MiB, at 40).
  // Two nodes: a ring sends each bucket's bytes once: 1 MiB takes 10 ms at 100 MiB/s.
  const Predictor predictor(fourLayers(), mibPerSecond(100));
  const Prediction p = predictor.predict(2);
  EXPECT_EQ(p.buckets, 3);
  EXPECT_NEAR(p.comm_ms, 40, 1e-9);
  // {3}: 10..20; {2,1}: 30..50; {0}: 50..60 -> 20 ms after backward's 40.
  EXPECT_NEAR(p.exposed_ms, 20, 1e-9);
  EXPECT_NEAR(p.step_ms, 76, 1e-9);
  EXPECT_EQ(p.global_batch, 128);
  EXPECT_NEAR(p.efficiency, 56.0 / 76.0, 1e-9);
  // Four nodes: 2(n-1)/n = 1.5 times the bytes.
  const Prediction four = predictor.predict(4);
  EXPECT_NEAR(four.comm_ms, 60, 1e-9);
  // {3}: 10..25; {2,1}: 30..60; {0}: 60..75 -> 35 exposed.
  EXPECT_NEAR(four.exposed_ms, 35, 1e-9);
}

TEST(Predictor, LatencyCountsPerRingMessage) {
  LinkModel l = mibPerSecond(1e9);
  l.latency_s = 1e-3;
  const Prediction p = Predictor(fourLayers(), l).predict(4);
  EXPECT_NEAR(p.comm_ms, 3 * 6 * 1.0, 1e-3);  // 3 buckets x 2(n-1) messages x 1 ms
}

TEST(Predictor, CompressionHalvesTheWireAndAccumulationAmortizesIt) {
  const Predictor predictor(fourLayers(), mibPerSecond(10));  // slow: 100 ms per MiB
  Knobs k = predictor.profiledKnobs();
  const Prediction base = predictor.predict(2, k);
  k.wire_bytes = 2;
  EXPECT_NEAR(predictor.predict(2, k).comm_ms, base.comm_ms / 2, 1e-9);
  k = predictor.profiledKnobs();
  k.grad_accum_steps = 2;
  const Prediction accum = predictor.predict(2, k);
  EXPECT_EQ(accum.global_batch, 256);
  EXPECT_GT(accum.samples_per_sec, base.samples_per_sec);
}

TEST(Predictor, SuggestsTheKnobWithTheBestThroughputOrNone) {
  const Predictor slow(fourLayers(), mibPerSecond(10));
  const Suggestion s = slow.suggest(8);
  EXPECT_FALSE(s.setting.empty());
  EXPECT_GT(s.with.samples_per_sec, 1.03 * s.without.samples_per_sec);
  EXPECT_NE(s.why.find("throughput"), std::string::npos) << s.why;
  // A link so fast that nothing is exposed: no knob helps.
  const Suggestion none = Predictor(fourLayers(), mibPerSecond(1e7)).suggest(8);
  EXPECT_TRUE(none.setting.empty()) << none.setting;
  EXPECT_NE(none.why.find("no knob"), std::string::npos) << none.why;
}

TEST(Predictor, RefusesAnEmptyProfile) {
  NodeProfile p = fourLayers();
  p.grad_bytes.clear();
  EXPECT_THROW(Predictor(p, mibPerSecond(1)), ConfigError);
}

TEST(NodeProfileFile, RoundTripsAndNamesABadFile) {
  const std::string path = ::testing::TempDir() + "profile.json";
  NodeProfile p = fourLayers();
  p.device = "cpu";
  writeNodeProfile(p, path);
  const NodeProfile q = readNodeProfile(path);
  EXPECT_EQ(q.grad_bytes, p.grad_bytes);
  EXPECT_EQ(q.grad_ready_ms, p.grad_ready_ms);
  EXPECT_DOUBLE_EQ(q.phases.step_ms, 56);
  EXPECT_DOUBLE_EQ(q.bucket_cap_mb, 2);
  try {
    readNodeProfile(::testing::TempDir() + "nope.json");
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("nope.json"), std::string::npos);
  }
}

TEST(StepProfileMedians, SkipTheWarmUpSteps) {
  StepProfile profile(2);
  for (double ms : {100.0, 90.0, 3.0, 5.0, 4.0}) profile.add({0, 0, 0, 0, 0, ms}, {ms});
  EXPECT_EQ(profile.steps(), 3);
  EXPECT_DOUBLE_EQ(profile.medianPhases().step_ms, 4);
  EXPECT_DOUBLE_EQ(profile.medianGradReady()[0], 4);
}

}  // namespace
}  // namespace trainrun::bench
