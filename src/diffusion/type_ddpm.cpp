#include "diffusion/type_ddpm.h"

#include <cmath>

namespace xtaldiff {

torch::Tensor TypeDdpm::one_hot(const torch::Tensor& z, int vocab) {
  return torch::one_hot(z - 1, vocab).to(torch::kFloat32);
}

torch::Tensor TypeDdpm::noise(const torch::Tensor& a0, const torch::Tensor& t, const torch::Tensor& eps) const {
  auto abar = torch::tensor(schedule_.alpha_bar, torch::kFloat64).index({t.cpu()}).to(a0.options());
  return abar.sqrt().unsqueeze(1) * a0 + (1 - abar).sqrt().unsqueeze(1) * eps;
}

torch::Tensor TypeDdpm::noise_at(const torch::Tensor& a0, int t, const torch::Tensor& eps) const {
  const double abar = schedule_.alpha_bar[t];
  return std::sqrt(abar) * a0 + std::sqrt(1 - abar) * eps;
}

torch::Tensor TypeDdpm::predict_clean(const torch::Tensor& at, const torch::Tensor& eps_pred, int t) const {
  const double abar = schedule_.alpha_bar[t];
  return (at - std::sqrt(1 - abar) * eps_pred) / std::sqrt(abar);
}

torch::Tensor TypeDdpm::implied_noise(const torch::Tensor& at, const torch::Tensor& a0_hat, int t) const {
  const double abar = schedule_.alpha_bar[t];
  return (at - std::sqrt(abar) * a0_hat) / std::sqrt(1 - abar);
}

torch::Tensor TypeDdpm::step_ancestral(const torch::Tensor& at, const torch::Tensor& a0_hat, int t, int s,
                                       const torch::Tensor& z) const {
  if (s == 0) return a0_hat;
  const double abar_t = schedule_.alpha_bar[t], abar_s = schedule_.alpha_bar[s];
  const double a_ts = abar_t / abar_s, b_ts = 1.0 - a_ts;
  auto mean = (std::sqrt(abar_s) * b_ts / (1 - abar_t)) * a0_hat + (std::sqrt(a_ts) * (1 - abar_s) / (1 - abar_t)) * at;
  return mean + std::sqrt((1 - abar_s) / (1 - abar_t) * b_ts) * z;
}

torch::Tensor TypeDdpm::step_ddim(const torch::Tensor& at, const torch::Tensor& a0_hat, int t, int s) const {
  const double abar_s = schedule_.alpha_bar[s];
  return std::sqrt(abar_s) * a0_hat + std::sqrt(1 - abar_s) * implied_noise(at, a0_hat, t);
}

}  // namespace xtaldiff
