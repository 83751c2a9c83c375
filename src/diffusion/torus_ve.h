/// @file
/// Variance-exploding diffusion of fractional coordinates on the torus
/// [0, 1)³: x_t = (x_0 + σ_t ε) mod 1. The network predicts the normalised
/// negated score, ŝ = −∇ log p_σt(x_t | x_0) / sqrt(λ_t) (DiffCSP's target),
/// so −ŝ·sqrt(λ_t) estimates the score. Steps between any two times:
///  - predictor (reverse VE SDE, ancestral form),
///  - corrector (annealed Langevin, step step_lr·(σ_t/σ_1)²),
///  - probability-flow ODE dx/dσ = −σ ∇log p = σ sqrt(λ_σ) ŝ, stepped in σ
///    (the VE form of DDIM: the step to σ = 0 is exactly Tweedie's
///    denoiser x + σ² ∇log p, where Euler in σ² would remove half of it);
///    `ode_slope` exposes the slope for higher-order (Heun) steps.
#pragma once

#include "diffusion/schedules.h"
#include "ml/torch_pch.h"

namespace xtaldiff {

class TorusVe {
 public:
  TorusVe(int steps, double sigma_begin, double sigma_end) : schedule_(steps, sigma_begin, sigma_end) {}
  const GeometricSigmaSchedule& schedule() const { return schedule_; }

  /// σ_t and λ_t gathered per atom, for per-atom times t [N] (int64).
  torch::Tensor sigma_of(const torch::Tensor& t_per_atom, const torch::TensorOptions& o) const;
  torch::Tensor lambda_of(const torch::Tensor& t_per_atom, const torch::TensorOptions& o) const;

  /// Noised coordinates and the training target, for per-atom t and ε.
  std::pair<torch::Tensor, torch::Tensor> noise_and_target(const torch::Tensor& x0, const torch::Tensor& t_per_atom,
                                                           const torch::Tensor& eps) const;
  torch::Tensor step_predictor(const torch::Tensor& x, const torch::Tensor& pred, int t, int s,
                               const torch::Tensor& z) const;
  torch::Tensor step_corrector(const torch::Tensor& x, const torch::Tensor& pred, int t, double step_lr,
                               const torch::Tensor& z) const;
  torch::Tensor step_ode(const torch::Tensor& x, const torch::Tensor& pred, int t, int s) const;
  /// dx/dσ at time t from the network output.
  torch::Tensor ode_slope(const torch::Tensor& pred, int t) const;
  /// x + (σ_s − σ_t)·slope, wrapped.
  torch::Tensor step_with_slope(const torch::Tensor& x, const torch::Tensor& slope, int t, int s) const;

 private:
  GeometricSigmaSchedule schedule_;
};

}  // namespace xtaldiff
