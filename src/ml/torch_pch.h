/// @file
/// The precompiled header of every LibTorch translation unit. Including
/// <torch/torch.h> costs ~15 s of parsing per file; compiled once, it costs
/// a fraction of that. Only src/{data,diffusion,model,train,sample} and the
/// CLI commands that drive them include it.
#pragma once

#include <torch/torch.h>
