/// @file
/// Wrapping on the unit torus for tensors, shared by the VE score process
/// (torus_ve) and flow matching (torus_flow).
#pragma once

#include "ml/torch_pch.h"

namespace xtaldiff {

/// Into [0, 1): a point of the torus.
inline torch::Tensor frac_mod1(const torch::Tensor& x) { return x - torch::floor(x); }
/// Into [−½, ½): the shortest displacement on the circle.
inline torch::Tensor wrap_half(const torch::Tensor& d) { return d - torch::floor(d + 0.5); }

}  // namespace xtaldiff
