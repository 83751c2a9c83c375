/// @file
/// Hard constraints on the atom types of generated crystals, and the
/// projection that makes a type assignment satisfy them. The sampler zeroes
/// forbidden elements in the predicted clean types at every step, and (when
/// elements are required or their number is capped) replaces the prediction
/// by the nearest feasible assignment in the late steps and always at the
/// last one, so every returned crystal satisfies the request exactly.
#pragma once

#include <string>
#include <vector>

namespace xtaldiff {

struct TypeConstraints {
  std::vector<int> allowed;   ///< atomic numbers that may appear; empty = any in the vocabulary
  std::vector<int> required;  ///< atomic numbers that must each appear at least once
  int max_elements = 0;       ///< at most this many distinct elements per crystal; 0 = no cap

  bool needs_projection() const { return !required.empty() || max_elements > 0; }
  bool allows(int z) const;
  /// Human-readable form for manifests and messages ("elements Li,P,S; require Li; ≤ 3 elements").
  std::string describe() const;
};

/// Throws Error (kUsage) when no crystal of `num_atoms` atoms can satisfy
/// `c` within the vocabulary Z 1..vocab: a required element that is not
/// allowed, more required elements than the cap or than atoms, an element
/// outside the vocabulary.
void check_feasible(const TypeConstraints& c, int num_atoms, int vocab);

/// The assignment of `n` atoms (row-major scores [n, vocab], higher = more
/// likely; column k is Z = k + 1) that satisfies `c`: the element set is
/// the required elements plus the best-scoring elements of the per-atom
/// argmax (by total score, up to the cap); each atom takes its best element
/// of that set; a required element still missing takes the atom that loses
/// least by switching, among atoms whose element is not required or occurs
/// more than once. Returns atomic numbers. Requires check_feasible to pass.
std::vector<int> feasible_assignment(const float* scores, int n, int vocab, const TypeConstraints& c);

}  // namespace xtaldiff
