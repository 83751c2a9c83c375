/// @file
/// StructureMatcher as pymatgen 2022.11.7 computes it (see the header for the
/// algorithm). The pymatgen functions each part reproduces are named in the
/// comments; pymatgen's Cython helpers (`pbc_shortest_vectors`,
/// `is_coord_subset_pbc`, `LinearAssignment`) are reproduced in behaviour,
/// not in code.
///
/// Deliberate differences that cannot change an answer:
///  * Site pairs of different species are never built (pymatgen fills them
///    with 1e20 and lets the assignment avoid them); the assignment is solved
///    per species, which is the same optimum. A translation whose pairs
///    within the LLL fractional tolerance admit no complete assignment is
///    skipped: pymatgen assigns a 1e20 pair there and the displacement
///    (~1e10) can never be below stol.
///  * Two shortcuts return pymatgen's answer with less work: the image search
///    skips images that an eigenvalue bound proves longer, and the assignment
///    is read off directly when every row's unique cheapest column differs.
///
/// Reproduced details of pymatgen that decide ties and early exits
/// (get_rms_dist stops at the first rms below 1e-5): candidate lattice
/// vectors come in the order of pymatgen's cell-list neighbour search, with
/// its single-precision radius; translations in site order; numpy rounding
/// (half to even) where numpy rounds and C rounding where Cython does.
#include "eval/structure_matcher.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <utility>
#include <vector>

#include "chem/element.h"

namespace xtaldiff {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNiggliTol = 1e-5;  ///< pymatgen get_niggli_reduced_lattice default

/// numpy's float `x % 1` (result in [0, 1]; a tiny negative x gives 1.0).
double mod1(double x) {
  return x - std::floor(x);
}
/// Distance of a fractional difference from the nearest integer (numpy
/// style: `d - np.round(d)`).
double frac_offset_np(double d) {
  return std::fabs(d - round_half_even(d));
}

/// |d - round(d)| with C's round (half away from zero), as pymatgen's
/// Cython helpers compute it. Inline: without SSE4.1 (the project builds for
/// baseline x86-64) std::round is a libm call, and this sits in the
/// innermost loops. Coordinates here are small; huge ones take std::round.
inline double offset_from_integer(double d) {
  if (!(std::fabs(d) < 1e15)) return std::fabs(d - std::round(d));
  const double r = static_cast<double>(static_cast<long long>(d + (d >= 0 ? 0.5 : -0.5)));
  return std::fabs(d - r);
}

Vec3 div(const Vec3& v, double s) {
  return {v[0] / s, v[1] / s, v[2] / s};
}

/// np.allclose(a, b): |a - b| <= 1e-8 + 1e-5 |b| everywhere.
bool allclose(const Mat3& a, const Mat3& b) {
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j)
      if (!(std::fabs(a[i][j] - b[i][j]) <= 1e-8 + 1e-5 * std::fabs(b[i][j]))) return false;
  return true;
}

/// Inverse of an integer matrix with det ±1 (exact).
Mat3 unimodular_inverse(const IMat3& m) {
  const Mat3 d = to_double(m);
  const double dt = std::round(det(d));
  const Vec3 c0 = cross(d[1], d[2]), c1 = cross(d[2], d[0]), c2 = cross(d[0], d[1]);
  return {{{c0[0] / dt, c1[0] / dt, c2[0] / dt},
           {c0[1] / dt, c1[1] / dt, c2[1] / dt},
           {c0[2] / dt, c1[2] / dt, c2[2] / dt}}};
}

/// Smallest eigenvalue of a symmetric 3×3 matrix (closed form).
double min_eigenvalue_symmetric(const Mat3& a) {
  const double p1 = a[0][1] * a[0][1] + a[0][2] * a[0][2] + a[1][2] * a[1][2];
  const double q = (a[0][0] + a[1][1] + a[2][2]) / 3;
  const double p2 =
      (a[0][0] - q) * (a[0][0] - q) + (a[1][1] - q) * (a[1][1] - q) + (a[2][2] - q) * (a[2][2] - q) + 2 * p1;
  const double p = std::sqrt(p2 / 6);
  if (p == 0) return q;
  Mat3 b = a;
  for (int i = 0; i < 3; ++i) {
    b[i][i] -= q;
    for (int j = 0; j < 3; ++j) b[i][j] /= p;
  }
  const double r = std::max(-1.0, std::min(1.0, det(b) / 2));
  const double phi = std::acos(r) / 3;
  return q + 2 * p * std::cos(phi + 2 * kPi / 3);
}

long det_int(const IMat3& m) {
  return static_cast<long>(m[0][0]) * (static_cast<long>(m[1][1]) * m[2][2] - static_cast<long>(m[1][2]) * m[2][1]) -
         static_cast<long>(m[0][1]) * (static_cast<long>(m[1][0]) * m[2][2] - static_cast<long>(m[1][2]) * m[2][0]) +
         static_cast<long>(m[0][2]) * (static_cast<long>(m[1][0]) * m[2][1] - static_cast<long>(m[1][1]) * m[2][0]);
}

// ---------------------------------------------------------------------------
// Structure reductions

