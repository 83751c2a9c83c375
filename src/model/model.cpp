#include "model/model.h"

#include "util/error.h"

namespace xtaldiff {

std::pair<std::size_t, std::size_t> copy_matching_parameters(const torch::nn::Module& from, torch::nn::Module& to) {
  const auto source = from.named_parameters();
  std::size_t copied = 0, fresh = 0;
  torch::NoGradGuard no_grad;
  for (auto& p : to.named_parameters()) {
    const auto* src = source.find(p.key());
    if (src && src->sizes() == p.value().sizes()) {
      p.value().copy_(*src);
      ++copied;
    } else {
      ++fresh;
    }
  }
  return {copied, fresh};
}

void copy_module_state(const torch::nn::Module& from, torch::nn::Module& to) {
  torch::NoGradGuard no_grad;
  const auto src = from.named_parameters(true);
  auto dst = to.named_parameters(true);
  if (src.size() != dst.size()) throw Error("copy_module_state: the two models differ in their parameters");
  for (const auto& item : src) dst[item.key()].copy_(item.value());
  const auto sb = from.named_buffers(true);
  auto db = to.named_buffers(true);
  for (const auto& item : sb) db[item.key()].copy_(item.value());
}

torch::Device module_device(const torch::nn::Module& m) {
  const auto p = m.parameters(true);
  return p.empty() ? torch::Device(torch::kCPU) : p.front().device();
}

}  // namespace xtaldiff
