#include "diffusion/schedules.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <mutex>
#include <tuple>

#include "crystal/linalg.h"
#include "diffusion/wrapped_normal.h"
#include "util/error.h"

namespace xtaldiff {

CosineBetaSchedule::CosineBetaSchedule(int t_steps, double s) : steps(t_steps) {
  if (t_steps < 1) throw Error("diffusion needs at least one step", ErrorKind::kUsage);
  // ᾱ(x) = cos²(((x/T) + s)/(1 + s) · π/2), normalised by ᾱ(0); β from ratios.
  std::vector<double> abar(t_steps + 1);
  for (int i = 0; i <= t_steps; ++i) {
    const double c = std::cos(((double(i) / t_steps) + s) / (1 + s) * kPi * 0.5);
    abar[i] = c * c;
  }
  const double a0 = abar[0];
  for (double& a : abar) a /= a0;
  beta.assign(t_steps + 1, 0.0);
  for (int i = 1; i <= t_steps; ++i) beta[i] = std::clamp(1.0 - abar[i] / abar[i - 1], 1e-4, 0.9999);
  alpha.resize(t_steps + 1);
  alpha_bar.resize(t_steps + 1);
  posterior_std.assign(t_steps + 1, 0.0);
  double prod = 1.0;
  for (int i = 0; i <= t_steps; ++i) {
    alpha[i] = 1.0 - beta[i];
    prod *= alpha[i];
    alpha_bar[i] = prod;
  }
  for (int i = 1; i <= t_steps; ++i)
    posterior_std[i] = std::sqrt(beta[i] * (1.0 - alpha_bar[i - 1]) / (1.0 - alpha_bar[i]));
}

GeometricSigmaSchedule::GeometricSigmaSchedule(int t_steps, double begin, double end)
    : steps(t_steps), sigma_begin(begin), sigma_end(end) {
  if (t_steps < 1) throw Error("diffusion needs at least one step", ErrorKind::kUsage);
  if (!(begin > 0) || !(end > begin)) throw Error("sigma schedule needs 0 < sigma_begin < sigma_end", ErrorKind::kUsage);
  sigma.assign(t_steps + 1, 0.0);
  lambda.assign(t_steps + 1, 1.0);
  for (int i = 1; i <= t_steps; ++i) {
    // np.exp(np.linspace(log(begin), log(end), T)): T points, ends included.
    const double f = t_steps == 1 ? 0.0 : double(i - 1) / double(t_steps - 1);
    sigma[i] = std::exp(std::log(begin) + f * (std::log(end) - std::log(begin)));
  }
  // The quadrature costs ~0.1 s per thousand levels; models are built several
  // times per process (weights, EMA), so cache the table per schedule.
  static std::mutex mutex;
  static std::map<std::tuple<int, double, double>, std::vector<double>> cache;
  std::lock_guard<std::mutex> lock(mutex);
  auto& cached = cache[{t_steps, begin, end}];
  if (cached.empty()) {
    cached.assign(t_steps + 1, 1.0);
    for (int i = 1; i <= t_steps; ++i) cached[i] = wrapped_normal_score_second_moment(sigma[i]);
  }
  lambda = cached;
}

}  // namespace xtaldiff