/// pymatgen `Structure.get_reduced_structure("niggli")`: the same structure
/// (coordinates untouched) when the Niggli cell is allclose to the input
/// cell, else the sites re-expressed in the Niggli cell and wrapped.
Structure niggli_structure(const Structure& s) {
  const Lattice reduced = s.lattice.niggli_reduced(kNiggliTol);
  if (allclose(reduced.matrix(), s.lattice.matrix())) return s;
  Structure out;
  out.lattice = reduced;
  out.species = s.species;
  out.frac.resize(s.size());
  const Mat3 inv = inverse(reduced.matrix());
  for (std::size_t i = 0; i < s.size(); ++i) {
    Vec3 f = vecmat(s.cart(i), inv);
    for (double& x : f) x = mod1(x);
    out.frac[i] = f;
  }
  return out;
}

struct SiteGroup {
  int z;
  std::vector<Vec3> frac;
  std::vector<char> non_neighbors;  ///< [i * n + j]: i, j may not merge into one site
};

/// One step of pymatgen `get_primitive_structure`; returns false when no
/// smaller cell is found.
bool find_smaller_cell(const Structure& s, double tol, Structure* out) {
  // Group sites by species string (stable sort by element symbol).
  std::vector<std::size_t> order(s.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    return element(s.species[a]).symbol < element(s.species[b]).symbol;
  });
  std::vector<SiteGroup> groups;
  for (std::size_t idx : order) {
    if (groups.empty() || groups.back().z != s.species[idx]) groups.push_back({s.species[idx], {}, {}});
    groups.back().frac.push_back(s.frac[idx]);
  }

  const Vec3 abc = s.lattice.lengths();
  const Vec3 super_ftol{tol / abc[0], tol / abc[1], tol / abc[2]};
  const Vec3 super_ftol2 = 2.0 * super_ftol;
  auto within = [](const Vec3& d, const Vec3& t) {
    return frac_offset_np(d[0]) < t[0] && frac_offset_np(d[1]) < t[1] && frac_offset_np(d[2]) < t[2];
  };

  // Approximate periodicities: differences within the smallest group that
  // map every site onto a site of its own species.
  std::size_t smallest = 0;
  for (std::size_t g = 1; g < groups.size(); ++g)
    if (groups[g].frac.size() < groups[smallest].frac.size()) smallest = g;
  std::vector<Vec3> min_vecs;
  for (const Vec3& f : groups[smallest].frac) min_vecs.push_back(f - groups[smallest].frac[0]);
  std::vector<std::size_t> by_size(groups.size());
  std::iota(by_size.begin(), by_size.end(), 0);
  std::stable_sort(by_size.begin(), by_size.end(),
                   [&](std::size_t a, std::size_t b) { return groups[a].frac.size() < groups[b].frac.size(); });
  for (std::size_t g : by_size) {
    const auto& fc = groups[g].frac;
    for (const Vec3& f : fc) {
      std::vector<Vec3> kept;
      for (const Vec3& v : min_vecs)
        for (const Vec3& w : fc)
          if (within(v - (w - f), super_ftol2)) {
            kept.push_back(v);
            break;
          }
      min_vecs.swap(kept);
    }
  }

  // Sites closer than twice the tolerance may not be merged with each other.
  for (SiteGroup& g : groups) {
    const std::size_t n = g.frac.size();
    g.non_neighbors.assign(n * n, 0);
    for (std::size_t i = 0; i < n; ++i)
      for (std::size_t j = 0; j < n; ++j) {
        const Vec3 d = g.frac[j] - g.frac[i];
        bool far = false;
        for (int k = 0; k < 3; ++k) far = far || frac_offset_np(d[k]) > super_ftol2[k];
        g.non_neighbors[i * n + j] = (i == j) || far;
      }
  }

  int num_fu = 0;
  for (const SiteGroup& g : groups) num_fu = std::gcd(num_fu, static_cast<int>(g.frac.size()));
  auto divisors = [](int n) {
    std::vector<int> d;
    for (int i = 1; i <= n; ++i)
      if (n % i == 0) d.push_back(i);
    return d;
  };

  std::vector<char> close;
  std::vector<Vec3> all_frac;
  std::vector<char> added;
  for (int size : divisors(num_fu)) {
    if (size == 1) continue;
    for (int a : divisors(size))
      for (int e : divisors(size / a)) {
        const int gdiag = size / a / e;
        for (int b = 0; b < a; ++b)
          for (int c = 0; c < a; ++c)
            for (int f = 0; f < e; ++f) {
              const IMat3 m{{{a, b, c}, {0, e, f}, {0, 0, gdiag}}};
              const Mat3 md = to_double(m);
              const Mat3 inv_m = inverse(md);
              // Every new lattice vector must be one of the periodicities.
              bool candidate = true;
              for (int r = 0; r < 3 && candidate; ++r) {
                bool any = false;
                for (const Vec3& v : min_vecs)
                  if (within(inv_m[r] - v, super_ftol)) {
                    any = true;
                    break;
                  }
                candidate = any;
              }
              if (!candidate) continue;

              const Mat3 new_m = matmul(inv_m, s.lattice.matrix());
              const Vec3 ftol{tol / norm(new_m[0]), tol / norm(new_m[1]), tol / norm(new_m[2])};
              bool valid = true;
              std::vector<int> new_species;
              std::vector<Vec3> new_coords;
              for (const SiteGroup& g : groups) {
                const std::size_t n = g.frac.size();
                all_frac.resize(n);
                for (std::size_t i = 0; i < n; ++i) all_frac[i] = vecmat(g.frac[i], md);
                close.assign(n * n, 0);
                for (std::size_t i = 0; i < n; ++i)
                  for (std::size_t j = 0; j < n; ++j)
                    close[i * n + j] = within(all_frac[j] - all_frac[i], ftol) && g.non_neighbors[i * n + j];
                // Each site must be equivalent to exactly `size` sites...
                for (std::size_t j = 0; j < n && valid; ++j) {
                  int count = 0;
                  for (std::size_t i = 0; i < n; ++i) count += close[i * n + j];
                  valid = count == size;
                }
                // ...and each group of equivalent sites must be a clique.
                for (std::size_t i = 0; i < n && valid; ++i)
                  for (std::size_t p = 0; p < n && valid; ++p) {
                    if (!close[i * n + p]) continue;
                    for (std::size_t q = 0; q < n && valid; ++q)
                      if (close[i * n + q] && !close[p * n + q]) valid = false;
                  }
                if (!valid) break;
                for (Vec3& x : all_frac)
                  for (double& y : x) y = mod1(y);
                added.assign(n, 0);
                for (std::size_t i = 0; i < n; ++i) {
                  if (added[i]) continue;
                  Vec3 coords{};
                  int members = 0;
                  for (std::size_t j = 0; j < n; ++j) {
                    if (!close[i * n + j]) continue;
                    added[j] = 1;
                    if (members == 0) {
                      coords = all_frac[j];
                    } else {
                      // Running average of the images nearest to the average.
                      for (int k = 0; k < 3; ++k) {
                        const double off = all_frac[j][k] - coords[k];
                        coords[k] += (off - round_half_even(off)) / (members + 1);
                      }
                    }
                    ++members;
                  }
                  new_species.push_back(g.z);
                  new_coords.push_back(coords);
                }
              }
              if (!valid) continue;
              out->lattice = Lattice(matmul(inverse(md), s.lattice.matrix()));
              out->species = std::move(new_species);
              out->frac = std::move(new_coords);
              return true;
            }
      }
  }
  return false;
}

