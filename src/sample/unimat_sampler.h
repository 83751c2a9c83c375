/// @file
/// De novo sampling with a UniMat generation model (Yang et al., ICLR
/// 2024): the reverse of the Gaussian DDPM on the whole periodic-table
/// tensor and the lattice. Each step takes the network's clean estimate of
/// the tensor (its x0 prediction), clips it to the value range
/// [−1, 1] (as DDPM clips images) and sets the cells of elements the
/// request forbids (or the model's vocabulary lacks) to the null value, so
/// those elements can never appear; then a DDIM step (`ode`, deterministic)
/// or a posterior step (`ancestral`) to the next time. The last clean
/// tensor is decoded by crystal/unimat_tensor.h (a slot is an atom when no
/// coordinate lies below −0.5), so the tensor itself decides how many atoms
/// of which elements a crystal has: the tasks' atom counts are not used.
///
/// Constraints: forbidden elements are masked at every step (exact); a cap
/// on the number of elements keeps the elements with the most atoms; a
/// crystal that lacks a required element, has no atom, or has a non-finite
/// or degenerate cell is drawn again with fresh noise (counted as retried;
/// after SampleOptions::max_retries it is returned empty and counted as
/// failed).
#pragma once

#include <vector>

#include "sample/sampler.h"

namespace xtaldiff {

/// Throws a usage Error naming the first thing a UniMat generation model
/// cannot do for this request (a composition to inpaint, a sampler other
/// than ode or ancestral, guidance, conditions, flow-only options).
void check_unimat_tensor_request(const DiffusionModel& model, const std::vector<CrystalTask>& tasks,
                                 const SampleOptions& options);

/// One structure per task (see the file comment); `model` must be a UniMat
/// generation model.
std::vector<Structure> sample_unimat_tensors(DiffusionModel& model, const std::vector<CrystalTask>& tasks,
                                             const TypeConstraints& constraints, const SampleOptions& options,
                                             SampleReport* report = nullptr, const SampleProgress& progress = {});

}  // namespace xtaldiff
