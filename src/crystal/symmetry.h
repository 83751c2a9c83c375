/// @file
/// Space-group analysis through spglib: the space group at a tolerance,
/// standard primitive and conventional cells, and the symmetrised structure
/// (symmetry-equivalent sites with Wyckoff letters) used by the CIF writer.
#pragma once

#include <string>
#include <vector>

#include "crystal/structure.h"

namespace xtaldiff {

constexpr double kDefaultSymprec = 0.1;  ///< Å, as CDVAE/DiffCSP analyses use
constexpr double kDefaultAngleTolerance = 5.0;  ///< degrees, pymatgen SpacegroupAnalyzer default

struct SymmetryOp {
  IMat3 rotation;   ///< acts on fractional column vectors: x' = R x + t
  Vec3 translation;
};

struct SpaceGroupInfo {
  int number = 0;                   ///< 1..230 (1 when spglib found none, see `found`)
  /// False when spglib found no group at this tolerance (atoms overlapping
  /// within symprec): `number` is then the P1 fallback, where pymatgen's
  /// SpacegroupAnalyzer raises instead.
  bool found = true;
  std::string international;        ///< short Hermann–Mauguin symbol, e.g. "Pm-3m"
  std::string hall;
  std::vector<SymmetryOp> operations;  ///< of the input cell
  std::vector<int> equivalent_atoms;   ///< representative index for each site
  std::vector<std::string> wyckoffs;   ///< Wyckoff letter of each site
  std::vector<std::string> site_symmetries;
};

/// Space group of `s` at tolerance `symprec` (Å) and angle tolerance
/// (degrees; pymatgen's SpacegroupAnalyzer uses 5). Throws Error if spglib fails outright.
SpaceGroupInfo analyze_symmetry(const Structure& s, double symprec = kDefaultSymprec, double angle_tol = kDefaultAngleTolerance);
/// Standardised primitive cell (spglib `standardize_cell`, to_primitive=1).
Structure standard_primitive(const Structure& s, double symprec = kDefaultSymprec);
/// Standardised conventional cell.
Structure standard_conventional(const Structure& s, double symprec = kDefaultSymprec);
/// Standard short Hermann–Mauguin symbol of a space group ("Pm-3m" for 221),
/// "" outside 1..230.
std::string spacegroup_symbol(int number);
/// Crystal system name ("cubic", ...) from a space-group number.
std::string crystal_system(int spacegroup_number);
/// The same as a number: 1 triclinic .. 7 cubic; 0 outside 1..230.
int crystal_system_number(int spacegroup_number);

}  // namespace xtaldiff