Structure primitive_recursive(const Structure& s, double tol) {
  Structure smaller;
  if (!find_smaller_cell(s, tol, &smaller)) return s;
  return niggli_structure(primitive_recursive(smaller, tol));
}

/// pymatgen StructureMatcher._get_reduced_structure: Niggli, then primitive.
Structure reduced_for_matching(const Structure& s, bool primitive) {
  Structure r = niggli_structure(s);
  if (primitive) r = primitive_recursive(r, 0.25);
  return r;
}

// ---------------------------------------------------------------------------
// Lattice mappings: pymatgen Lattice.find_all_mappings + _get_lattices

struct LatticeMapping {
  Mat3 aligned;  ///< rows: the chosen lattice vectors (Å)
  IMat3 scale;   ///< aligned = scale · lattice
};

struct CandidateVector {
  Vec3 cart;
  std::array<int, 3> image;
  double length;
};

double angle_between(const CandidateVector& u, const CandidateVector& w) {
  double x = dot(u.cart, w.cart) / u.length / w.length;
  if (x > 1) x = 1;
  if (x < -1) x = -1;
  return std::acos(x) * 180.0 / kPi;
}

/// Every basis of `lattice` whose vector lengths are within a factor
/// (1 + ltol) of `target`'s and whose angles are within `atol` degrees,
/// spanning `supercell_size` cells of `lattice`.
void find_lattice_mappings(const Lattice& lattice, const Lattice& target, double ltol, double atol, int supercell_size,
                           std::vector<LatticeMapping>& out) {
  out.clear();
  const Mat3& m = lattice.matrix();
  const Vec3 lengths = target.lengths();
  const Vec3 angles = target.angles();
  const double r = std::max({lengths[0], lengths[1], lengths[2]}) * (1 + ltol);
  // Lattice points within r of the origin, in the order pymatgen's
  // neighbour search (find_points_in_spheres, Cython) returns them: the
  // radius is a C float, points need d² < r² + 1e-8 (r² in single
  // precision) and every coordinate inside (-r - 1e-8, r + 1e-8); they come
  // cube by cube of a cell list with edge r (the 27 cubes around the origin
  // in lexicographic order), within a cube in reverse lexicographic image
  // order. Radii below 1 Å search with 1 Å and keep d <= r.
  const float rf = static_cast<float>(r);
  const double rd = rf < 1.0f ? 1.0 : static_cast<double>(rf);
  const double r2 = rf < 1.0f ? 1.0 : static_cast<double>(rf * rf);
  const double vmin = -rd - 1e-8, vmax = rd + 1e-8;
  const double edge = std::max(rd, 0.1);
  auto cube = [&](double x) { return static_cast<long>(std::floor((x - vmin + 1e-8) / edge)); };
  const long centre = cube(0.0);
  const Mat3 recip = lattice.reciprocal_crystallographic().matrix();
  int n[3];
  for (int k = 0; k < 3; ++k) n[k] = static_cast<int>(std::ceil(rd * norm(recip[k]) + 1e-6)) + 1;
  struct Point {
    long order;  ///< cube rank * 2^40 - image rank
    std::array<int, 3> image;
    Vec3 cart;
    double dist;
  };
  std::vector<Point> points;
  long image_rank = 0;
  for (int i = -n[0]; i <= n[0]; ++i)
    for (int j = -n[1]; j <= n[1]; ++j)
      for (int k = -n[2]; k <= n[2]; ++k, ++image_rank) {
        const Vec3 c = vecmat(Vec3{double(i), double(j), double(k)}, m);
        bool inside = true;
        for (double x : c) inside = inside && x > vmin && x < vmax;
        if (!inside) continue;
        const double d2 = c[0] * c[0] + c[1] * c[1] + c[2] * c[2];
        if (!(d2 < r2 + 1e-8)) continue;
        const double dist = std::sqrt(d2);
        if (rf < 1.0f && dist > static_cast<double>(rf)) continue;
        long cube_rank = 0;
        for (double x : c) cube_rank = 3 * cube_rank + (cube(x) - centre + 1);
        points.push_back({cube_rank * (1L << 40) - image_rank, {i, j, k}, c, dist});
      }
  std::sort(points.begin(), points.end(), [](const Point& a, const Point& b) { return a.order < b.order; });

  std::vector<CandidateVector> cand[3];
  for (const Point& p : points)
    for (int w = 0; w < 3; ++w) {
      const double ratio = p.dist / lengths[w];
      if (ratio < 1 + ltol && ratio > 1 / (1 + ltol)) cand[w].push_back({p.cart, p.image, norm(p.cart)});
    }
  const auto &ca = cand[0], &cb = cand[1], &cc = cand[2];
  const std::size_t na = ca.size(), nb = cb.size(), nc = cc.size();
  std::vector<char> gamma_ok(na * nb), beta_ok(na * nc), alpha_ok(nb * nc);
  for (std::size_t i = 0; i < na; ++i)
    for (std::size_t j = 0; j < nb; ++j)
      gamma_ok[i * nb + j] = std::fabs(angle_between(ca[i], cb[j]) - angles[2]) < atol;
  for (std::size_t i = 0; i < na; ++i)
    for (std::size_t k = 0; k < nc; ++k)
      beta_ok[i * nc + k] = std::fabs(angle_between(ca[i], cc[k]) - angles[1]) < atol;
  for (std::size_t j = 0; j < nb; ++j)
    for (std::size_t k = 0; k < nc; ++k)
      alpha_ok[j * nc + k] = std::fabs(angle_between(cb[j], cc[k]) - angles[0]) < atol;

  for (std::size_t i = 0; i < na; ++i)
    for (std::size_t j = 0; j < nb; ++j) {
      if (!gamma_ok[i * nb + j]) continue;
      for (std::size_t k = 0; k < nc; ++k) {
        if (!alpha_ok[j * nc + k] || !beta_ok[i * nc + k]) continue;
        const IMat3 scale{ca[i].image, cb[j].image, cc[k].image};
        const long d = det_int(scale);
        if (d == 0 || std::labs(std::labs(d) - supercell_size) != 0) continue;
        out.push_back({Mat3{ca[i].cart, cb[j].cart, cc[k].cart}, scale});
      }
    }
}

