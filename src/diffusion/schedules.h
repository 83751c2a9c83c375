/// @file
/// Noise schedules over T steps, indexed t = 0..T with t = 0 meaning "no
/// noise" (DiffCSP's convention: a zero is prepended to every table).
///  - CosineBetaSchedule: DDPM β_t from the cosine ᾱ of Nichol & Dhariwal
///    (s = 0.008, β clipped to [1e-4, 0.9999]); ᾱ, and the posterior std
///    σ_t = sqrt(β_t (1 − ᾱ_{t−1}) / (1 − ᾱ_t)).
///  - GeometricSigmaSchedule: VE noise levels σ_t geometric from σ_1 to σ_T,
///    and λ_t = E[s(x)²] of the wrapped normal at σ_t (see wrapped_normal.h),
///    the normaliser of the coordinate score target. λ_0 = 1 by convention.
#pragma once

#include <vector>

namespace xtaldiff {

struct CosineBetaSchedule {
  int steps = 0;                      ///< T
  std::vector<double> beta;           ///< [T+1], beta[0] = 0
  std::vector<double> alpha;          ///< 1 − β
  std::vector<double> alpha_bar;      ///< cumulative product, alpha_bar[0] = 1
  std::vector<double> posterior_std;  ///< σ_t of the DDPM reverse step, [0] = 0

  explicit CosineBetaSchedule(int steps, double s = 0.008);
};

struct GeometricSigmaSchedule {
  int steps = 0;
  double sigma_begin = 0, sigma_end = 0;
  std::vector<double> sigma;   ///< [T+1], sigma[0] = 0
  std::vector<double> lambda;  ///< [T+1], E[score²] at sigma[t]; lambda[0] = 1

  GeometricSigmaSchedule(int steps, double sigma_begin, double sigma_end);
};

}  // namespace xtaldiff
