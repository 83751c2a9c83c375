/// @file
/// Process-wide LibTorch settings: thread count (LibTorch starts with one
/// thread on some machines) and the device named on the command line.
#pragma once

#include <string>

#include "ml/torch_pch.h"

namespace xtaldiff {

/// Sets intra-op threads to `threads`, or to the machine's cores when 0.
/// Returns the count in effect.
int configure_threads(int threads);
/// "cpu", "cuda", "cuda:1": throws Error (kUsage) when unavailable.
torch::Device parse_device(const std::string& name);

}  // namespace xtaldiff
