#include "diffusion/wrapped_normal.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace xtaldiff {

double wrapped_normal_log_density(double x, double sigma, int images) {
  double m = -std::numeric_limits<double>::infinity();
  for (int k = -images; k <= images; ++k) m = std::max(m, -(x + k) * (x + k) / (2 * sigma * sigma));
  double sum = 0;
  for (int k = -images; k <= images; ++k) sum += std::exp(-(x + k) * (x + k) / (2 * sigma * sigma) - m);
  return m + std::log(sum) - std::log(sigma * std::sqrt(2 * M_PI));
}

double wrapped_normal_score(double x, double sigma, int images) {
  double m = -std::numeric_limits<double>::infinity();
  for (int k = -images; k <= images; ++k) m = std::max(m, -(x + k) * (x + k) / (2 * sigma * sigma));
  double num = 0, den = 0;
  for (int k = -images; k <= images; ++k) {
    const double w = std::exp(-(x + k) * (x + k) / (2 * sigma * sigma) - m);
    num += -(x + k) / (sigma * sigma) * w;
    den += w;
  }
  return num / den;
}

double wrapped_normal_score_second_moment(double sigma) {
  // ∫_{-1/2}^{1/2} p(x) s(x)² dx with composite Simpson; for small σ the mass
  // sits within ±12σ of 0, so integrate there with the same resolution.
  // Images farther than 12σ + 1 contribute below 1e-30: leave them out.
  const int images = std::min(kWrappedNormalImages, static_cast<int>(std::ceil(12 * sigma)) + 1);
  const double half = std::min(0.5, 12.0 * sigma);
  const int n = 4000;  // even; the integrand is smooth on the scale of σ
  const double h = 2 * half / n;
  double sum = 0;
  for (int i = 0; i <= n; ++i) {
    const double x = -half + i * h;
    const double w = (i == 0 || i == n) ? 1 : (i % 2 ? 4 : 2);
    const double s = wrapped_normal_score(x, sigma, images);
    sum += w * std::exp(wrapped_normal_log_density(x, sigma, images)) * s * s;
  }
  return sum * h / 3;
}

torch::Tensor wrapped_normal_neg_score(const torch::Tensor& x, const torch::Tensor& sigma, int images) {
  auto ks = torch::arange(-images, images + 1, x.options());
  auto y = x.unsqueeze(-1) + ks;                        // [..., K]
  auto s2 = (sigma * sigma).unsqueeze(-1);
  auto logits = -(y * y) / (2 * s2);
  auto w = torch::softmax(logits, -1);                  // normalised image weights
  return (w * y).sum(-1) / (sigma * sigma);
}

}  // namespace xtaldiff
