#include "diffusion/torus_ve.h"

#include <cmath>

#include "diffusion/torus_wrap.h"
#include "diffusion/wrapped_normal.h"

namespace xtaldiff {

torch::Tensor TorusVe::sigma_of(const torch::Tensor& t, const torch::TensorOptions& o) const {
  return torch::tensor(schedule_.sigma, torch::kFloat64).index({t.cpu()}).to(o);
}

torch::Tensor TorusVe::lambda_of(const torch::Tensor& t, const torch::TensorOptions& o) const {
  return torch::tensor(schedule_.lambda, torch::kFloat64).index({t.cpu()}).to(o);
}

std::pair<torch::Tensor, torch::Tensor> TorusVe::noise_and_target(const torch::Tensor& x0, const torch::Tensor& t,
                                                                  const torch::Tensor& eps) const {
  auto sigma = sigma_of(t, x0.options()).unsqueeze(-1);
  auto lambda = lambda_of(t, x0.options()).unsqueeze(-1);
  auto displacement = sigma * eps;
  auto xt = frac_mod1(x0 + displacement);
  auto target = wrapped_normal_neg_score(displacement, sigma) / lambda.sqrt();
  return {xt, target};
}

torch::Tensor TorusVe::step_predictor(const torch::Tensor& x, const torch::Tensor& pred, int t, int s,
                                      const torch::Tensor& z) const {
  const double st = schedule_.sigma[t], ss = schedule_.sigma[s];
  const double step = st * st - ss * ss;
  const double std_dev = std::sqrt(ss * ss * step / (st * st));
  auto out = x - step * std::sqrt(schedule_.lambda[t]) * pred;
  if (s > 0) out = out + std_dev * z;
  return frac_mod1(out);
}

torch::Tensor TorusVe::step_corrector(const torch::Tensor& x, const torch::Tensor& pred, int t, double step_lr,
                                      const torch::Tensor& z) const {
  const double ratio = schedule_.sigma[t] / schedule_.sigma_begin;
  const double step = step_lr * ratio * ratio;
  return frac_mod1(x - step * std::sqrt(schedule_.lambda[t]) * pred + std::sqrt(2 * step) * z);
}

torch::Tensor TorusVe::ode_slope(const torch::Tensor& pred, int t) const {
  return (schedule_.sigma[t] * std::sqrt(schedule_.lambda[t])) * pred;
}

torch::Tensor TorusVe::step_with_slope(const torch::Tensor& x, const torch::Tensor& slope, int t, int s) const {
  return frac_mod1(x + (schedule_.sigma[s] - schedule_.sigma[t]) * slope);
}

torch::Tensor TorusVe::step_ode(const torch::Tensor& x, const torch::Tensor& pred, int t, int s) const {
  return step_with_slope(x, ode_slope(pred, t), t, s);
}

}  // namespace xtaldiff
