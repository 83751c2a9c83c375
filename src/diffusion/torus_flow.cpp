#include "diffusion/torus_flow.h"

namespace xtaldiff {

namespace {
torch::Tensor frac_mod1(const torch::Tensor& x) { return x - torch::floor(x); }
// Into [−½, ½): the shortest displacement on the circle.
torch::Tensor wrap_half(const torch::Tensor& d) { return d - torch::floor(d + 0.5); }
}  // namespace

torch::Tensor remove_crystal_mean(const torch::Tensor& v, const torch::Tensor& crystal_of_atom, int64_t num_crystals) {
  auto sums = torch::zeros({num_crystals, v.size(1)}, v.options()).index_add_(0, crystal_of_atom, v);
  auto counts = torch::zeros({num_crystals, 1}, v.options())
                    .index_add_(0, crystal_of_atom, torch::ones({v.size(0), 1}, v.options()));
  return v - (sums / counts.clamp_min(1)).index_select(0, crystal_of_atom);
}

std::pair<torch::Tensor, torch::Tensor> TorusFlow::noise_and_target(const torch::Tensor& x0,
                                                                    const torch::Tensor& t_per_atom,
                                                                    const torch::Tensor& x1,
                                                                    const torch::Tensor& crystal_of_atom,
                                                                    int64_t num_crystals) const {
  auto velocity = remove_crystal_mean(wrap_half(x1 - x0), crystal_of_atom, num_crystals);
  auto tau = (t_per_atom.to(x0.scalar_type()) / double(steps_)).unsqueeze(-1);
  return {frac_mod1(x0 + tau * velocity), velocity * kVelocityScale};
}

torch::Tensor TorusFlow::slope(const torch::Tensor& pred, int t, double anneal) const {
  const double tau = double(t) / steps_;
  return pred * ((1.0 + anneal * (1.0 - tau)) / kVelocityScale);
}

torch::Tensor TorusFlow::step_with_slope(const torch::Tensor& x, const torch::Tensor& slope, int t, int s) const {
  return frac_mod1(x + (double(s - t) / steps_) * slope);
}

torch::Tensor TorusFlow::step(const torch::Tensor& x, const torch::Tensor& pred, int t, int s, double anneal) const {
  return step_with_slope(x, slope(pred, t, anneal), t, s);
}

}  // namespace xtaldiff
