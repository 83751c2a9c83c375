/// @file
/// Crystals as tensors for the networks. A batch concatenates the atoms of
/// B crystals (N atoms in all) and keeps, per crystal, its lattice and atom
/// count; `crystal_of_atom` maps atoms back to crystals. Crystals enter in
/// the DiffCSP canonical form: Niggli-reduced, lattice rebuilt from its
/// lengths and angles (pymatgen orientation), fractional coordinates wrapped.
#pragma once

#include <vector>

#include "crystal/structure.h"
#include "ml/torch_pch.h"

namespace xtaldiff {

constexpr int kMaxAtomicNumber = 100;  ///< atom-type vocabulary of the networks (Z 1..100)

struct CrystalBatch {
  torch::Tensor atom_types;       ///< [N] int64, atomic numbers
  torch::Tensor frac;             ///< [N, 3] float, in [0, 1)
  torch::Tensor lattice;          ///< [B, 3, 3] float, rows = vectors (Å)
  torch::Tensor num_atoms;        ///< [B] int64
  torch::Tensor crystal_of_atom;  ///< [N] int64 in 0..B-1
  std::vector<int64_t> counts;    ///< num_atoms on the host (shapes, edge building)
  torch::Tensor spacegroup;       ///< [B] int64 labels 1..230 for conditioned training; undefined = none
  torch::Tensor properties;       ///< [B, K] float labels of property-conditioned training (NaN = missing)

  int64_t num_crystals() const { return static_cast<int64_t>(counts.size()); }
  int64_t total_atoms() const { return atom_types.size(0); }
  CrystalBatch to(const torch::Device& device) const;
};

/// DiffCSP's canonical form of a structure (see file comment).
Structure canonical_structure(const Structure& s);
/// Stacks structures (taken as given: canonicalise first) into a batch.
CrystalBatch make_batch(const std::vector<const Structure*>& structures);
/// Back to structures (on the CPU, float64), wrapping coordinates.
std::vector<Structure> batch_to_structures(const torch::Tensor& atom_types, const torch::Tensor& frac,
                                           const torch::Tensor& lattice, const std::vector<int64_t>& counts);

}  // namespace xtaldiff