/// pymatgen util.coord.lattice_points_in_supercell: the lattice points of the
/// small cell inside the supercell `sc`, in supercell fractional coordinates.
std::vector<Vec3> lattice_points_in_supercell(const IMat3& sc) {
  int lo[3] = {0, 0, 0}, hi[3] = {0, 0, 0};
  for (int mask = 0; mask < 8; ++mask) {
    int p[3] = {0, 0, 0};
    for (int r = 0; r < 3; ++r)
      if (mask & (4 >> r))
        for (int k = 0; k < 3; ++k) p[k] += sc[r][k];
    for (int k = 0; k < 3; ++k) {
      lo[k] = std::min(lo[k], p[k]);
      hi[k] = std::max(hi[k], p[k]);
    }
  }
  const Mat3 inv = inverse(to_double(sc));
  std::vector<Vec3> out;
  for (int a = lo[0]; a <= hi[0]; ++a)
    for (int b = lo[1]; b <= hi[1]; ++b)
      for (int c = lo[2]; c <= hi[2]; ++c) {
        const Vec3 f = vecmat(Vec3{double(a), double(b), double(c)}, inv);
        bool inside = true;
        for (double x : f) inside = inside && x < 1 - 1e-10 && x >= -1e-10;
        if (inside) out.push_back(f);
      }
  return out;
}

Lattice average_lattice(const Lattice& l1, const Lattice& l2) {
  const Vec3 a1 = l1.lengths(), a2 = l2.lengths(), g1 = l1.angles(), g2 = l2.angles();
  return Lattice::from_parameters(div(a1 + a2, 2.0), div(g1 + g2, 2.0));
}

// ---------------------------------------------------------------------------
// Linear assignment

