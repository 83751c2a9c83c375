/// @file
/// Decoding CDVAE latents (model/cdvae_model.h) into crystals by annealed
/// Langevin dynamics, CDVAE's sampler:
///  1. the heads read z: atom count N (argmax), lattice (from the
///     standardised lengths / N^(1/3) and angles), composition
///     probabilities, turned into N atom types (largest remainders);
///  2. coordinates start uniform in the cell;
///  3. for each noise level σ_k from the largest (levels below `min_sigma`
///     skipped), `steps_per_level` steps of size
///     η_k = step_lr · (σ_k / σ_min)²:
///        x ← x + η_k · d̂ / σ_k + sqrt(2 η_k) · ε   (Cartesian, then wrapped)
///     where d̂ is the decoder's displacement; the types become the
///     decoder's most likely ones after every step.
/// Network evaluations per crystal: levels used × steps_per_level (CDVAE:
/// 50 × 100 = 5000), + 1 with the final denoising step.
///
/// Generation draws z ~ N(0, I); reconstruction uses the encoder's mean μ
/// of each given crystal. Element constraints act on the composition head
/// and on every type update (forbidden elements masked; required elements
/// and an element cap through sample/type_constraints.h's feasible
/// assignment), so every output obeys them.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "crystal/structure.h"
#include "model/cdvae_model.h"
#include "model/property_model.h"
#include "sample/sampler.h"
#include "sample/type_constraints.h"

namespace xtaldiff {

struct CdvaeSampleOptions {
  int steps_per_level = 0;  ///< Langevin steps per noise level; 0: the model's
  double step_lr = -1;      ///< η scale; < 0: the model's
  double min_sigma = 0;     ///< levels with σ below this are skipped
  uint64_t seed = 42;
  int batch = 128;          ///< crystals per network batch
  std::string device = "cpu";
  TypeConstraints constraints;  ///< generation and reconstruction alike
  /// How types change during the dynamics: "composition" (default) keeps
  /// the composition the heads chose and, after every step, redistributes
  /// those atoms over the sites by the decoder's type scores (greedy
  /// assignment: the highest-scoring (atom, element) pairs first while the
  /// element has atoms left); "decoder" takes the decoder's most likely
  /// type per atom (CDVAE's rule; it can drift away from the composition
  /// and, early at high noise, collapse to the majority element); "fixed"
  /// keeps the first assignment.
  std::string type_update = "composition";
  /// After the last level, one more decoder evaluation moves every atom to
  /// its clean-position estimate x + σ_min · d̂ (Tweedie's denoising step;
  /// CDVAE stops at the last Langevin step instead). On by default: on 200
  /// Perov-5 test rows it raised the space group kept from 47.5 % to
  /// 62.5 % (docs/RESULTS.md, "CDVAE").
  bool final_denoise = true;
};
/// Types [N] that keep each crystal's element counts of `types` and follow
/// `scores` [N, vocab] (see CdvaeSampleOptions::type_update).
torch::Tensor reassign_within_composition(const torch::Tensor& scores, const torch::Tensor& types,
                                          const std::vector<int64_t>& counts);

/// Crystals decoded from latent vectors z [B, latent] (any device), one per
/// row; a crystal that ends non-finite comes back empty and is counted in
/// `report->failed`. `first_batch_seed`: batch k draws its noise from seed
/// + first_batch_seed + k (so generation and reconstruction split into
/// calls reproduce one call).
std::vector<Structure> cdvae_decode(CdvaeModel& model, const torch::Tensor& z, const CdvaeSampleOptions& options,
                                    SampleReport* report = nullptr, const SampleProgress& progress = {});
/// `n` latents z ~ N(0, I) [n, latent] of a run seeded `seed`.
torch::Tensor cdvae_prior_latents(const CdvaeModel& model, int n, uint64_t seed);
/// `n` crystals from z ~ N(0, I).
std::vector<Structure> cdvae_generate(CdvaeModel& model, int n, const CdvaeSampleOptions& options,
                                      SampleReport* report = nullptr, const SampleProgress& progress = {});
/// The encoder's means μ [B, latent] of `crystals` (canonicalised first, as
/// in training), on the CPU.
torch::Tensor cdvae_latents(CdvaeModel& model, const std::vector<Structure>& crystals, const std::string& device,
                            int batch = 128);
/// One decoded crystal per given crystal (z = μ).
std::vector<Structure> cdvae_reconstruct(CdvaeModel& model, const std::vector<Structure>& crystals,
                                         const CdvaeSampleOptions& options, SampleReport* report = nullptr,
                                         const SampleProgress& progress = {});
/// CDVAE's property optimisation: `steps` Adam steps (rate `lr`) on the
/// latents z [B, latent] that lower the summed penalties of `targets`
/// (model/property_model.h's PropertyTarget, in units of each column's
/// training deviation) on the property head's predictions. Every target's
/// column must be one the head predicts (else a usage Error naming the
/// ones it has). Returns the moved latents, on the CPU.
torch::Tensor optimize_latents(CdvaeModel& model, const torch::Tensor& z, const std::vector<PropertyTarget>& targets,
                               int steps, double lr, const std::string& device);
/// Throws the usage Error of optimize_latents when a target's column is not
/// one the property head predicts.
void check_latent_targets(const CdvaeModel& model, const std::vector<PropertyTarget>& targets);
/// The property head's predictions [B, K] (columns' units) at latents z, on the CPU.
torch::Tensor latent_properties(CdvaeModel& model, const torch::Tensor& z, const std::string& device);
/// The Langevin step size of level k (see the file comment).
double cdvae_step_size(const CdvaeOptions& model, double step_lr, int level);

}  // namespace xtaldiff
