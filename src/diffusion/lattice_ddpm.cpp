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

namespace {

// A clamp of L̂_0: none, one bound for every entry, or one per crystal.
struct Clamp {
  double all = 0;
  torch::Tensor per_crystal;  ///< [B] or undefined
  bool active() const { return all > 0 || per_crystal.defined(); }
  torch::Tensor operator()(const torch::Tensor& l0) const {
    if (per_crystal.defined()) {
      auto c = per_crystal.to(l0.options()).view({-1, 1, 1});
      return torch::max(torch::min(l0, c), -c);
    }
    return all > 0 ? l0.clamp(-all, all) : l0;
  }
};

torch::Tensor clean_estimate_impl(const CosineBetaSchedule& sch, const torch::Tensor& lt, const torch::Tensor& eps_pred,
                                  int t, const Clamp& clamp) {
  const double abar_t = sch.alpha_bar[t];
  return clamp((lt - std::sqrt(1 - abar_t) * eps_pred) / std::sqrt(abar_t));
}

torch::Tensor step_ancestral_impl(const CosineBetaSchedule& sch, const torch::Tensor& lt, const torch::Tensor& eps_pred,
                                  int t, int s, const torch::Tensor& z, const Clamp& clamp) {
  const double abar_t = sch.alpha_bar[t], abar_s = sch.alpha_bar[s];
  if (s == t - 1) {
    // DiffCSP's form: (L_t − β_t/sqrt(1−ᾱ_t) ε̂)/sqrt(α_t) + σ_t z.
    const double c0 = 1.0 / std::sqrt(sch.alpha[t]);
    const double c1 = (1.0 - sch.alpha[t]) / std::sqrt(1.0 - abar_t);
    auto mean = c0 * (lt - c1 * eps_pred);
    return s == 0 ? mean : mean + sch.posterior_std[t] * z;
  }
  // General posterior q(L_s | L_t, L̂_0) for a skipped step.
  const double a_ts = abar_t / abar_s, b_ts = 1.0 - a_ts;
  auto l0 = clean_estimate_impl(sch, lt, eps_pred, t, clamp);
  auto mean = (std::sqrt(abar_s) * b_ts / (1 - abar_t)) * l0 + (std::sqrt(a_ts) * (1 - abar_s) / (1 - abar_t)) * lt;
  if (s == 0) return mean;
  return mean + std::sqrt((1 - abar_s) / (1 - abar_t) * b_ts) * z;
}

torch::Tensor step_ddim_impl(const CosineBetaSchedule& sch, const torch::Tensor& lt, const torch::Tensor& eps_pred, int t,
                             int s, const Clamp& clamp) {
  const double abar_t = sch.alpha_bar[t], abar_s = sch.alpha_bar[s];
  auto l0 = clean_estimate_impl(sch, lt, eps_pred, t, clamp);
  // The noise implied by the (clipped) clean estimate, so that without
  // clipping this is exactly sqrt(ᾱ_s) L̂_0 + sqrt(1 − ᾱ_s) ε̂.
  auto eps = clamp.active() ? (lt - std::sqrt(abar_t) * l0) / std::sqrt(1 - abar_t) : eps_pred;
  return std::sqrt(abar_s) * l0 + std::sqrt(1 - abar_s) * eps;
}

}  // namespace

torch::Tensor LatticeDdpm::step_ancestral(const torch::Tensor& lt, const torch::Tensor& eps_pred, int t, int s,
                                          const torch::Tensor& z, const torch::Tensor& clip) const {
  return step_ancestral_impl(schedule_, lt, eps_pred, t, s, z, Clamp{0, clip});
}
torch::Tensor LatticeDdpm::step_ddim(const torch::Tensor& lt, const torch::Tensor& eps_pred, int t, int s,
                                     const torch::Tensor& clip) const {
  return step_ddim_impl(schedule_, lt, eps_pred, t, s, Clamp{0, clip});
}
torch::Tensor LatticeDdpm::clean_estimate(const torch::Tensor& lt, const torch::Tensor& eps_pred, int t,
                                          const torch::Tensor& clip) const {
  return clean_estimate_impl(schedule_, lt, eps_pred, t, Clamp{0, clip});
}

torch::Tensor LatticeDdpm::step_ancestral(const torch::Tensor& lt, const torch::Tensor& eps_pred, int t, int s,
                                          const torch::Tensor& z, double clip) const {
  return step_ancestral_impl(schedule_, lt, eps_pred, t, s, z, Clamp{clip, {}});
}
torch::Tensor LatticeDdpm::clean_estimate(const torch::Tensor& lt, const torch::Tensor& eps_pred, int t,
                                          double clip) const {
  return clean_estimate_impl(schedule_, lt, eps_pred, t, Clamp{clip, {}});
}

torch::Tensor LatticeDdpm::step_ddim(const torch::Tensor& lt, const torch::Tensor& eps_pred, int t, int s,
                                     double clip) const {
  return step_ddim_impl(schedule_, lt, eps_pred, t, s, Clamp{clip, {}});
}

}  // namespace xtaldiff