/// Minimum-cost perfect matching of a dense n×n cost matrix (row-major;
/// +inf marks a forbidden pair): the shortest-augmenting-path Hungarian
/// method with row/column potentials, O(n³). pymatgen solves the same
/// problem with its own Jonker–Volgenant code; a dozen lines here beat a
/// dependency (Debian packages no C++ LAP solver worth adding).
class AssignmentSolver {
 public:
  /// Fills row_to_col; false when no finite perfect matching exists.
  bool solve(const double* cost, int n, int* row_to_col) {
    if (n == 1) {
      row_to_col[0] = 0;
      return cost[0] < kInf;
    }
    if (rows_take_distinct_minima(cost, n, row_to_col)) return true;
    u_.assign(n + 1, 0.0);
    v_.assign(n + 1, 0.0);
    col_owner_.assign(n + 1, 0);
    way_.assign(n + 1, 0);
    // Column reduction (as Jonker–Volgenant start): v_j = min_i c_ij keeps
    // every reduced cost >= 0, and each column's cheapest row takes it when
    // that row is still free; only the rows left over need augmenting paths.
    taken_.assign(n + 1, 0);  // here: row (1-based) already has a column
    for (int j = 1; j <= n; ++j) {
      int arg = 0;
      for (int i = 1; i < n; ++i)
        if (cost[static_cast<std::size_t>(i) * n + j - 1] < cost[static_cast<std::size_t>(arg) * n + j - 1]) arg = i;
      const double m = cost[static_cast<std::size_t>(arg) * n + j - 1];
      if (!(m < kInf)) return false;  // a column no row may take
      v_[j] = m;
      if (!taken_[arg + 1]) {
        taken_[arg + 1] = 1;
        col_owner_[j] = arg + 1;
      }
    }
    for (int row = 1; row <= n; ++row) {
      if (taken_[row]) continue;
      col_owner_[0] = row;
      int j0 = 0;
      minv_.assign(n + 1, kInf);
      used_.assign(n + 1, 0);
      do {
        used_[j0] = 1;
        const int i0 = col_owner_[j0];
        double delta = kInf;
        int j1 = -1;
        const double* crow = cost + static_cast<std::size_t>(i0 - 1) * n;
        for (int j = 1; j <= n; ++j) {
          if (used_[j]) continue;
          const double cur = crow[j - 1] - u_[i0] - v_[j];
          if (cur < minv_[j]) {
            minv_[j] = cur;
            way_[j] = j0;
          }
          if (minv_[j] < delta) {
            delta = minv_[j];
            j1 = j;
          }
        }
        if (j1 < 0) return false;  // every remaining column is forbidden
        for (int j = 0; j <= n; ++j) {
          if (used_[j]) {
            u_[col_owner_[j]] += delta;
            v_[j] -= delta;
          } else {
            minv_[j] -= delta;
          }
        }
        j0 = j1;
      } while (col_owner_[j0] != 0);
      do {
        const int j1 = way_[j0];
        col_owner_[j0] = col_owner_[j1];
        j0 = j1;
      } while (j0 != 0);
    }
    for (int j = 1; j <= n; ++j) row_to_col[col_owner_[j] - 1] = j - 1;
    return true;
  }

 private:
  /// The common easy case (sites barely moved): when every row has a unique
  /// cheapest column and no two rows share it, that is the unique optimum.
  bool rows_take_distinct_minima(const double* cost, int n, int* row_to_col) {
    taken_.assign(n, 0);
    for (int i = 0; i < n; ++i) {
      const double* row = cost + static_cast<std::size_t>(i) * n;
      int arg = 0;
      bool tie = false;
      for (int j = 1; j < n; ++j) {
        if (row[j] < row[arg]) {
          arg = j;
          tie = false;
        } else if (row[j] == row[arg]) {
          tie = true;
        }
      }
      if (tie || !(row[arg] < kInf) || taken_[arg]) return false;
      taken_[arg] = 1;
      row_to_col[i] = arg;
    }
    return true;
  }

  std::vector<char> taken_;
  std::vector<double> u_, v_, minv_;
  std::vector<int> col_owner_, way_;
  std::vector<char> used_;
};

// ---------------------------------------------------------------------------
// Matching

struct Candidate {
  double val;  ///< rms or max, whichever is minimised
  double rms;
  double max_dist;
};

/// Sites of one species on both sides of a strict match.
struct SpeciesBlock {
  std::vector<int> rows;  ///< structure-2 (subset side) indices
  std::vector<int> cols;  ///< structure-1 indices
};

/// Frac coordinates of `s` in the aligned lattice `l` (fu == 1 branch of
/// pymatgen's sc_generator), or in the supercell `scale` of s (fu > 1),
/// wrapped with x - floor(x).
void coords_on_mapping(const Structure& s, const LatticeMapping& map, int fu, const std::vector<Vec3>& lattice_points,
                       std::vector<Vec3>& out) {
  out.clear();
  if (fu == 1) {
    const Mat3 inv = inverse(map.aligned);
    for (std::size_t i = 0; i < s.size(); ++i) {
      Vec3 f = vecmat(s.cart(i), inv);
      for (double& x : f) x -= std::floor(x);
      out.push_back(f);
    }
    return;
  }
  const Mat3 inv = inverse(to_double(map.scale));
  for (std::size_t i = 0; i < s.size(); ++i) {
    const Vec3 f0 = vecmat(s.frac[i], inv);
    for (const Vec3& lp : lattice_points) {
      Vec3 f = f0 + lp;
      for (double& x : f) x -= std::floor(x);
      out.push_back(f);
    }
  }
}

class MatchEngine {
 public:
  MatchEngine(const MatcherOptions& o, bool use_rms, bool break_on_match)
      : o_(o), use_rms_(use_rms), break_on_match_(break_on_match) {}

