#include "diffusion/type_d3pm.h"

namespace xtaldiff {

torch::Tensor TypeD3pm::transition(int t) const {
  const double b = beta(t);
  auto q = torch::eye(num_states(), torch::kFloat64) * (1.0 - b);
  q.select(1, mask_state()) += b;
  return q;
}

torch::Tensor TypeD3pm::cumulative_transition(int t) const {
  const double k = keep(t);
  auto q = torch::eye(num_states(), torch::kFloat64) * k;
  q.select(1, mask_state()) += 1.0 - k;
  return q;
}

torch::Tensor TypeD3pm::posterior_from_matrices(int t, int s) const {
  // q(x_s | x_t, x_0) ∝ q(x_t | x_s) q(x_s | x_0), with q(x_t | x_s) the
  // product of the one-step matrices s+1..t.
  auto q_ts = torch::eye(num_states(), torch::kFloat64);
  for (int k = s + 1; k <= t; ++k) q_ts = torch::mm(q_ts, transition(k));
  const auto q_s0 = cumulative_transition(s);  // [x_0, x_s]
  // joint[x_t, x_0, x_s] = q_s0[x_0, x_s] · q_ts[x_s, x_t]
  auto joint = q_s0.unsqueeze(0) * q_ts.t().unsqueeze(1);
  auto norm = joint.sum(2, true);
  return torch::where(norm > 0, joint / norm.clamp_min(1e-300), torch::zeros_like(joint));
}

torch::Tensor TypeD3pm::noise(const torch::Tensor& x0, const torch::Tensor& t, const torch::Tensor& u) const {
  auto masked = u < t.to(torch::kFloat32) / static_cast<float>(steps_);
  return torch::where(masked, torch::full_like(x0, mask_state()), x0);
}

torch::Tensor TypeD3pm::input(const torch::Tensor& states) const {
  return torch::one_hot(states, num_states()).to(torch::kFloat32);
}

torch::Tensor TypeD3pm::loss(const torch::Tensor& logits, const torch::Tensor& x0, const torch::Tensor& xt,
                             const torch::Tensor& t, double lambda) const {
  auto ce = torch::nn::functional::cross_entropy(
      logits, x0, torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kNone));
  // r_t = (ᾱ_{t−1} − ᾱ_t) / (1 − ᾱ_t) = 1/t for ᾱ_t = 1 − t/T.
  auto r = 1.0 / t.to(logits.dtype());
  auto masked = (xt == mask_state()).to(logits.dtype());
  return (masked * (r + lambda) * ce).mean();
}

torch::Tensor TypeD3pm::step(const torch::Tensor& xt, const torch::Tensor& x0_draw, int t, int s,
                             const torch::Tensor& u, bool override_unmasked) const {
  auto masked = xt == mask_state();
  auto unmask = masked.logical_and(u < unmask_probability(t, s));
  auto out = torch::where(unmask, x0_draw, xt);
  if (override_unmasked) out = torch::where(masked.logical_not(), x0_draw, out);
  return out;
}

}  // namespace xtaldiff
