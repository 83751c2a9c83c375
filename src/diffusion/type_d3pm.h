/// @file
/// Absorbing-state discrete diffusion of atom types (D3PM, Austin et al.
/// 2021; the variant MatterGen and Chemeleon use). States 0..V−1 are the
/// elements Z = 1..V, state V is the mask. Each forward step masks an
/// unmasked atom with probability β_t = 1/(T − t + 1), so an atom is still
/// unmasked at time t with probability ᾱ_t = 1 − t/T, and fully masked at T.
///
///   Q_t  = (1 − β_t) I + β_t 1 e_Mᵀ      (row-stochastic: Q[i][j] = q(x_t = j | x_{t−1} = i))
///   Q̄_t = ᾱ_t I + (1 − ᾱ_t) 1 e_Mᵀ
///
/// The posterior q(x_s | x_t, x_0) (s < t, so strided sampling is exact)
/// keeps an unmasked atom as it is and unmasks a masked one to x_0 with
/// probability (ᾱ_s − ᾱ_t) / (1 − ᾱ_t). The network predicts p̃(x_0 | x_t);
/// the reverse step is the posterior averaged over it (the x_0
/// parametrisation). The hybrid loss per atom is L_vb + λ L_ce; for the
/// absorbing process both vanish on unmasked atoms (their x_0 is known) and,
/// on masked ones, KL(q ‖ p_θ) = r_t · (−log p̃(x_0)) with r_t the unmasking
/// probability of the step t → t − 1.
#pragma once

#include "ml/torch_pch.h"

namespace xtaldiff {

class TypeD3pm {
 public:
  TypeD3pm(int steps, int vocab) : steps_(steps), vocab_(vocab) {}
  int steps() const { return steps_; }
  int vocab() const { return vocab_; }
  int mask_state() const { return vocab_; }
  int num_states() const { return vocab_ + 1; }

  /// ᾱ_t = 1 − t/T: probability that an atom is unmasked at time t.
  double keep(int t) const { return 1.0 - double(t) / steps_; }
  /// β_t = 1/(T − t + 1), t = 1..T.
  double beta(int t) const { return 1.0 / (steps_ - t + 1); }
  /// Probability that a masked atom at time t is unmasked by time s < t.
  double unmask_probability(int t, int s) const { return (keep(s) - keep(t)) / (1.0 - keep(t)); }

  /// One-step and cumulative transition matrices [V+1, V+1] (float64).
  torch::Tensor transition(int t) const;
  torch::Tensor cumulative_transition(int t) const;
  /// q(x_s | x_t, x_0) for every (x_t, x_0) pair as a tensor [x_t, x_0, x_s]
  /// computed from the matrices (Bayes' rule); rows with q(x_t | x_0) = 0 are 0.
  torch::Tensor posterior_from_matrices(int t, int s) const;

  /// Forward noising: states [N] int64 (0..V−1) masked independently with
  /// probability 1 − ᾱ_t of each atom's time t [N]; `u` uniform [N].
  torch::Tensor noise(const torch::Tensor& x0, const torch::Tensor& t_per_atom, const torch::Tensor& u) const;
  /// One-hot network input [N, V+1] of states [N].
  torch::Tensor input(const torch::Tensor& states) const;
  /// Hybrid loss (mean over atoms): L_vb + λ L_ce, see the file comment.
  torch::Tensor loss(const torch::Tensor& logits, const torch::Tensor& x0, const torch::Tensor& xt,
                     const torch::Tensor& t_per_atom, double lambda) const;
  /// Reverse step t → s: masked atoms become `x0_draw` (states drawn from
  /// p̃, or a projection of it) with the unmasking probability; `u` uniform
  /// [N]. Unmasked atoms keep their state, except where `x0_draw` differs
  /// and `override_unmasked` is set (a constraint projection moved them).
  torch::Tensor step(const torch::Tensor& xt, const torch::Tensor& x0_draw, int t, int s, const torch::Tensor& u,
                     bool override_unmasked = false) const;

 private:
  int steps_, vocab_;
};

}  // namespace xtaldiff
