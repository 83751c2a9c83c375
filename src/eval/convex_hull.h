/// @file
/// The formation-energy convex hull of a set of known compounds, with
/// pymatgen's PhaseDiagram semantics: every element's reference at 0 eV/atom,
/// energies per atom, and a compound's energy above the hull the distance
/// from its formation energy down to the lower convex envelope of the
/// entries of its chemical system (and of every subsystem) at its
/// composition. It is how DNG papers count "stable" (S.U.N.) samples; here
/// the entries are MP-20's training rows and the sample energies predicted,
/// so the answer is an estimate, never DFT stability.
///
/// The envelope at composition x is a linear program: minimise Σ λᵢ eᵢ over
/// entries i with Σ λᵢ xᵢ = x, λ ≥ 0. The elemental references form a
/// feasible starting basis, so one phase of the simplex method (Bland's
/// rule: hull entries are often degenerate) solves it, exactly, in a few
/// pivots for the 2-5 elements of a crystal. pymatgen builds the whole hull
/// with qhull instead; the value at a composition is the same.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "chem/composition.h"

namespace xtaldiff {

struct HullEntry {
  std::string id;
  Composition composition;
  double formation_energy_per_atom = 0;  ///< eV/atom, elements at 0
};

/// One phase of the decomposition of a composition on the hull.
struct HullPhase {
  int entry = -1;      ///< index into the entries, -1 = an element's reference
  int element = 0;     ///< Z when entry == -1
  double fraction = 0; ///< share of the composition's atoms
};

struct HullPoint {
  double energy_per_atom = 0;        ///< the hull's formation energy at the composition
  std::vector<HullPhase> decomposition;
};

class ConvexHull {
 public:
  /// Entries with non-finite energies are refused (Error naming the id).
  explicit ConvexHull(std::vector<HullEntry> entries);

  /// The lower envelope at a composition (any amounts: normalised here).
  HullPoint at(const Composition& composition) const;
  /// e − hull energy at the composition: ≤ 0 on or below the hull.
  double energy_above_hull(const Composition& composition, double formation_energy_per_atom) const;

  const std::vector<HullEntry>& entries() const { return entries_; }

 private:
  using Mask = std::array<uint64_t, 2>;  // one bit per Z (1..118)
  std::vector<HullEntry> entries_;
  std::vector<Mask> masks_;
};

}  // namespace xtaldiff
