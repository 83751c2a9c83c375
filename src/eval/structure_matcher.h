/// @file
/// pymatgen's StructureMatcher (2022.11.7, `analysis/structure_matcher.py`),
/// re-implemented: do two crystals describe the same structure, and how far
/// apart are their sites? This is the test behind the CSP match rate / RMSE
/// (stol 0.5, ltol 0.3, angle_tol 10) and the uniqueness / novelty checks
/// (pymatgen defaults), see /work/shared/docs/METRICS.md.
///
/// Semantics follow pymatgen with the default SpeciesComparator (species =
/// atomic numbers), allow_subset = False, supercell_size = "num_sites", no
/// ignored species:
///  1. each structure is Niggli-reduced and (primitive_cell) reduced to the
///     primitive cell by pymatgen's own translation search
///     (`Structure.get_primitive_structure(tolerance=0.25)`, not spglib);
///  2. (scale) both volumes are brought to their geometric mean;
///  3. every basis of structure 1's lattice whose lengths are within a factor
///     (1 + ltol) of structure 2's and whose angles are within angle_tol is
///     tried, on the lattice averaged with structure 2's; every translation
///     that puts a site of the least frequent species onto the same site of
///     structure 2 is tried; sites are paired by optimal assignment on
///     squared distances within each species, the mean displacement removed,
///     and displacements divided by (V/N)^(1/3) of the averaged lattice;
///  4. get_rms_dist keeps the smallest rms = sqrt(mean d²) (a match when it is
///     below stol), fit accepts the first mapping whose largest displacement
///     is below stol.
#pragma once

#include <optional>

#include "crystal/structure.h"

namespace xtaldiff {

struct MatcherOptions {
  double ltol = 0.2;           ///< fractional length tolerance
  double stol = 0.3;           ///< site tolerance, in units of (V/N)^(1/3)
  double angle_tol = 5.0;      ///< degrees
  bool primitive_cell = true;  ///< reduce both to primitive cells first
  bool scale = true;           ///< bring both to the same volume
  /// Also compare a supercell of the smaller primitive cell with the larger
  /// one when their site counts differ by an integer factor.
  bool attempt_supercell = false;
};

struct MatchResult {
  bool match = false;
  std::optional<double> rms;       ///< normalised rms displacement (when match)
  std::optional<double> max_dist;  ///< largest normalised displacement (when match)
};

class StructureMatcher {
 public:
  explicit StructureMatcher(MatcherOptions options = {}) : options_(options) {}
  const MatcherOptions& options() const { return options_; }

  /// pymatgen `get_rms_dist(a, b)`: the smallest rms over all mappings, with
  /// the largest displacement of that mapping; no match (empty rms) when no
  /// mapping has rms < stol. Like pymatgen, no composition test beyond
  /// "same species, same counts after reduction". Throws Error for an
  /// empty or degenerate structure.
  MatchResult get_rms_dist(const Structure& a, const Structure& b) const;
  /// pymatgen `fit(a, b)` (symmetric = False): equal fractional
  /// compositions, then true when some mapping has every normalised
  /// displacement <= stol.
  bool fit(const Structure& a, const Structure& b) const;

 private:
  MatcherOptions options_;
};

/// pymatgen `Structure.get_primitive_structure(tolerance)` followed, when a
/// smaller cell is found, by its Niggli reduction (as pymatgen does): sites
/// are grouped by element, candidate cells are the upper-triangular integer
/// supercell matrices whose translations map every site onto one of the same
/// element within `tolerance` Å, and each group of equivalent sites is
/// averaged. Returns the input unchanged when no smaller cell exists.
Structure primitive_cell_pymatgen(const Structure& s, double tolerance = 0.25);

}  // namespace xtaldiff
