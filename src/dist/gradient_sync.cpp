#include "dist/gradient_sync.h"

#include "util/error.h"

namespace xtaldiff {

torch::Tensor share_weighted_loss(const LossParts& parts, const BatchShare& share, int64_t local_crystals,
                                  int64_t local_atoms) {
  const double wc = static_cast<double>(local_crystals) / std::max<int64_t>(1, share.global_crystals);
  const double wa = static_cast<double>(local_atoms) / std::max<int64_t>(1, share.global_atoms);
  if (!parts.crystal_terms.defined() && !parts.atom_terms.defined()) return parts.total * wc;
  torch::Tensor loss;
  if (parts.crystal_terms.defined()) loss = parts.crystal_terms * wc;
  if (parts.atom_terms.defined()) loss = loss.defined() ? loss + parts.atom_terms * wa : parts.atom_terms * wa;
  return loss;
}

GradientSync::GradientSync(std::vector<torch::Tensor> parameters, Distributed& dist, std::size_t bucket_bytes)
    : parameters_(std::move(parameters)), dist_(dist) {
  const std::size_t n = parameters_.size();
  bucket_of_.resize(n);
  offset_of_.resize(n);
  has_grad_.assign(n, 0);
  // Last parameters first: the backward pass produces their gradients first.
  std::size_t bytes = bucket_bytes;
  for (std::size_t k = n; k-- > 0;) {
    const auto& p = parameters_[k];
    if (p.scalar_type() != torch::kFloat32)
      throw Error("internal: data-parallel training expects float32 parameters", ErrorKind::kInternal);
    const std::size_t size = static_cast<std::size_t>(p.numel()) * sizeof(float);
    if (buckets_.empty() || bytes + size > bucket_bytes) {
      buckets_.emplace_back();
      bytes = 0;
    }
    Bucket& b = buckets_.back();
    bucket_of_[k] = buckets_.size() - 1;
    offset_of_[k] = bytes / sizeof(float);
    b.params.push_back(k);
    bytes += size;
  }
  for (std::size_t bi = 0; bi < buckets_.size(); ++bi) {
    int64_t numel = 0;
    for (auto k : buckets_[bi].params) numel += parameters_[k].numel();
    // +1 per parameter: its "has a gradient" flag rides in the same all-reduce.
    buckets_[bi].flat = torch::zeros({numel + static_cast<int64_t>(buckets_[bi].params.size())},
                                     parameters_[buckets_[bi].params.front()].options().requires_grad(false));
  }
  for (std::size_t k = 0; k < n; ++k) {
    hook_ids_.push_back(parameters_[k].register_hook([this, k](torch::Tensor grad) {
      on_gradient(k, grad);
      return grad;
    }));
  }
}

GradientSync::~GradientSync() {
  for (std::size_t k = 0; k < hook_ids_.size(); ++k) {
    try {
      parameters_[k].remove_hook(hook_ids_[k]);
    } catch (...) {  // a destructor must not throw; the parameters outlive this normally
    }
  }
}

void GradientSync::begin_step() {
  std::lock_guard<std::mutex> lock(mutex_);
  for (auto& b : buckets_) {
    b.flat.zero_();
    b.ready = 0;
    b.launched = false;
    b.work.reset();
  }
  std::fill(has_grad_.begin(), has_grad_.end(), 0);
  next_launch_ = 0;
  in_step_ = true;
}

void GradientSync::on_gradient(std::size_t k, const torch::Tensor& grad) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!in_step_) return;  // a backward pass outside training (e.g. guidance): not ours
  Bucket& b = buckets_[bucket_of_[k]];
  if (b.launched) throw Error("internal: a gradient arrived after its bucket was reduced", ErrorKind::kInternal);
  const int64_t numel = parameters_[k].numel();
  b.flat.narrow(0, static_cast<int64_t>(offset_of_[k]), numel).add_(grad.detach().reshape({-1}).to(b.flat.device()));
  if (!has_grad_[k]) {
    has_grad_[k] = 1;
    ++b.ready;
  }
  launch_ready_buckets();
}

void GradientSync::launch(Bucket& b) {
  const int64_t flags_at = b.flat.size(0) - static_cast<int64_t>(b.params.size());
  std::vector<float> flags;
  for (auto k : b.params) flags.push_back(has_grad_[k] ? 1.0f : 0.0f);
  b.flat.narrow(0, flags_at, static_cast<int64_t>(flags.size())).copy_(torch::tensor(flags));
  std::vector<torch::Tensor> one{b.flat};
  b.work = dist_.all_reduce_sum_async(one);
  b.launched = true;
}

void GradientSync::launch_ready_buckets() {
  while (next_launch_ < buckets_.size() && buckets_[next_launch_].ready == buckets_[next_launch_].params.size())
    launch(buckets_[next_launch_++]);
}

void GradientSync::finish_step(std::vector<double>& scalars) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    // Parameters without a gradient on this rank (unused layers, or no
    // crystals here): their buckets start now, still in index order.
    while (next_launch_ < buckets_.size()) launch(buckets_[next_launch_++]);
    in_step_ = false;
  }
  torch::Tensor summed = torch::tensor(scalars, torch::kFloat64);
  std::vector<torch::Tensor> s{summed};
  auto scalars_work = dist_.all_reduce_sum_async(s);
  for (auto& b : buckets_) dist_.wait(b.work, "the gradient all-reduce");
  dist_.wait(scalars_work, "the gradient all-reduce");
  for (std::size_t i = 0; i < scalars.size(); ++i) scalars[i] = summed[static_cast<int64_t>(i)].item<double>();
  torch::NoGradGuard no_grad;
  for (auto& b : buckets_) {
    const int64_t flags_at = b.flat.size(0) - static_cast<int64_t>(b.params.size());
    const torch::Tensor flags = b.flat.narrow(0, flags_at, static_cast<int64_t>(b.params.size())).to(torch::kCPU);
    const float* had = flags.data_ptr<float>();
    for (std::size_t j = 0; j < b.params.size(); ++j) {
      const std::size_t k = b.params[j];
      if (had[j] == 0.0f) continue;  // no rank had one
      auto& p = parameters_[k];
      auto g = b.flat.narrow(0, static_cast<int64_t>(offset_of_[k]), p.numel()).view(p.sizes());
      if (p.grad().defined())
        p.mutable_grad().copy_(g);
      else
        p.mutable_grad() = g.clone();
    }
  }
}

}  // namespace xtaldiff
