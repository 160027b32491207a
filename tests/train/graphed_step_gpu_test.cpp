// GraphedStep on a CUDA device: a GPT's steps captured as a CUDA graph train as the eager step
// does, bf16 and fp16 with a skipped step after the capture, with and without clipping; out of
// memory during a capture is the allocator's error, and the device works on (label gpu; skips
// without a device).
#include <c10/util/Exception.h>
#include <gtest/gtest.h>

#include "graphed_step_rig.h"
#include "models/gpt.h"
#include "train/captured_call.h"

namespace trainrun {
namespace {

std::vector<std::vector<MicroBatch>> tokens(int steps, int accum, int64_t vocab) {
  torch::manual_seed(11);
  std::vector<std::vector<MicroBatch>> out(static_cast<size_t>(steps));
  for (auto& step : out)
    for (int m = 0; m < accum; ++m)
      step.emplace_back(torch::randint(0, vocab, {4, 64}, torch::kLong).to(torch::kCUDA),
                        torch::randint(0, vocab, {4, 64}, torch::kLong).to(torch::kCUDA));
  return out;
}

std::shared_ptr<Model> gpt() {
  torch::manual_seed(2);
  return std::make_shared<Gpt>(GptSizes{2, 4, 128, 64, 1000}, /*fused_norm=*/true);
}

void expectSameTraining(const testing::RigResult& got, const testing::RigResult& want) {
  ASSERT_EQ(got.params.size(), want.params.size());
  for (size_t i = 0; i < want.params.size(); ++i) {
    const double scale = want.params[i].abs().max().item<double>() + 1e-12;
    EXPECT_LE((got.params[i] - want.params[i]).abs().max().item<double>() / scale, 1e-3)
        << "parameter " << i;
  }
  EXPECT_EQ(got.scaler.scale, want.scaler.scale);
  EXPECT_EQ(got.scaler.skipped_steps, want.scaler.skipped_steps);
  EXPECT_EQ(got.adamw_steps, want.adamw_steps);
}

TEST(GraphedStepGpu, CapturedGptStepsTrainAsTheEagerStepUnderBf16) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device visible";
  testing::RigOptions o;
  o.device = torch::kCUDA;
  o.precision = Precision::kBf16;
  const auto data = tokens(o.steps, 2, 1000);
  const testing::RigResult eager = testing::trainRig(false, gpt, data, o);
  const testing::RigResult graphed = testing::trainRig(true, gpt, data, o);
  EXPECT_TRUE(graphed.captured);
  EXPECT_NEAR(graphed.window_loss, eager.window_loss, 1e-3 * std::abs(eager.window_loss));
  expectSameTraining(graphed, eager);
}

// fp16 with loss scaling, 7 steps, step 4 overflowing: replayed, not eager, so the skip is
// the graph's.
testing::RigOptions fp16WithASkip() {
  testing::RigOptions o;
  o.device = torch::kCUDA;
  o.precision = Precision::kFp16;
  o.scaled = true;
  o.steps = 7;
  o.poisoned_step = 4;
  return o;
}

TEST(GraphedStepGpu, CapturedFp16StepSkipsAnOverflowOnTheDevice) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device visible";
  const testing::RigOptions o = fp16WithASkip();
  const auto data = tokens(o.steps, 1, 1000);
  const testing::RigResult eager = testing::trainRig(false, gpt, data, o);
  const testing::RigResult graphed = testing::trainRig(true, gpt, data, o);
  EXPECT_TRUE(graphed.captured);
  EXPECT_EQ(graphed.scaler.skipped_steps, 1);
  expectSameTraining(graphed, eager);
}

TEST(GraphedStepGpu, CapturedStepClipsTheNormAsTheEagerStep) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device visible";
  testing::RigOptions o = fp16WithASkip();  // the clip of a skipped step spoils nothing after
  o.max_grad_norm = 0.05;                   // below the GPT's gradient norm: every step clips
  const auto data = tokens(o.steps, 1, 1000);
  const testing::RigResult eager = testing::trainRig(false, gpt, data, o);
  const testing::RigResult graphed = testing::trainRig(true, gpt, data, o);
  EXPECT_TRUE(graphed.captured);
  EXPECT_GT(eager.grad_norm, o.max_grad_norm);
  EXPECT_NEAR(graphed.grad_norm, eager.grad_norm, 1e-3 * eager.grad_norm);
  expectSameTraining(graphed, eager);
}

TEST(CapturedCallGpu, OutOfMemoryDuringTheCaptureIsTheAllocatorsError) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device visible";
  CapturedCall call(torch::Device(torch::kCUDA, 0), /*warmup_runs=*/1);
  torch::Tensor x = torch::ones({1024}, torch::kCUDA);
  bool huge = false;  // the captured run asks for 64 TiB, more than any device holds
  auto body = [&] {
    x.mul_(2);
    if (huge)
      torch::empty({int64_t(1) << 46}, torch::TensorOptions(torch::kCUDA).dtype(torch::kByte));
  };
  call.run(body);  // warm-up, eager
  huge = true;
  EXPECT_THROW(call.run(body), c10::OutOfMemoryError);  // not "could not be captured"
  EXPECT_FALSE(call.captured());
  // The failed capture was ended: the device and the stream work on.
  x.add_(1);
  EXPECT_EQ(x[0].item<float>(), 3.0f);
}

}  // namespace
}  // namespace trainrun
