/// @file
/// The wrapped normal distribution on the unit circle [0, 1): the density of
/// x + k (k ∈ ℤ) for x ~ N(0, σ²). Its score is an image sum; DiffCSP trains
/// the coordinate denoiser on it with k = −10..10.
#pragma once

#include "ml/torch_pch.h"

namespace xtaldiff {

constexpr int kWrappedNormalImages = 10;  ///< image sum k = −10..10, as DiffCSP

/// log p_σ(x) (unnormalised by nothing: a proper density on [0, 1)).
double wrapped_normal_log_density(double x, double sigma, int images = kWrappedNormalImages);
/// d/dx log p_σ(x).
double wrapped_normal_score(double x, double sigma, int images = kWrappedNormalImages);
/// λ(σ) = E_{x~p_σ}[score(x)²], by quadrature (deterministic, 1e-9 relative).
double wrapped_normal_score_second_moment(double sigma);

/// Elementwise −d/dx log p_σ(x) for tensors (σ broadcasts); stable for any
/// x and σ > 0 (log-sum-exp over images). This is DiffCSP's
/// d_log_p_wrapped_normal, i.e. the negated score.
torch::Tensor wrapped_normal_neg_score(const torch::Tensor& x, const torch::Tensor& sigma,
                                       int images = kWrappedNormalImages);

}  // namespace xtaldiff