  /// pymatgen `_strict_match(A, B, fu, s1_supercell)`: B (the subset side,
  /// "rows") onto A ("cols").
  std::optional<Candidate> strict_match(const Structure& A, const Structure& B, int fu, bool s1_supercell) {
    const int n_cols = static_cast<int>(s1_supercell ? A.size() * fu : A.size());
    const int n_rows = static_cast<int>(s1_supercell ? B.size() : B.size() * fu);
    if (n_rows != n_cols) return std::nullopt;  // pymatgen: shapes differ and no subsets
    const int n = n_rows;
    std::vector<int> sp_col(n), sp_row(n);
    for (int j = 0; j < n; ++j) sp_col[j] = s1_supercell ? A.species[j / fu] : A.species[j];
    for (int i = 0; i < n; ++i) sp_row[i] = s1_supercell ? B.species[i] : B.species[i / fu];
    {
      std::vector<int> x = sp_col, y = sp_row;
      std::sort(x.begin(), x.end());
      std::sort(y.begin(), y.end());
      if (x != y) return std::nullopt;  // pymatgen: LinearAssignment(mask).min_cost > 0
    }
    // Anchor: the first row of the least frequent species (argmax of the
    // masked count); translations put it onto each column of its species.
    int anchor = 0, best_count = n + 1;
    for (int i = 0; i < n; ++i) {
      const int count = static_cast<int>(std::count(sp_col.begin(), sp_col.end(), sp_row[i]));
      if (count < best_count) {
        best_count = count;
        anchor = i;
      }
    }
    std::vector<int> t_cols;
    for (int j = 0; j < n; ++j)
      if (sp_col[j] == sp_row[anchor]) t_cols.push_back(j);
    if (s1_supercell && fu > 1) {
      std::vector<int> every;
      for (std::size_t k = 0; k < t_cols.size(); k += fu) every.push_back(t_cols[k]);
      t_cols.swap(every);
    }
    blocks_.clear();
    std::vector<int> zs = sp_row;
    std::sort(zs.begin(), zs.end());
    zs.erase(std::unique(zs.begin(), zs.end()), zs.end());
    std::size_t largest = 0;
    for (int z : zs) {
      SpeciesBlock b;
      for (int i = 0; i < n; ++i)
        if (sp_row[i] == z) b.rows.push_back(i);
      for (int j = 0; j < n; ++j)
        if (sp_col[j] == z) b.cols.push_back(j);
      largest = std::max(largest, b.rows.size());
      blocks_.push_back(std::move(b));
    }
    block_of_row_.assign(n, 0);
    for (std::size_t b = 0; b < blocks_.size(); ++b)
      for (int i : blocks_[b].rows) block_of_row_[i] = static_cast<int>(b);
    cost_.resize(largest * largest);
    vecs_.resize(largest * largest);
    assign_.resize(largest);
    short_vecs_.resize(n);
    t_s2_.resize(n);
    lll_f1_.resize(n);
    lll_f2_.resize(n);
    cart1_.resize(n);
    cart2_.resize(n);
    wrapped1_.resize(n);
    wrapped2_.resize(n);

    // Supercells are made of the structure on the searched side: A when
    // s1_supercell (its lattice matched to B's), else B.
    const Structure& searched = s1_supercell ? A : B;
    const Structure& other = s1_supercell ? B : A;
    find_lattice_mappings(searched.lattice, other.lattice, o_.ltol, o_.angle_tol, fu, mappings_);
    std::optional<Candidate> best;
    for (const LatticeMapping& map : mappings_) {
      const std::vector<Vec3> lp = fu == 1 ? std::vector<Vec3>{} : lattice_points_in_supercell(map.scale);
      coords_on_mapping(searched, map, fu, lp, searched_fc_);
      const std::vector<Vec3>& s1fc = s1_supercell ? searched_fc_ : other.frac;
      const std::vector<Vec3>& s2fc = s1_supercell ? other.frac : searched_fc_;
      const Lattice avg = average_lattice(Lattice(map.aligned), other.lattice);
      const double normalization = std::pow(n / avg.volume(), 1.0 / 3.0);
      const Vec3 inv_abc = avg.reciprocal().lengths();
      const Vec3 frac_tol = div(o_.stol * inv_abc, kPi * normalization);
      bool have_lll = false;
      for (int s1i : t_cols) {
        const Vec3 t = s1fc[s1i] - s2fc[anchor];
        for (int i = 0; i < n; ++i) t_s2_[i] = s2fc[i] + t;
        if (!is_subset(s1fc, frac_tol)) continue;
        if (!have_lll) {
          prepare_lll(avg, normalization);
          have_lll = true;
        }
        Candidate c;
        if (!cart_dists(s1fc, normalization, &c)) continue;
        if (!best || c.val < best->val) {
          best = c;
          if ((break_on_match_ || c.val < 1e-5) && c.val < o_.stol) return best;
        }
      }
    }
    if (best && best->val < o_.stol) return best;
    return std::nullopt;
  }

