/// @file
/// Chemical-space navigation: every reduced composition over a chemical
/// system's elements with coefficients 0..max_coeff (at least one non-zero),
/// duplicates after reduction removed (Li2S2 is LiS), kept when it passes
/// the same compositional validity as `eval` (SMACT 2.2.1, validity.h).
#pragma once

#include <string>
#include <vector>

#include "chem/composition.h"

namespace xtaldiff {

struct EnumerateOptions {
  int max_coeff = 6;
  bool valid_only = true;  ///< false: every reduced composition, valid or not
};

/// Compositions over `elements` (atomic numbers, distinct), ordered by
/// number of elements, then atoms per formula unit, then reduced formula.
/// Throws Error (kUsage) for an empty system, a repeated element, a
/// max_coeff below 1, or a search of more than 10^8 coefficient vectors.
std::vector<Composition> enumerate_compositions(const std::vector<int>& elements, const EnumerateOptions& options = {});

/// The same from a chemical system's text ("Li-P-S-Cl", or one element
/// "Si"); a formula of several elements ("Li3PS4") is an Error (kUsage).
std::vector<Composition> enumerate_system(const std::string& system, const EnumerateOptions& options = {});

}  // namespace xtaldiff
