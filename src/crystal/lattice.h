/// @file
/// A crystal lattice: three vectors (rows of a 3x3 matrix, Å). Construction
/// from lengths and angles uses pymatgen's `Lattice.from_parameters`
/// orientation (c along z, a in the xz plane), so matrices agree with pymatgen.
#pragma once

#include "crystal/linalg.h"

namespace xtaldiff {

class Lattice {
 public:
  Lattice() : m_(identity3()) {}
  /// Rows are the lattice vectors a, b, c in Å. No validation: see validate().
  explicit Lattice(const Mat3& rows) : m_(rows) {}
  /// From a, b, c (Å) and alpha, beta, gamma (degrees).
  static Lattice from_parameters(double a, double b, double c, double alpha, double beta, double gamma);
  static Lattice from_parameters(const Vec3& lengths, const Vec3& angles_deg) {
    return from_parameters(lengths[0], lengths[1], lengths[2], angles_deg[0], angles_deg[1], angles_deg[2]);
  }

  const Mat3& matrix() const { return m_; }
  const Vec3& vector(int i) const { return m_[i]; }
  Vec3 lengths() const;
  /// alpha (b,c), beta (a,c), gamma (a,b) in degrees.
  Vec3 angles() const;
  /// |det|, Å³.
  double volume() const;
  /// Metric tensor G = L Lᵀ.
  Mat3 metric() const { return matmul(m_, transpose(m_)); }
  /// Reciprocal lattice with the 2π factor (pymatgen `reciprocal_lattice`).
  Lattice reciprocal() const;
  /// Reciprocal lattice without 2π (pymatgen `reciprocal_lattice_crystallographic`).
  Lattice reciprocal_crystallographic() const;

  Vec3 to_cartesian(const Vec3& frac) const { return vecmat(frac, m_); }
  Vec3 to_fractional(const Vec3& cart) const { return vecmat(cart, inverse(m_)); }

  /// Throws Error("...") when any entry is non-finite or the volume is below
  /// `min_volume` (a degenerate cell).
  void validate(double min_volume = 1e-6) const;
  bool is_valid(double min_volume = 1e-6) const;

  /// LLL-reduced basis (delta = 0.75, as pymatgen). `transform`, when given,
  /// receives the integer matrix T with reduced = T · this.
  Lattice lll_reduced(double delta = 0.75, IMat3* transform = nullptr) const;
  /// Niggli-reduced lattice following pymatgen's get_niggli_reduced_lattice
  /// (Grosse-Kunstleve et al. 2004 with tolerance `tol` · V^(1/3)); the cell
  /// is right-handed, and orientation follows pymatgen so parameters agree.
  /// Throws Error when the reduction does not converge.
  Lattice niggli_reduced(double tol = 1e-5) const;

 private:
  Mat3 m_;
};

}  // namespace xtaldiff