 private:
  /// pymatgen is_coord_subset_pbc(t_s2, s1, frac_tol, mask): every row
  /// site lies within frac_tol (per axis, C rounding) of a column site of
  /// its species.
  bool is_subset(const std::vector<Vec3>& s1fc, const Vec3& tol) const {
    for (std::size_t i = 0; i < t_s2_.size(); ++i) {
      const Vec3& p = t_s2_[i];
      bool ok = false;
      for (int j : blocks_[block_of_row_[i]].cols) {
        const Vec3& q = s1fc[j];
        bool inside = true;
        for (int k = 0; k < 3 && inside; ++k) {
          const double d = p[k] - q[k];
          inside = offset_from_integer(d) <= tol[k];
        }
        if (inside) {
          ok = true;
          break;
        }
      }
      if (!ok) return false;
    }
    return true;
  }

  /// LLL basis of the average lattice, its 27 images, and the LLL
  /// fractional tolerance (pymatgen passes lll_frac_tol to
  /// pbc_shortest_vectors).
  void prepare_lll(const Lattice& avg, double normalization) {
    IMat3 t{};
    const Lattice lll = avg.lll_reduced(0.75, &t);
    lll_matrix_ = lll.matrix();
    lll_inverse_ = unimodular_inverse(t);
    int k = 0;
    for (int a = -1; a <= 1; ++a)
      for (int b = -1; b <= 1; ++b)
        for (int c = -1; c <= 1; ++c) images_[k++] = vecmat(Vec3{double(a), double(b), double(c)}, lll_matrix_);
    lll_frac_tol_ = div(o_.stol * lll.reciprocal().lengths(), kPi * normalization);
    // An offset from the nearest integer never exceeds 0.5: tolerances above
    // that accept every pair, so their test is skipped.
    for (int k = 0; k < 3; ++k) check_axis_[k] = lll_frac_tol_[k] < 0.5 + 1e-9;
    // |x·B|² >= λ_min |x|² bounds the image search below; keep the bound a
    // little loose so that rounding can never drop the true minimum.
    const Mat3 gram = matmul(lll_matrix_, transpose(lll_matrix_));
    const double trace = gram[0][0] + gram[1][1] + gram[2][2];
    lambda_min_ = min_eigenvalue_symmetric(gram) * (1 - 1e-6) - 1e-12 * trace;
  }

  /// pymatgen's image search: the first of the 27 images (-1..1 along each
  /// LLL vector, in lexicographic order) with the smallest |pre + image|².
  /// Images that the eigenvalue bound proves longer than the image nearest
  /// in fractional terms are skipped; the answer is the same.
  void shortest_image(const Vec3& pre, const Vec3& delta, double* best_d2, Vec3* best_vec) const {
    auto d2_of = [&](int k) {
      const double da = pre[0] + images_[k][0], db = pre[1] + images_[k][1], dc = pre[2] + images_[k][2];
      return da * da + db * db + dc * dc;
    };
    int allowed[3][3];
    int count[3] = {0, 0, 0};
    if (lambda_min_ > 0) {
      int k0 = 0;
      for (int a = 0; a < 3; ++a) {
        const int nearest = delta[a] > 0.5 ? -1 : (delta[a] < -0.5 ? 1 : 0);
        k0 = 3 * k0 + nearest + 1;
      }
      const double r2 = (d2_of(k0) * (1 + 1e-9) + 1e-12) / lambda_min_;
      for (int a = 0; a < 3; ++a)
        for (int m = -1; m <= 1; ++m) {
          const double x = delta[a] + m;
          if (x * x <= r2) allowed[a][count[a]++] = m + 1;
        }
    } else {
      for (int a = 0; a < 3; ++a)
        for (int m = 0; m < 3; ++m) allowed[a][count[a]++] = m;
    }
    double best = 1e100;
    int best_k = 0;
    for (int x = 0; x < count[0]; ++x)
      for (int y = 0; y < count[1]; ++y)
        for (int z = 0; z < count[2]; ++z) {
          const int k = 9 * allowed[0][x] + 3 * allowed[1][y] + allowed[2][z];
          const double d = d2_of(k);
          if (d < best) {
            best = d;
            best_k = k;
          }
        }
    *best_d2 = best;
    *best_vec = pre + images_[best_k];
  }

  /// pymatgen _cart_dists: shortest vectors (27 LLL images) from each row
  /// site to each column site of its species, optimal assignment on their
  /// squared lengths, mean displacement removed, normalised.
  bool cart_dists(const std::vector<Vec3>& s1fc, double normalization, Candidate* out) {
    const int n = static_cast<int>(t_s2_.size());
    for (int i = 0; i < n; ++i) {
      lll_f1_[i] = vecmat(t_s2_[i], lll_inverse_);
      lll_f2_[i] = vecmat(s1fc[i], lll_inverse_);
      for (int k = 0; k < 3; ++k) {
        wrapped1_[i][k] = mod1(lll_f1_[i][k]);
        wrapped2_[i][k] = mod1(lll_f2_[i][k]);
      }
      cart1_[i] = vecmat(wrapped1_[i], lll_matrix_);
      cart2_[i] = vecmat(wrapped2_[i], lll_matrix_);
    }
    for (const SpeciesBlock& b : blocks_) {
      const int m = static_cast<int>(b.rows.size());
      for (int r = 0; r < m; ++r) {
        const int i = b.rows[r];
        for (int c = 0; c < m; ++c) {
          const int j = b.cols[c];
          double* cost = &cost_[static_cast<std::size_t>(r) * m + c];
          bool within = true;
          for (int k = 0; k < 3 && within; ++k) {
            if (!check_axis_[k]) continue;
            const double fd = lll_f2_[j][k] - lll_f1_[i][k];
            within = !(offset_from_integer(fd) > lll_frac_tol_[k]);
          }
          if (!within) {
            *cost = kInf;
            continue;
          }
          shortest_image(cart2_[j] - cart1_[i], wrapped2_[j] - wrapped1_[i], cost,
                         &vecs_[static_cast<std::size_t>(r) * m + c]);
        }
      }
      if (!solver_.solve(cost_.data(), m, assign_.data())) return false;
      for (int r = 0; r < m; ++r) short_vecs_[b.rows[r]] = vecs_[static_cast<std::size_t>(r) * m + assign_[r]];
    }
    Vec3 mean{0, 0, 0};
    for (int i = 0; i < n; ++i) mean = mean + short_vecs_[i];
    mean = div(mean, n);
    double sum_sq = 0, max_dist = 0;
    for (int i = 0; i < n; ++i) {
      const Vec3 d = short_vecs_[i] - mean;
      const double dist = std::sqrt(d[0] * d[0] + d[1] * d[1] + d[2] * d[2]) * normalization;
      sum_sq += dist * dist;
      max_dist = std::max(max_dist, dist);
    }
    out->rms = std::sqrt(sum_sq) / std::sqrt(static_cast<double>(n));
    out->max_dist = max_dist;
    out->val = use_rms_ ? out->rms : out->max_dist;
    return true;
  }

