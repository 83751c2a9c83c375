/// @file
/// Sampling crystal structures for given compositions (CSP) by reversing
/// the joint lattice / coordinate diffusion. Samplers:
///  - pc: DiffCSP's predictor-corrector (per step one Langevin corrector on
///    the coordinates, then the reverse-VE predictor and the ancestral
///    lattice step; 2 network evaluations per step);
///  - ancestral: the predictor alone (1 evaluation per step);
///  - ode: probability-flow ODE, Euler steps (DDIM for the lattice, Euler
///    in σ on the torus), deterministic given the starting noise;
///  - heun: the same ODE with Heun's second-order steps (2 evaluations per
///    step, 1 for the last step to t = 0), for few-step sampling.
/// `steps` below T strides the time grid evenly (T → 0). Crystals whose
/// result is not finite or has a degenerate cell are re-sampled with fresh
/// noise (reported), never returned as NaN.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "crystal/structure.h"
#include "model/csp_model.h"

namespace xtaldiff {

enum class SamplerKind { kPc, kAncestral, kOde, kHeun };
SamplerKind parse_sampler(const std::string& name);
const char* sampler_name(SamplerKind k);
/// Network evaluations per crystal of `kind` over `steps` time steps.
long evaluations_per_crystal(SamplerKind kind, int steps);

struct SampleOptions {
  SamplerKind kind = SamplerKind::kPc;
  int steps = 0;          ///< time steps; 0 = the model's T
  double step_lr = -1;    ///< Langevin step; < 0 = the model's default
  uint64_t seed = 0;
  int batch_atoms = 8192; ///< atoms per network batch (memory vs speed)
  int max_retries = 3;    ///< re-sampling attempts for non-finite crystals
  std::string device = "cpu";
};

struct SampleReport {
  std::size_t crystals = 0;
  std::size_t retried = 0;   ///< crystals re-sampled after a non-finite result
  std::size_t failed = 0;    ///< still non-finite after all retries (returned empty)
  long network_evaluations = 0;  ///< per crystal
  double seconds = 0;
};

/// One structure per entry of `tasks` (each a list of atomic numbers).
/// `progress(done, total)` is called after each batch.
std::vector<Structure> sample_csp(CspModel& model, const std::vector<std::vector<int>>& tasks,
                                  const SampleOptions& options, SampleReport* report = nullptr,
                                  const std::function<void(std::size_t, std::size_t)>& progress = {});

}  // namespace xtaldiff
