#include "diffusion/lattice_ddpm.h"

#include <cmath>

namespace xtaldiff {

torch::Tensor LatticeDdpm::noise(const torch::Tensor& lattice0, const torch::Tensor& t, const torch::Tensor& eps) const {
  auto abar = torch::tensor(schedule_.alpha_bar, torch::kFloat64).index({t.cpu()}).to(lattice0.options());
  std::vector<int64_t> shape(lattice0.dim(), 1);  // [B, 1, ...]: any trailing shape
  shape[0] = -1;
  auto c0 = abar.sqrt().view(shape);
  auto c1 = (1 - abar).sqrt().view(shape);
  return c0 * lattice0 + c1 * eps;
}

torch::Tensor LatticeDdpm::step_ancestral(const torch::Tensor& lt, const torch::Tensor& eps_pred, int t, int s,
                                          const torch::Tensor& z, double clip) const {
  const double abar_t = schedule_.alpha_bar[t], abar_s = schedule_.alpha_bar[s];
  if (s == t - 1) {
    // DiffCSP's form: (L_t − β_t/sqrt(1−ᾱ_t) ε̂)/sqrt(α_t) + σ_t z.
    const double c0 = 1.0 / std::sqrt(schedule_.alpha[t]);
    const double c1 = (1.0 - schedule_.alpha[t]) / std::sqrt(1.0 - abar_t);
    auto mean = c0 * (lt - c1 * eps_pred);
    return s == 0 ? mean : mean + schedule_.posterior_std[t] * z;
  }
  // General posterior q(L_s | L_t, L̂_0) for a skipped step.
  const double a_ts = abar_t / abar_s, b_ts = 1.0 - a_ts;
  auto l0 = clean_estimate(lt, eps_pred, t, clip);
  auto mean = (std::sqrt(abar_s) * b_ts / (1 - abar_t)) * l0 + (std::sqrt(a_ts) * (1 - abar_s) / (1 - abar_t)) * lt;
  if (s == 0) return mean;
  return mean + std::sqrt((1 - abar_s) / (1 - abar_t) * b_ts) * z;
}

torch::Tensor LatticeDdpm::clean_estimate(const torch::Tensor& lt, const torch::Tensor& eps_pred, int t,
                                          double clip) const {
  const double abar_t = schedule_.alpha_bar[t];
  auto l0 = (lt - std::sqrt(1 - abar_t) * eps_pred) / std::sqrt(abar_t);
  return clip > 0 ? l0.clamp(-clip, clip) : l0;
}

torch::Tensor LatticeDdpm::step_ddim(const torch::Tensor& lt, const torch::Tensor& eps_pred, int t, int s,
                                     double clip) const {
  const double abar_t = schedule_.alpha_bar[t], abar_s = schedule_.alpha_bar[s];
  auto l0 = clean_estimate(lt, eps_pred, t, clip);
  // The noise implied by the (clipped) clean estimate, so that without
  // clipping this is exactly sqrt(ᾱ_s) L̂_0 + sqrt(1 − ᾱ_s) ε̂.
  auto eps = clip > 0 ? (lt - std::sqrt(abar_t) * l0) / std::sqrt(1 - abar_t) : eps_pred;
  return std::sqrt(abar_s) * l0 + std::sqrt(1 - abar_s) * eps;
}

}  // namespace xtaldiff
