/// @file
/// De novo generation metrics in the CDVAE protocol (METRICS.md):
/// validity shares over all generated crystals; coverage COV-R / COV-P from
/// CrystalNN (structure) and standardised Magpie (composition) fingerprints
/// with per-dataset cutoffs; 1-D Wasserstein distances of density and of the
/// number of distinct elements between `n_property` random valid samples
/// (seeded) and the reference set; uniqueness within the generated set and
/// novelty against a training set (StructureMatcher defaults, compared
/// within the same reduced composition).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "crystal/structure.h"

#include <nlohmann/json.hpp>

namespace xtaldiff {

struct CoverageCutoffs {
  double structure = 0.4, composition = 10.0;
  /// CDVAE's cutoffs: mp_20 (0.4, 10); carbon_24 and perov_5 (0.2, 4).
  static CoverageCutoffs for_dataset(const std::string& name);
};

struct GenEvalOptions {
  CoverageCutoffs cutoffs;
  std::size_t n_property = 1000;  ///< valid samples drawn for the Wasserstein distances
  uint64_t seed = 42;
  int threads = 0;
  /// Energy above the convex hull (eV/atom) of each generated crystal, from
  /// DFT or a learned model (NaN: unknown → not stable). Empty: no S.U.N.
  std::vector<double> e_above_hull;
  double stability_threshold = 0.1;  ///< eV/atom
};

struct GenResult {
  std::size_t n = 0;
  double struct_validity = 0, comp_validity = 0, validity = 0;
  double cov_recall = 0, cov_precision = 0;
  double wdist_density = 0, wdist_num_elems = 0;
  double uniqueness = 0;
  std::optional<double> novelty;  ///< when a training set is given
  std::optional<double> stability;  ///< share with e_above_hull ≤ threshold (when energies are given)
  std::optional<double> sun;        ///< stable ∧ unique ∧ novel share (energies and training set given)
  std::size_t property_samples = 0;
};

/// `generated` entries may be empty structures (unreadable): they count as
/// invalid and have no fingerprint.
GenResult evaluate_generation(const std::vector<Structure>& generated, const std::vector<Structure>& reference,
                              const std::vector<Structure>* training, const GenEvalOptions& options = {});

/// The summary `eval gen --json` prints (keys in docs/COMMANDS.md), less
/// the keys of a predicted stability (model/predicted_stability.h).
/// `stability_source` names where the energies came from (a column name,
/// or "predicted"); it is written only when stability was scored.
nlohmann::ordered_json gen_result_json(const GenResult& r, const GenEvalOptions& options,
                                       const std::string& stability_source = "e_above_hull");

/// 1-D Wasserstein (earth mover's) distance between two empirical samples
/// (scipy.stats.wasserstein_distance with unit weights).
double wasserstein_1d(std::vector<double> u, std::vector<double> v);

}  // namespace xtaldiff
