/// @file
/// Symmetry refinement of a structure in its own cell: the space group is
/// found by spglib at a tolerance, then the lattice metric and the sites are
/// averaged over the group's operations (the Reynolds projection), so the
/// result has that group exactly, with the same atoms in the same order
/// and the same cell (lattice parameters idealised, orientation pymatgen's).
/// `sample --refine-symmetry TOL` writes it beside the raw samples; it is a
/// post-processing step, reported separately from the raw sampler's numbers.
#pragma once

#include <optional>

#include "crystal/structure.h"

namespace xtaldiff {

struct SymmetrizeResult {
  Structure structure;
  int spacegroup = 0;         ///< the group found at the tolerance and imposed
  double max_shift = 0;       ///< largest site displacement (Å)
};

/// The refined structure, or nullopt when spglib finds no group at
/// `symprec` (atoms overlapping within it) or an operation does not map
/// the atoms onto each other one to one.
std::optional<SymmetrizeResult> symmetrize(const Structure& s, double symprec, double angle_tol = 5.0);

}  // namespace xtaldiff