  const MatcherOptions& o_;
  bool use_rms_, break_on_match_;
  std::vector<SpeciesBlock> blocks_;
  std::vector<int> block_of_row_;
  std::vector<LatticeMapping> mappings_;
  std::vector<Vec3> searched_fc_, t_s2_, lll_f1_, lll_f2_, wrapped1_, wrapped2_, cart1_, cart2_, short_vecs_, vecs_;
  std::vector<double> cost_;
  std::vector<int> assign_;
  AssignmentSolver solver_;
  Mat3 lll_matrix_{}, lll_inverse_{};
  Vec3 lll_frac_tol_{};
  bool check_axis_[3] = {true, true, true};
  double lambda_min_ = 0;  ///< lower bound of the smallest eigenvalue of B·Bᵀ
  std::array<Vec3, 27> images_{};
};

/// pymatgen _preprocess + _match.
std::optional<Candidate> match_structures(const MatcherOptions& o, const Structure& a, const Structure& b, bool use_rms,
                                          bool break_on_match) {
  a.validate();
  b.validate();
  Structure s1 = reduced_for_matching(a, o.primitive_cell);
  Structure s2 = reduced_for_matching(b, o.primitive_cell);
  // _get_supercell_size with supercell_size = "num_sites".
  int fu = 1;
  bool s1_supercell = true;
  if (o.attempt_supercell) {
    const double ratio = static_cast<double>(s2.size()) / static_cast<double>(s1.size());
    if (ratio < 2.0 / 3.0) {
      fu = static_cast<int>(std::nearbyint(1 / ratio));
      s1_supercell = false;
    } else {
      fu = static_cast<int>(std::nearbyint(ratio));
    }
  }
  if (o.scale) {
    const double mult = s1_supercell ? fu : 1.0 / fu;
    const double ratio = std::pow(s2.volume() / (s1.volume() * mult), 1.0 / 6.0);
    Mat3 m1 = s1.lattice.matrix(), m2 = s2.lattice.matrix();
    for (int i = 0; i < 3; ++i)
      for (int j = 0; j < 3; ++j) {
        m1[i][j] *= ratio;
        m2[i][j] /= ratio;
      }
    s1.lattice = Lattice(m1);
    s2.lattice = Lattice(m2);
  }
  if (fu < 1) return std::nullopt;
  MatchEngine engine(o, use_rms, break_on_match);
  const double ratio = s1_supercell ? fu : 1.0 / fu;
  if (static_cast<double>(s1.size()) * ratio >= static_cast<double>(s2.size()))
    return engine.strict_match(s1, s2, fu, s1_supercell);
  return engine.strict_match(s2, s1, fu, !s1_supercell);
}

}  // namespace

Structure primitive_cell_pymatgen(const Structure& s, double tolerance) {
  s.validate();
  return primitive_recursive(s, tolerance);
}

MatchResult StructureMatcher::get_rms_dist(const Structure& a, const Structure& b) const {
  MatchResult r;
  const auto c = match_structures(options_, a, b, /*use_rms=*/true, /*break_on_match=*/false);
  if (!c) return r;
  r.match = true;
  r.rms = c->rms;
  r.max_dist = c->max_dist;
  return r;
}

bool StructureMatcher::fit(const Structure& a, const Structure& b) const {
  // SpeciesComparator.get_hash: fractional compositions must agree
  // (pymatgen Composition equality, amounts within 1e-8).
  const auto fa = a.composition().fractions(), fb = b.composition().fractions();
  if (fa.size() != fb.size()) return false;
  for (auto ia = fa.begin(), ib = fb.begin(); ia != fa.end(); ++ia, ++ib)
    if (ia->first != ib->first || std::fabs(ia->second - ib->second) > 1e-8) return false;
  const auto c = match_structures(options_, a, b, /*use_rms=*/false, /*break_on_match=*/true);
  return c && c->val <= options_.stol;
}

}  // namespace xtaldiff
