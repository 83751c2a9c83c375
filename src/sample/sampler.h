/// @file
/// Sampling crystal structures by reversing the joint lattice / coordinate
/// (/ type) diffusion: for given compositions (CSP; with a generation model
/// the known types are inpainted: fed noised to the level of each step) or
/// de novo with a generation model, whose types are diffused under the hard
/// constraints of type_constraints.h. Samplers:
///  - pc: DiffCSP's predictor-corrector (per step one Langevin corrector on
///    the coordinates, then the reverse-VE predictor and the ancestral
///    lattice step; 2 network evaluations per step);
///  - ancestral: the predictor alone (1 evaluation per step);
///  - ode: probability-flow ODE, Euler steps (DDIM for the lattice, Euler
///    in σ on the torus), deterministic given the starting noise;
///  - heun: the same ODE with Heun's second-order steps (2 evaluations per
///    step, 1 for the last step to t = 0), for few-step sampling.
/// A flow-matching model (DiffusionOptions::coord_objective "flow") moves
/// its coordinates by Euler (ode, ancestral) or Heun steps of its velocity;
/// pc's corrector needs a score and is refused.
/// `steps` below T strides the time grid evenly (T → 0). Crystals whose
/// result is not finite or has a degenerate cell are re-sampled with fresh
/// noise (reported), never returned as NaN.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "crystal/structure.h"
#include "model/diffusion_model.h"
#include "model/property_model.h"
#include "sample/type_constraints.h"

