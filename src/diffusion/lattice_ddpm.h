/// @file
/// DDPM on the lattice matrix (rows = vectors, Å): L_t = sqrt(ᾱ_t) L_0 +
/// sqrt(1 − ᾱ_t) ε, the network predicts ε. Reverse steps between any two
/// times s < t (s = t − 1 is DiffCSP's ancestral step), stochastic
/// (posterior of DDPM) or deterministic (DDIM, the probability-flow ODE's
/// discretisation for the VP process).
#pragma once

#include "diffusion/schedules.h"
#include "ml/torch_pch.h"

namespace xtaldiff {

class LatticeDdpm {
 public:
  explicit LatticeDdpm(int steps) : schedule_(steps) {}
  const CosineBetaSchedule& schedule() const { return schedule_; }
  int steps() const { return schedule_.steps; }

  /// Noised lattices for per-crystal times t [B] (int64) and noise ε [B,3,3]
  /// (or any [B, ...] tensor: UniMat's whole tensor takes the same DDPM).
  torch::Tensor noise(const torch::Tensor& lattice0, const torch::Tensor& t, const torch::Tensor& eps) const;
  /// Ancestral (posterior) step t → s for all crystals at once; `z` is
  /// standard normal noise (ignored when s = 0).
  ///
  /// `clip` > 0 (Å) clamps the clean estimate L̂_0 of strided and DDIM steps
  /// to [−clip, clip] (as Ho et al. clip images to [−1, 1]): the cosine
  /// schedule has ᾱ_T ≈ 2e-10, so L̂_0 = (L_T − sqrt(1 − ᾱ_T) ε̂)/sqrt(ᾱ_T)
  /// multiplies the network's error by ~6e4 at the first step, and a few
  /// large strided steps otherwise blow the cell up. The single steps
  /// s = t − 1 (DiffCSP's form) are never clipped.
  torch::Tensor step_ancestral(const torch::Tensor& lt, const torch::Tensor& eps_pred, int t, int s,
                               const torch::Tensor& z, double clip = 0) const;
  /// Deterministic DDIM step t → s. DDIM is Euler's method for the
  /// probability-flow ODE in y = L/sqrt(ᾱ) against ς = sqrt((1 − ᾱ)/ᾱ),
  /// where dy/dς = ε̂; a Heun step averages ε̂ at both ends and takes this
  /// step with the average.
  torch::Tensor step_ddim(const torch::Tensor& lt, const torch::Tensor& eps_pred, int t, int s,
                          double clip = 0) const;
  /// L̂_0 from L_t and ε̂, clamped to [−clip, clip] when clip > 0.
  torch::Tensor clean_estimate(const torch::Tensor& lt, const torch::Tensor& eps_pred, int t, double clip = 0) const;

  /// The same steps with a bound per crystal: `clip` [B] (Å, each > 0)
  /// clamps crystal b's clean estimate to [−clip_b, clip_b]; undefined =
  /// no clamp. Lattices [B, 3, 3] only.
  torch::Tensor step_ancestral(const torch::Tensor& lt, const torch::Tensor& eps_pred, int t, int s,
                               const torch::Tensor& z, const torch::Tensor& clip) const;
  torch::Tensor step_ddim(const torch::Tensor& lt, const torch::Tensor& eps_pred, int t, int s,
                          const torch::Tensor& clip) const;
  torch::Tensor clean_estimate(const torch::Tensor& lt, const torch::Tensor& eps_pred, int t,
                               const torch::Tensor& clip) const;

 private:
  CosineBetaSchedule schedule_;
};

}  // namespace xtaldiff
