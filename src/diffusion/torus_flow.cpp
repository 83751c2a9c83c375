#include "diffusion/torus_flow.h"

#include <algorithm>

#include "diffusion/torus_wrap.h"

namespace xtaldiff {

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

double TorusFlow::anneal_factor(int t, int from, int to, double anneal, double onset) const {
  const double factor = 1.0 + anneal * std::max(0.0, 1.0 - double(t) / steps_ / onset);
  return from > to ? std::min(factor, double(from) / double(from - to)) : factor;
}

torch::Tensor TorusFlow::slope(const torch::Tensor& pred, double factor) const {
  return pred * (factor / kVelocityScale);
}

torch::Tensor TorusFlow::step_with_slope(const torch::Tensor& x, const torch::Tensor& slope, int t, int s) const {
  return frac_mod1(x + (double(s - t) / steps_) * slope);
}

torch::Tensor TorusFlow::step(const torch::Tensor& x, const torch::Tensor& pred, int t, int s, double anneal,
                              double onset) const {
  return step_with_slope(x, slope(pred, anneal_factor(t, t, s, anneal, onset)), t, s);
}

}  // namespace xtaldiff