namespace xtaldiff {

class Distributed;

enum class SamplerKind { kPc, kAncestral, kOde, kHeun };
SamplerKind parse_sampler(const std::string& name);
const char* sampler_name(SamplerKind k);
/// Descending time grid T = t_0 > t_1 > ... > t_n = 0 with n = steps
/// (evenly strided).
std::vector<int> time_grid(int T, int steps);
struct SampleOptions;
/// The per-crystal clamp of the lattice's clean estimate (Å) for crystals
/// of `num_atoms` [B] atoms: the smaller of SampleOptions::lattice_clip and
/// lattice_clip_per_atom · N^(1/3), whichever are set; undefined when neither.
torch::Tensor lattice_clip_bounds(const SampleOptions& o, const torch::Tensor& num_atoms);
/// The seed of batch `batch`'s attempt `attempt` of a run seeded `seed`.
uint64_t batch_seed(uint64_t seed, std::size_t batch, int attempt);
/// Network evaluations per crystal of `kind` over `steps` time steps (each
/// counted twice under classifier-free guidance with w ∉ {0, 1}).
long evaluations_per_crystal(SamplerKind kind, int steps);

/// Classifier guidance by a property model (see property_model.h): every
/// network evaluation's outputs are shifted by scale × ∇ of the summed
/// target penalties at the current noisy crystal.
struct PropertyGuidance {
  PropertyModel* model = nullptr;
  std::vector<PropertyTarget> targets;
  std::vector<int> target_columns;  ///< column index of each target in the model
  double scale = 1.0;
};

struct SampleOptions {
  SamplerKind kind = SamplerKind::kPc;
  int steps = 0;          ///< time steps; 0 = the model's T
  double step_lr = -1;    ///< Langevin step; < 0 = the model's default
  uint64_t seed = 0;
  int batch_atoms = 8192; ///< atoms per network batch (memory vs speed)
  int max_retries = 3;    ///< re-sampling attempts for non-finite crystals
  std::string device = "cpu";
  const PropertyGuidance* guidance = nullptr;  ///< optional property guidance
  /// Space-group conditioning (networks trained with it): 1..230, 0 = none.
  /// Classifier-free guidance with weight w: ε̂ = ε̂_∅ + w (ε̂_sg − ε̂_∅),
  /// so w = 0 is unconditional sampling, w = 1 the conditional model and
  /// w > 1 sharpens it (two network evaluations per step unless w is 0 or 1).
  /// The same weight mixes the property condition of each task
  /// (CrystalTask::properties) for a property-conditioned model.
  int spacegroup = 0;
  double cfg_weight = 1.0;
  /// Clamp (Å) of the lattice's clean estimate in strided and ODE steps
  /// (see LatticeDdpm::step_ddim); 0 = none.
  double lattice_clip = 0;
  /// A bound that grows with the cell: crystal b's clean lattice estimate
  /// is clamped to lattice_clip_per_atom · N_b^(1/3) (Å) as well (cell
  /// lengths scale with the cube root of the atom count); 0 = none.
  double lattice_clip_per_atom = 0;
  /// The first ode / heun step from t = T takes the lattice's clean
  /// estimate as 0 instead of the network's (L̂_0 = (L_T − sqrt(1 − ᾱ_T) ε̂)
  /// / sqrt(ᾱ_T) multiplies the network's error by ~7e4 there; see
  /// sampler.cpp). Ancestral and pc steps are unchanged. Measured in
  /// docs/RESULTS.md ("The first lattice step").
  bool first_lattice_step_zero = true;
  /// "fp32" or "bf16": the network's weights and inputs in bfloat16 (the
  /// sampler's state and its updates stay float32; faster on CPUs with
  /// AVX512-BF16 and on GPUs, see docs/RESULTS.md for its effect on the metrics).
  std::string precision = "fp32";
  /// Flow models: velocity anti-annealing S ≥ 0 (see torus_flow.h; 0 = the
  /// plain ODE). Refused for score models.
  double anneal = 0;
  /// τ at which the anti-annealing starts (torus_flow.h); 1 = from the start.
  double anneal_onset = 1.0;
  /// Flow models: after the last step, `polish` more network evaluations at
  /// the low noise level τ = polish_time / T, each replacing coordinates and
  /// lattice by the network's clean estimate there (x ← x − τ·v̂,
  /// L ← L̂_0): a fixed-point iteration that pulls atoms the last steps left
  /// between sites onto them. 0 = none.
  int polish = 0;
  int polish_time = 20;
  /// Partial sampling from given structures (SDEdit): with start_time
  /// t_0 in 1..T every task must carry a `start` structure; its lattice and
  /// coordinates are noised to t_0 by the model's own forward processes (the
  /// flow path or the VE kernel for the coordinates, the lattice DDPM) and
  /// the sampler runs from t_0 to 0 in `steps` steps. Small t_0 keeps the
  /// start's arrangement and lets the model place its atoms precisely (e.g.
  /// a flow model refining a score model's outputs); t_0 = T forgets it.
  /// 0 = sample from noise.
  int start_time = 0;
  /// Data-parallel ranks (src/dist), or null: batch k runs on rank k mod
  /// world size and rank 0 returns every crystal, the same as one process
  /// with the same seed (the other ranks return empty structures).
  Distributed* dist = nullptr;
};

struct SampleReport {
  std::size_t crystals = 0;
  std::size_t retried = 0;   ///< crystals re-sampled after a non-finite result
  std::size_t failed = 0;    ///< still non-finite after all retries (returned empty)
  /// Why crystals were drawn again (messages say "re-sampled after ...").
  std::string retry_reason = "non-finite values";
  long network_evaluations = 0;  ///< per crystal
  double seconds = 0;
};

/// One crystal to sample: its atoms (CSP) or only their number (de novo).
struct CrystalTask {
  std::vector<int> species;  ///< atomic numbers; empty = de novo
  int num_atoms = 0;         ///< de novo atom count (ignored when species is given)
  /// Property-conditioned models: the value to condition on per column of
  /// CspNetOptions::condition_properties (NaN = none); empty = unconditioned.
  std::vector<double> properties{};
  /// SampleOptions::start_time > 0: the structure to start from (its species
  /// must equal `species`); empty otherwise.
  std::optional<Structure> start{};
  int size() const { return species.empty() ? num_atoms : static_cast<int>(species.size()); }
};

/// `progress(done, total)`: `done` counts finished crystals plus the share
/// of time steps the batch in flight has run, so a run of one large batch
/// still moves.
using SampleProgress = std::function<void(double done, std::size_t total)>;

/// Every check sample_crystals makes before any work (the model can sample
/// these tasks with these options and constraints); throws a usage Error
/// naming the first problem. Cheap: callers that plan a run call it first.
void check_sample_request(DiffusionModel& model, const std::vector<CrystalTask>& tasks, const TypeConstraints& constraints,
                          const SampleOptions& options);

/// One structure per task; de novo tasks need a generation model and obey
/// `constraints` (checked before any work: an impossible request throws).
/// `progress` is called after every time step and every batch.
std::vector<Structure> sample_crystals(DiffusionModel& model, const std::vector<CrystalTask>& tasks,
                                       const TypeConstraints& constraints, const SampleOptions& options,
                                       SampleReport* report = nullptr, const SampleProgress& progress = {});

/// CSP: one structure per entry of `tasks` (each a list of atomic numbers).
std::vector<Structure> sample_csp(DiffusionModel& model, const std::vector<std::vector<int>>& tasks,
                                  const SampleOptions& options, SampleReport* report = nullptr,
                                  const SampleProgress& progress = {});

}  // namespace xtaldiff
