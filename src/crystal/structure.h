/// @file
/// A periodic crystal: a lattice and sites (atomic number + fractional
/// coordinates). Ordered sites only; disorder is refused at the readers.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "chem/composition.h"
#include "crystal/lattice.h"

namespace xtaldiff {

struct Structure {
  Lattice lattice;
  std::vector<int> species;  ///< atomic number of each site
  std::vector<Vec3> frac;    ///< fractional coordinates of each site

  Structure() = default;
  Structure(Lattice l, std::vector<int> z, std::vector<Vec3> f)
      : lattice(std::move(l)), species(std::move(z)), frac(std::move(f)) {}

  std::size_t size() const { return species.size(); }
  Vec3 cart(std::size_t i) const { return lattice.to_cartesian(frac[i]); }
  std::vector<Vec3> cart_coords() const;
  Composition composition() const { return Composition::from_species(species); }
  double volume() const { return lattice.volume(); }
  /// g/cm³ from pymatgen's atomic masses.
  double density() const;

  /// Fractional coordinates into [0, 1).
  void wrap();
  /// Throws Error when the structure is unusable: no sites, a non-finite
  /// coordinate, bad lattice, or species/coordinate counts that differ.
  void validate() const;
};

/// Wraps x into [0, 1), mapping values within 1e-12 of 1 to 0.
double wrap01(double x);

/// Shortest distance between sites i and j over periodic images (Å). For
/// i == j this is 0 (a site's own images are not considered).
double min_image_distance(const Structure& s, std::size_t i, std::size_t j);
/// All-pairs minimum-image distances (row-major n×n).
std::vector<double> distance_matrix(const Structure& s);
/// Smallest distance between two distinct sites, +inf with fewer than 2 sites.
double min_pair_distance(const Structure& s);

struct Neighbor {
  std::uint32_t i, j;   ///< site indices
  std::array<int, 3> image;  ///< cell offset of j: r_j + image·L - r_i
  double distance;
};
/// Every (i, j, image) with 0 < distance <= cutoff, both directions, including
/// a site's own periodic images. Cost grows with the number of images needed.
std::vector<Neighbor> neighbor_list(const Structure& s, double cutoff);

/// Supercell with lattice T · L for an integer matrix T with det > 0.
Structure make_supercell(const Structure& s, const IMat3& t);
/// Sites sorted by atomic number, then coordinates (stable).
Structure sorted_by_species(const Structure& s);
/// The sites of `s` in the order `order` (indices into s; a subset is allowed), same lattice.
Structure permuted(const Structure& s, const std::vector<std::size_t>& order);
/// Each site moved by a random Cartesian vector of length `distance` Å
/// (uniform direction), seeded.
Structure perturbed(const Structure& s, double distance, std::uint64_t seed);
/// The same crystal expressed in the lattice `new_lattice` (same points).
Structure with_lattice(const Structure& s, const Lattice& new_lattice);
/// Niggli-reduced cell with coordinates mapped and wrapped.
Structure niggli_reduced(const Structure& s, double tol = 1e-5);

}  // namespace xtaldiff
