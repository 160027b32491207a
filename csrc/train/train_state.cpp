// Mapping between live training state and named checkpoint tensors.
#include "train/train_state.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/csrc/jit/serialization/pickle.h>

#include "core/digest.h"
#include "core/error.h"

namespace trainrun {
namespace {

void* stateKey(const torch::Tensor& p) {
  return p.unsafeGetTensorImpl();  // how torch::optim keys its state
}

const torch::Tensor& find(const LoadedCheckpoint& ckpt, const std::string& name,
                          const torch::Tensor& like) {
  auto it = ckpt.replicated.find(name);
  if (it == ckpt.replicated.end())
    throw StorageError("checkpoint " + ckpt.where + " has no tensor " + name);
  if (like.defined() && it->second.sizes() != like.sizes())
    throw StorageError("checkpoint tensor " + name + " has shape " + c10::str(it->second.sizes()) +
                       " but the model has " + c10::str(like.sizes()));
  return it->second;
}

}  // namespace

CheckpointState captureState(Model& model, torch::optim::Optimizer& optimizer,
                             const LossScaler& scaler, std::map<std::string, int64_t> counters) {
  CheckpointState s;
  auto& optim_state = optimizer.state();
  for (const auto& item : model.named_parameters()) {
    s.replicated.emplace_back("model." + item.key(), item.value().detach());
  }
  for (const auto& item : model.named_buffers())
    s.replicated.emplace_back("buffer." + item.key(), item.value().detach());
  for (const auto& item : model.named_parameters()) {
    auto it = optim_state.find(stateKey(item.value()));
    if (it == optim_state.end()) continue;  // no step taken yet
    const std::string prefix = "optim." + item.key() + ".";
    if (auto* sgd = dynamic_cast<torch::optim::SGDParamState*>(it->second.get())) {
      if (sgd->momentum_buffer().defined())
        s.replicated.emplace_back(prefix + "momentum_buffer", sgd->momentum_buffer());
    } else if (auto* adam = dynamic_cast<torch::optim::AdamWParamState*>(it->second.get())) {
      s.replicated.emplace_back(prefix + "step", torch::tensor({adam->step()}, torch::kInt64));
      s.replicated.emplace_back(prefix + "exp_avg", adam->exp_avg());
      s.replicated.emplace_back(prefix + "exp_avg_sq", adam->exp_avg_sq());
    }
  }
  if (scaler.enabled())
    for (const auto& [name, t] : scaler.stateDict()) s.replicated.emplace_back("amp." + name, t);
  // Checkpoints hold host copies; a no-op for CPU tensors. On GPU this is the device-to-host
  // copy of the snapshot.
  for (auto& [name, t] : s.replicated) t = t.to(torch::kCPU).contiguous();
  s.local.emplace_back("rng.cpu", at::detail::getDefaultCPUGenerator().get_state());
  s.counters = std::move(counters);
  return s;
}

void restoreState(const LoadedCheckpoint& ckpt, Model& model, torch::optim::Optimizer& optimizer,
                  LossScaler& scaler) {
  torch::NoGradGuard no_grad;
  for (auto& item : model.named_parameters())
    item.value().copy_(find(ckpt, "model." + item.key(), item.value()));
  for (auto& item : model.named_buffers())
    item.value().copy_(find(ckpt, "buffer." + item.key(), item.value()));

  auto& optim_state = optimizer.state();
  optim_state.clear();
  for (const auto& item : model.named_parameters()) {
    const std::string prefix = "optim." + item.key() + ".";
    const torch::Tensor& p = item.value();
    if (ckpt.replicated.count(prefix + "momentum_buffer")) {
      auto st = std::make_unique<torch::optim::SGDParamState>();
      st->momentum_buffer(find(ckpt, prefix + "momentum_buffer", p).to(p.device()));
      optim_state[stateKey(p)] = std::move(st);
    } else if (ckpt.replicated.count(prefix + "exp_avg")) {
      auto st = std::make_unique<torch::optim::AdamWParamState>();
      st->step(find(ckpt, prefix + "step", {}).item<int64_t>());
      st->exp_avg(find(ckpt, prefix + "exp_avg", p).to(p.device(), false, /*copy=*/true));
      st->exp_avg_sq(find(ckpt, prefix + "exp_avg_sq", p).to(p.device(), false, /*copy=*/true));
      optim_state[stateKey(p)] = std::move(st);
    }
  }
  if (scaler.enabled() && ckpt.replicated.count("amp.scale")) {
    std::map<std::string, torch::Tensor> dict;
    for (const auto& [name, t] : ckpt.replicated)
      if (name.rfind("amp.", 0) == 0) dict[name.substr(4)] = t;
    scaler.loadStateDict(dict);
  }
  auto rng = ckpt.local.find("rng.cpu");
  if (rng != ckpt.local.end()) {
    at::Generator gen = at::detail::getDefaultCPUGenerator();  // a handle to the global one
    std::lock_guard<std::mutex> lock(gen.mutex());
    gen.set_state(rng->second);
  }
}

std::vector<char> packState(const CheckpointState& state) {
  c10::Dict<std::string, torch::Tensor> replicated, local;
  c10::Dict<std::string, int64_t> counters;
  for (const auto& [name, t] : state.replicated) replicated.insert(name, t);
  for (const auto& [name, t] : state.local) local.insert(name, t);
  for (const auto& [name, v] : state.counters) counters.insert(name, v);
  return torch::pickle_save(c10::ivalue::Tuple::create({replicated, local, counters}));
}

LoadedCheckpoint unpackState(const std::vector<char>& bytes) {
  const auto parts = torch::pickle_load(bytes).toTuple()->elements();
  LoadedCheckpoint out;
  out.where = "a peer's memory";
  for (const auto& item : parts.at(0).toGenericDict())
    out.replicated[item.key().toStringRef()] = item.value().toTensor();
  for (const auto& item : parts.at(1).toGenericDict())
    out.local[item.key().toStringRef()] = item.value().toTensor();
  for (const auto& item : parts.at(2).toGenericDict())
    out.counters[item.key().toStringRef()] = item.value().toInt();
  return out;
}

std::map<std::string, std::string> stateFingerprint(const config::JobConfig& config,
                                                    const std::string& data_sha256,
                                                    const std::string& data_listing) {
  std::string hidden;
  for (int64_t h : config::mlpHidden(config))
    hidden += (hidden.empty() ? "" : ",") + std::to_string(h);
  std::map<std::string, std::string> f{{"model.name", config.model().name()},
                                       {"model.hidden", "[" + hidden + "]"},
                                       {"data.name", config.data().name()},
                                       {"optimizer.name", config.optimizer().name()}};
  // Precision is deliberately absent: master weights are fp32 whatever the precision, so a
  // run may switch between fp32, bf16 and fp16 across a resume.
  const auto& m = config.model();
  for (auto [key, value] : {std::pair{"n_layer", m.n_layer()},
                            {"n_head", m.n_head()},
                            {"n_embd", m.n_embd()},
                            {"block_size", m.block_size()},
                            {"vocab_size", m.vocab_size()}})
    if (value != 0) f[std::string("model.") + key] = std::to_string(value);
  if (config.data().name() == "synthetic_tokens")
    f["data.synthetic_vocab"] = std::to_string(config.data().synthetic_vocab());
  if (config.data().name() == "synthetic") {
    f["data.synthetic_features"] = std::to_string(config.data().synthetic_features());
    f["data.synthetic_classes"] = std::to_string(config.data().synthetic_classes());
  }
  // A TorchScript model is its file: another architecture or initialization is another model.
  if (config.model().name() == "torchscript")
    f["model.sha256"] = sha256OfFile(config.model().path()).sha256;
  if (!data_sha256.empty()) f[kDataFingerprintKey] = data_sha256;
  if (!data_listing.empty()) f[kDataListingKey] = data_listing;
  return f;
}

}  // namespace trainrun
