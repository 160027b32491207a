// Reducer: bucketed, overlapped gradient all-reduce driven by AccumulateGrad post-hooks.
#include "ddp/reducer.h"

#include <torch/csrc/autograd/utils/lambda_post_hook.h>

#include "core/error.h"

namespace trainrun {
namespace {

int64_t mib(double mb) { return static_cast<int64_t>(mb * 1024 * 1024); }

}  // namespace

Reducer::Reducer(std::vector<torch::Tensor> params, Communicator* comm, ReducerOptions options)
    : params_(std::move(params)), comm_(comm), options_(options) {
  bucket_of_param_.resize(params_.size());
  grad_views_.resize(params_.size());
  for (auto& indices :
       assignBuckets(params_, mib(options_.first_bucket_mb), mib(options_.bucket_cap_mb))) {
    Bucket bucket;
    int64_t numel = 0;
    for (size_t i : indices) {
      bucket.offsets.push_back(numel);
      numel += params_[i].numel();
    }
    bucket.flat = torch::zeros({numel}, params_[indices.front()].options());  // (numel,)
    for (size_t j = 0; j < indices.size(); ++j) {
      torch::Tensor& p = params_[indices[j]];
      // Gradient as a view of the bucket: autograd accumulates in place, no copy to send.
      grad_views_[indices[j]] = bucket.flat.narrow(0, bucket.offsets[j], p.numel()).view(p.sizes());
      p.mutable_grad() = grad_views_[indices[j]];
      bucket_of_param_[indices[j]] = buckets_.size();
    }
    // Only floating-point buckets wider than the wire type are compressed.
    const auto type = bucket.flat.scalar_type();
    if (options_.wire_type != torch::kFloat && at::isFloatingType(type) &&
        c10::elementSize(type) > c10::elementSize(options_.wire_type))
      bucket.wire = torch::empty({numel}, bucket.flat.options().dtype(options_.wire_type));
    bucket.params = std::move(indices);
    buckets_.push_back(std::move(bucket));
  }
  pending_in_bucket_.resize(buckets_.size());
  trace_.resize(buckets_.size());
  grad_ready_.resize(params_.size());

  for (size_t i = 0; i < params_.size(); ++i) {
    // The AccumulateGrad node fires its post-hooks once the gradient is in p.grad().
    auto acc = torch::autograd::impl::grad_accumulator(params_[i]);
    hook_keys_.push_back(
        acc->add_post_hook(std::make_unique<torch::autograd::utils::LambdaPostHook>(
            [this, i](const torch::autograd::variable_list& outputs,
                      const torch::autograd::variable_list&) {
              onGradReady(i);
              return outputs;
            })));
    grad_accumulators_.push_back(std::move(acc));
  }
}

Reducer::~Reducer() {
  for (size_t i = 0; i < grad_accumulators_.size(); ++i)
    grad_accumulators_[i]->del_post_hook(hook_keys_[i]);
}

void Reducer::prepareForBackward(bool sync) {
  sync_ = sync;
  next_to_launch_ = 0;
  works_.clear();
  pending_total_ = static_cast<int64_t>(params_.size());
  for (size_t b = 0; b < buckets_.size(); ++b)
    pending_in_bucket_[b] = static_cast<int64_t>(buckets_[b].params.size());
}

void Reducer::onGradReady(size_t param_index) {
  if (!sync_) return;
  grad_ready_[param_index] = Clock::now();
  torch::Tensor& p = params_[param_index];
  const torch::Tensor& view = grad_views_[param_index];
  // Autograd accumulates into our view unless someone replaced p.grad(); then copy it in.
  if (!p.grad().is_same(view)) {
    view.copy_(p.grad());
    p.mutable_grad() = view;
  }
  --pending_total_;
  if (--pending_in_bucket_[bucket_of_param_[param_index]] > 0) return;
  // Launch in bucket order so every rank issues the same collectives in the same order.
  while (next_to_launch_ < buckets_.size() && pending_in_bucket_[next_to_launch_] == 0)
    launch(next_to_launch_++);
}

void Reducer::launch(size_t b) {
  Bucket& bucket = buckets_[b];
  const torch::Tensor& sent = bucket.wire.defined() ? bucket.wire : bucket.flat;
  BucketTrace& t = trace_[b];
  t.bytes = sent.numel() * static_cast<int64_t>(sent.element_size());
  t.pending_grads_at_launch = pending_total_;
  t.launched = Clock::now();
  if (comm_->size() == 1) return;
  // Compressed: averaged before the cast (a sum of N fp16 values could overflow), so the sum
  // that comes back is already the mean.
  if (bucket.wire.defined()) bucket.wire.copy_(bucket.flat.mul(1.0 / comm_->size()));
  std::vector<torch::Tensor> tensors{sent};
  comm_->setTag("bucket " + std::to_string(b));
  works_.push_back(comm_->allreduce(tensors, ReduceOp::kSum));
}

void Reducer::finalizeBackward() {
  if (!sync_) return;
  // Parameters that took no part in this step's graph never fire their hook; their
  // gradients are the zeros (or accumulated values) already in the bucket.
  while (next_to_launch_ < buckets_.size()) {
    pending_in_bucket_[next_to_launch_] = 0;
    launch(next_to_launch_++);
  }
  if (comm_->size() == 1) return;
  const double inv_world = 1.0 / comm_->size();
  for (size_t b = 0; b < works_.size(); ++b) {
    works_[b]->wait();  // the group's deadline
    if (buckets_[b].wire.defined()) {
      buckets_[b].flat.copy_(buckets_[b].wire);
    } else {
      buckets_[b].flat.mul_(inv_world);
    }
  }
  works_.clear();
}

void Reducer::setCommunicator(Communicator* comm) {
  works_.clear();
  comm_ = comm;
}

void Reducer::zeroGrad() {
  for (auto& bucket : buckets_) bucket.flat.zero_();
}

void broadcastFromRank0(Communicator& comm, const std::vector<torch::Tensor>& tensors) {
  if (comm.size() == 1 || tensors.empty()) return;
  torch::NoGradGuard no_grad;
  std::map<torch::ScalarType, std::vector<torch::Tensor>> by_dtype;
  for (const auto& t : tensors) by_dtype[t.scalar_type()].push_back(t);
  for (auto& [dtype, group] : by_dtype) {
    std::vector<torch::Tensor> flat_views;
    for (const auto& t : group) flat_views.push_back(t.reshape({-1}));
    std::vector<torch::Tensor> flat{torch::cat(flat_views)};  // (sum numel,)
    comm.broadcast(flat, /*root=*/0)->wait();
    int64_t offset = 0;
    for (auto& t : group) {
      t.copy_(flat[0].narrow(0, offset, t.numel()).view(t.sizes()));
      offset += t.numel();
    }
  }
}

}  // namespace trainrun
