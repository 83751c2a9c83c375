/// @file
/// Flow matching of fractional coordinates on the torus [0, 1)³, along
/// geodesics (Riemannian flow matching as in FlowMM and CrystalFlow), the
/// precise few-step alternative to the VE score process of torus_ve.h.
///
/// With τ = t/T (τ = 1 noise, τ = 0 data), noise x_1 ~ U[0, 1)³ and the
/// shortest displacement d = w(x_1 − x_0) (w wraps into [−½, ½)), the path
/// is x_τ = (x_0 + τ·d̄) mod 1 with d̄ = d minus its mean over the crystal's
/// atoms. The mean is removed because a global translation of all atoms is
/// the same crystal and the denoiser is translation invariant: it could not
/// predict that part, and the centred noise x_0 + d̄ is still uniform. The
/// velocity dx/dτ = d̄ is constant along the path; the network predicts it
/// scaled to unit variance (×√12, the standard deviation of U[−½, ½)).
///
/// Sampling integrates dx/dτ = v̂ from τ = 1 to 0. The step to τ = 0 is
/// x − τ·v̂ = E[x_0 | x_τ] for a perfect network, so the last Euler step
/// lands on the clean estimate. `anneal` S multiplies the velocity by
/// 1 + S·(1 − τ) (FlowMM's inference "anti-annealing": steps grow as the
/// sample nears the data, pulling atoms onto the sites the network points
/// at instead of stopping short of them), capped so that no step goes past
/// the clean estimate x − τ·v̂ (FlowMM integrates 500+ small steps, where
/// the cap never binds; in 20 steps the uncapped factor would overshoot the
/// sites by up to 1 + S at the last step).
#pragma once

#include "ml/torch_pch.h"

namespace xtaldiff {

class TorusFlow {
 public:
  explicit TorusFlow(int steps) : steps_(steps) {}
  int steps() const { return steps_; }
  /// Unit-variance scale of the network output: v̂ = output / kVelocityScale.
  static constexpr double kVelocityScale = 3.4641016151377544;  // √12

  /// Points on the path and the network's target for per-atom times t [N]
  /// (int64, 1..T), noise `x1` [N, 3] uniform in [0, 1), atoms grouped by
  /// `crystal_of_atom` [N] into `num_crystals` crystals.
  std::pair<torch::Tensor, torch::Tensor> noise_and_target(const torch::Tensor& x0, const torch::Tensor& t_per_atom,
                                                           const torch::Tensor& x1,
                                                           const torch::Tensor& crystal_of_atom,
                                                           int64_t num_crystals) const;
  /// Velocity multiplier at time t within the step from → to:
  /// min(1 + S·(1 − τ_t), τ_from / (τ_from − τ_to)).
  /// With `onset` τ_a < 1 the factor is 1 + S·max(0, 1 − τ_t/τ_a): the
  /// plain ODE until τ_a, anti-annealed after it.
  double anneal_factor(int t, int from, int to, double anneal, double onset = 1.0) const;
  /// dx/dτ from the network output, times `factor`.
  torch::Tensor slope(const torch::Tensor& pred, double factor = 1) const;
  /// x + (τ_s − τ_t)·slope, wrapped into [0, 1).
  torch::Tensor step_with_slope(const torch::Tensor& x, const torch::Tensor& slope, int t, int s) const;
  /// One Euler step t → s (anti-annealed by S).
  torch::Tensor step(const torch::Tensor& x, const torch::Tensor& pred, int t, int s, double anneal = 0,
                     double onset = 1.0) const;

 private:
  int steps_;
};

/// `v` [N, 3] minus the mean of each crystal's rows.
torch::Tensor remove_crystal_mean(const torch::Tensor& v, const torch::Tensor& crystal_of_atom, int64_t num_crystals);

}  // namespace xtaldiff
