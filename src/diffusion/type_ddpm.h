/// @file
/// DiffCSP's diffusion of atom types for de novo generation: each atom's
/// type is a one-hot vector over the vocabulary (Z 1..V), noised by the same
/// cosine DDPM as the lattice, a_t = sqrt(ᾱ_t) a_0 + sqrt(1 − ᾱ_t) ε; the
/// network predicts ε. Reverse steps are written through the predicted clean
/// vector â_0 rather than ε̂, because that is where constraints act: the
/// sampler clips â_0 to [0, 1] (a one-hot vector lies there), zeroes the
/// elements a request forbids, or replaces â_0 by a feasible assignment, and
/// then takes the DDPM posterior step q(a_s | a_t, â_0). With â_0 left as
/// the network gave it, the step is exactly the ε-form ancestral step.
#pragma once

#include "diffusion/schedules.h"
#include "ml/torch_pch.h"

namespace xtaldiff {

class TypeDdpm {
 public:
  explicit TypeDdpm(int steps) : schedule_(steps) {}
  const CosineBetaSchedule& schedule() const { return schedule_; }

  /// One-hot vectors [N, vocab] of atomic numbers [N] (Z 1..vocab).
  static torch::Tensor one_hot(const torch::Tensor& atomic_numbers, int vocab);
  /// Noised type vectors for per-atom times t [N] (int64) and noise ε [N, V].
  torch::Tensor noise(const torch::Tensor& a0, const torch::Tensor& t_per_atom, const torch::Tensor& eps) const;
  /// The same for one time t for all atoms (inpainting known types).
  torch::Tensor noise_at(const torch::Tensor& a0, int t, const torch::Tensor& eps) const;
  /// â_0 = (a_t − sqrt(1 − ᾱ_t) ε̂) / sqrt(ᾱ_t).
  torch::Tensor predict_clean(const torch::Tensor& at, const torch::Tensor& eps_pred, int t) const;
  /// ε implied by a_t and a clean estimate: (a_t − sqrt(ᾱ_t) â_0) / sqrt(1 − ᾱ_t).
  torch::Tensor implied_noise(const torch::Tensor& at, const torch::Tensor& a0_hat, int t) const;
  /// Ancestral step t → s from the posterior q(a_s | a_t, â_0); `z` standard
  /// normal (unused when s = 0, which returns â_0's posterior mean = â_0).
  torch::Tensor step_ancestral(const torch::Tensor& at, const torch::Tensor& a0_hat, int t, int s,
                               const torch::Tensor& z) const;
  /// Deterministic (DDIM) step t → s: sqrt(ᾱ_s) â_0 + sqrt(1 − ᾱ_s) ε(a_t, â_0).
  torch::Tensor step_ddim(const torch::Tensor& at, const torch::Tensor& a0_hat, int t, int s) const;

 private:
  CosineBetaSchedule schedule_;
};

}  // namespace xtaldiff
