/// @file
/// LLL and Niggli reduction of a Lattice, reproducing pymatgen 2022.11.7
/// (`Lattice._calculate_lll`, `Lattice.get_niggli_reduced_lattice`) step by
/// step, so that reduced cells, their parameters and (where pymatgen returns
/// an integer transform of the input) their matrices agree with pymatgen.
///
/// Deliberately reproduced details of pymatgen (they change results):
///  * LLL: Python's round() rounds half to even (matters for cells with
///    exact half-integer Gram-Schmidt coefficients, e.g. fcc in a cubic-ish
///    basis); after a swap at k = 2 the coefficients of the third vector are
///    recomputed from the new Gram-Schmidt vectors with np.linalg.lstsq.
///    For "nice" cells (fcc, rhombohedral, integer transforms) coefficients
///    land within an ulp of a half-integer, so the last bit decides the
///    result; the arithmetic therefore follows numpy's evaluation order on
///    Debian 12 (OpenBLAS dgemv fuses one product, LAPACK dgelsd divides via
///    scaled reciprocals). Floating-point contraction is therefore disabled
///    in this file (pragmas below; -ffp-contract=off does the same).
///  * Niggli works on the LLL-reduced cell (delta 0.75) with the absolute
///    tolerance e = tol * V^(1/3).
///  * In Grosse-Kunstleve's step A1 pymatgen swaps a and b in G but does not
///    refresh A, B, C, E, N, Y before A2 and the sign normalisation A3/A4; the
///    stale values are used (so the result may violate a <= b <= c or the
///    all-acute / all-obtuse sign rule in a few per cent of random cells).
///  * The reduced cell is not built from the transformed G: pymatgen turns G
///    into (a, b, c, alpha, beta, gamma), builds `from_parameters`, and then
///    searches the ORIGINAL lattice for three lattice vectors with those
///    lengths (relative tolerance e, i.e. the Å-valued e used as a fraction)
///    and angles (within 1 degree), taking the first triple in the order of
///    pymatgen's cell-list neighbour search (`find_points_in_spheres`), and
///    negates the triple when its determinant is negative. The result is thus
///    always an integer transform of the input and right-handed; when angles
///    lie within 0.5 degree of 90 the first triple may have 180 - angle instead
///    of the angle from G. The enumeration order is reproduced exactly
///    (including the Cython `float r` argument, i.e. single precision radius,
///    and the min_r = 1 Å detour for cells whose vectors are all short).
///
/// Deliberate differences: pymatgen's get_lll_reduced_lattice(delta) ignores
/// delta (it always reduces with 0.75); lll_reduced honours it. pymatgen's
/// Niggli loop silently carries on after 100 iterations without converging;
/// niggli_reduced throws Error instead (as it does where pymatgen raises
/// "can't find niggli"). Degenerate or non-finite cells throw Error.
// Results depend on the last bit (see above): forbid fusing a*b+c into FMA
// instructions in this translation unit, including the inline arithmetic of
// linalg.h, whatever -march says. (std::fma below is explicit and exact.)
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

#include <algorithm>
#include <cmath>
#include <sstream>
#include <utility>
#include <vector>

#include "crystal/lattice.h"
#include "util/error.h"

namespace xtaldiff {
namespace {



/// x = p / d for a positive 2x2 diagonal d, rounded exactly as LAPACK
/// dgelsd (numpy.linalg.lstsq) computes it: dlalsd scales the diagonal by
/// 1/max|d|, dlascl multiplies by reciprocals (skipping factors equal to 1),
/// and the result is unscaled by 1/max|d| again. A plain division differs
/// in the last bit in about a third of cases, which flips Python's round()
/// at exact half-integer ties.
void lstsq_diag(const double p[2], const double d[2], double x[2]) {
  const double inv = 1.0 / std::max(std::fabs(d[0]), std::fabs(d[1]));
  for (int i = 0; i < 2; ++i) {
    const double di = inv != 1.0 ? d[i] * inv : d[i];
    const double mul = 1.0 / di;
    const double y = mul != 1.0 ? p[i] * mul : p[i];
    x[i] = inv != 1.0 ? y * inv : y;
  }
}

struct LllResult {
  Mat3 basis;    ///< rows: reduced vectors
  Mat3 mapping;  ///< rows: integer combinations, basis = mapping * input
};

/// pymatgen `_calculate_lll`. The pymatgen code works with column vectors;
/// here a[i] is pymatgen's a[:, i], map[i] its mapping[:, i].
LllResult calculate_lll(const Mat3& rows, double delta) {
  Mat3 a = rows;
  Mat3 b{};  // Gram-Schmidt vectors
  Mat3 u{};  // Gram-Schmidt coefficients, u[i][j] for j < i
  Vec3 m{};  // |b_i|^2
  // Recompute u[s][0..s-1], b[s], m[s] from a[s] and b[0..s-1].
  auto gram_schmidt_row = [&](int s) {
    for (int j = 0; j < s; ++j) u[s][j] = dot(a[s], b[j]) / m[j];
    for (int r = 0; r < 3; ++r) {
      // numpy dot(b[:, 0:s], u[s, 0:s]) (OpenBLAS dgemv): for two terms the
      // first product is fused onto the rounded second one.
      double acc = 0.0;
      if (s == 1) acc = b[0][r] * u[s][0];
      if (s == 2) acc = std::fma(b[0][r], u[s][0], b[1][r] * u[s][1]);
      b[s][r] = a[s][r] - acc;
    }
    m[s] = dot(b[s], b[s]);
  };
  for (int s = 0; s < 3; ++s) gram_schmidt_row(s);

  Mat3 map = identity3();
  int k = 2;  // 1-based as in pymatgen
  long guard = 0;
  while (k <= 3) {
    if (++guard > 100000) throw Error("LLL reduction did not converge (degenerate lattice?)");
    // Size reduction.
    for (int i = k - 1; i >= 1; --i) {
      const double q = round_half_even(u[k - 1][i - 1]);
      if (q != 0) {
        for (int r = 0; r < 3; ++r) {
          a[k - 1][r] = a[k - 1][r] - q * a[i - 1][r];
          map[k - 1][r] = map[k - 1][r] - q * map[i - 1][r];
        }
        for (int j = 0; j < i - 1; ++j) u[k - 1][j] = u[k - 1][j] - q * u[i - 1][j];
        u[k - 1][i - 1] = u[k - 1][i - 1] - q * 1.0;
      }
    }
    // Lovasz condition.
    const double mu = std::fabs(u[k - 1][k - 2]);
    if (dot(b[k - 1], b[k - 1]) >= (delta - mu * mu) * dot(b[k - 2], b[k - 2])) {
      ++k;
    } else {
      std::swap(a[k - 1], a[k - 2]);
      std::swap(map[k - 1], map[k - 2]);
      for (int s = k - 1; s <= k; ++s) gram_schmidt_row(s - 1);
      if (k > 2) {
        --k;
      } else {
        // pymatgen: np.linalg.lstsq(diag(m), p), i.e. p / m, rounded as
        // LAPACK dgelsd does it (see lstsq_diag).
        for (int row = k; row < 3; ++row) {
          const double p[2] = {dot(a[row], b[k - 2]), dot(a[row], b[k - 1])};
          const double mm[2] = {m[k - 2], m[k - 1]};
          double x[2];
          lstsq_diag(p, mm, x);
          u[row][k - 2] = x[0];
          u[row][k - 1] = x[1];
        }
      }
    }
  }
  return {a, map};
}

void check_reducible(const Mat3& m, const char* what) {
  if (!all_finite(m)) throw Error(std::string(what) + ": lattice matrix has non-finite entries");
  if (det(m) == 0.0) throw Error(std::string(what) + ": lattice is degenerate (zero volume)");
}

/// Mᵀ · G · M, evaluated as pymatgen does: dot(transpose(M), dot(G, M)).
Mat3 congruence(const Mat3& g, const Mat3& t) { return matmul(transpose(t), matmul(g, t)); }

/// One lattice point found by pymatgen's find_points_in_spheres around the
/// origin: integer image (fractional coordinates) and distance.
struct SpherePoint {
  std::array<long, 3> image;
  double dist;
};

/// Lattice points within `r` of the origin in the order
/// pymatgen.optimization.neighbors.find_points_in_spheres returns them for a
/// single site at the origin and a single centre at the origin. pymatgen
/// loops over images (i, j, k) of the input basis `lat` in lexicographic
/// order, keeps those inside the box |x_m| < r + tol, files them into a cell
/// list of edge r, and visits the 27 cubes around the origin in lexicographic
/// offset order, each cube's points in reverse insertion order, keeping
/// d^2 < r^2 + tol (r is a C float there). The order of the kept points
/// depends only on their cube and their image, so instead of pymatgen's full
/// image loop (astronomically long for very skewed bases) the points are
/// enumerated through the LLL basis `reduced` = T · lat, filtered with
/// pymatgen's exact expressions and bounds, and sorted by image.
std::vector<SpherePoint> points_in_sphere(const Mat3& lat, const Mat3& reduced, const Mat3& t, float r) {
  constexpr float kMinR = 1.0f;
  if (r < kMinR) {
    // pymatgen computes with min_r = 1 and drops points farther than r.
    std::vector<SpherePoint> all = points_in_sphere(lat, reduced, t, kMinR), kept;
    for (const auto& p : all)
      if (p.dist <= static_cast<double>(r)) kept.push_back(p);
    return kept;
  }
  const double rd = r;
  const double tol = 1e-8;
  const double ledge = rd < 0.1 ? 0.1 : rd;
  const double vmin = (0.0 - rd) - tol;
  const double vmax = (0.0 + rd) + tol;

  // pymatgen's image bounds (reciprocal vector lengths).
  long lo[3], hi[3];
  for (int i = 0; i < 3; ++i) {
    const Vec3& a1 = lat[i];
    const Vec3& a2 = lat[(i + 1) % 3];
    const Vec3& a3 = lat[(i + 2) % 3];
    const Vec3 cr = cross(a2, a3);
    const double prod = a1[0] * cr[0] + a1[1] * cr[1] + a1[2] * cr[2];
    double s = 0.0;
    for (int c = 0; c < 3; ++c) {
      const double v = 2 * kPi * cr[c] / prod;
      s += v * v;
    }
    const double maxr = std::ceil((rd + 0.15) * std::sqrt(s) / (2 * kPi));
    lo[i] = static_cast<long>(std::floor(0.0 - maxr - 1e-8));
    hi[i] = static_cast<long>(std::ceil(0.0 + maxr + 1e-8));
  }

  long ncube[3];
  for (int i = 0; i < 3; ++i) ncube[i] = static_cast<long>(std::ceil((vmax - vmin) / ledge));
  auto cube_of = [&](const Vec3& c) {
    std::array<long, 3> idx{};
    for (int i = 0; i < 3; ++i) idx[i] = static_cast<long>(std::floor((c[i] - vmin + 1e-8) / ledge));
    return idx;
  };
  auto one_index = [&](const std::array<long, 3>& idx) { return idx[0] * ncube[1] * ncube[2] + idx[1] * ncube[2] + idx[2]; };

  // Every point of the box lies within sqrt(3) (r + tol) of the origin; its
  // coordinates n in the reduced basis obey |n_d| <= that radius times the
  // length of the reduced reciprocal vector d.
  const Mat3 rinv = inverse(reduced);  // columns: reciprocal vectors
  const double radius = std::sqrt(3.0) * (rd + tol);
  long nmax[3];
  for (int d = 0; d < 3; ++d) {
    const double len = std::sqrt(rinv[0][d] * rinv[0][d] + rinv[1][d] * rinv[1][d] + rinv[2][d] * rinv[2][d]);
    nmax[d] = static_cast<long>(std::ceil(radius * len)) + 1;
  }
  struct Candidate {
    std::array<long, 3> image;
    Vec3 cart;
  };
  std::vector<Candidate> found;
  for (long n0 = -nmax[0]; n0 <= nmax[0]; ++n0)
    for (long n1 = -nmax[1]; n1 <= nmax[1]; ++n1)
      for (long n2 = -nmax[2]; n2 <= nmax[2]; ++n2) {
        std::array<long, 3> img{};
        bool in_bounds = true;
        for (int d = 0; d < 3; ++d) {
          img[d] = std::lround(static_cast<double>(n0) * t[0][d] + static_cast<double>(n1) * t[1][d] +
                               static_cast<double>(n2) * t[2][d]);
          in_bounds = in_bounds && img[d] >= lo[d] && img[d] < hi[d];
        }
        if (!in_bounds) continue;
        Vec3 c;
        for (int d = 0; d < 3; ++d)  // pymatgen's expression, image of the input basis
          c[d] = static_cast<double>(img[0]) * lat[0][d] + static_cast<double>(img[1]) * lat[1][d] +
                 static_cast<double>(img[2]) * lat[2][d] + 0.0;
        if (c[0] > vmin && c[0] < vmax && c[1] > vmin && c[1] < vmax && c[2] > vmin && c[2] < vmax)
          found.push_back({img, c});
      }
  // pymatgen's insertion order.
  std::sort(found.begin(), found.end(), [](const Candidate& x, const Candidate& y) { return x.image < y.image; });
  std::vector<std::vector<const Candidate*>> cubes(static_cast<size_t>(ncube[0] * ncube[1] * ncube[2]));
  for (const auto& p : found) cubes[static_cast<size_t>(one_index(cube_of(p.cart)))].push_back(&p);

  const std::array<long, 3> centre = cube_of(Vec3{0.0, 0.0, 0.0});
  const double r2 = static_cast<double>(r * r);  // float product, as in Cython
  std::vector<SpherePoint> out;
  for (long di = -1; di <= 1; ++di)
    for (long dj = -1; dj <= 1; ++dj)
      for (long dk = -1; dk <= 1; ++dk) {
        const std::array<long, 3> nb{centre[0] + di, centre[1] + dj, centre[2] + dk};
        bool inside = true;
        for (int d = 0; d < 3; ++d) inside = inside && nb[d] >= 0 && nb[d] < ncube[d];
        if (!inside) continue;
        const auto& list = cubes[static_cast<size_t>(one_index(nb))];
        for (auto it = list.rbegin(); it != list.rend(); ++it) {
          double d2 = 0.0;
          for (int d = 0; d < 3; ++d) d2 += ((*it)->cart[d] - 0.0) * ((*it)->cart[d] - 0.0);
          if (d2 < r2 + tol) out.push_back({(*it)->image, std::sqrt(d2)});
        }
      }
  return out;
}

double angle_deg(const Vec3& v1, const Vec3& v2, double l1, double l2) {
  double x = dot(v1, v2) / l1 / l2;
  if (x > 1) x = 1;
  if (x < -1) x = -1;
  return std::acos(x) * 180.0 / kPi;
}

/// pymatgen `Lattice.find_mapping(other, ltol, atol=1, skip_rotation_matrix=True)`
/// followed by the handedness fix of get_niggli_reduced_lattice. Returns
/// false when no mapping exists.
bool find_mapping(const Mat3& self, const Mat3& reduced, const Mat3& t, const Lattice& other, double ltol,
                  Mat3* result) {
  constexpr double atol = 1.0;
  const Vec3 lengths = other.lengths();
  const Vec3 ang = other.angles();
  const double rmax = std::max({lengths[0], lengths[1], lengths[2]}) * (1 + ltol);
  const std::vector<SpherePoint> pts = points_in_sphere(self, reduced, t, static_cast<float>(rmax));

  struct Cand {
    Vec3 frac;
    Vec3 cart;
    double len;
  };
  std::vector<Cand> cand[3];
  for (const auto& p : pts) {
    const Vec3 f{static_cast<double>(p.image[0]), static_cast<double>(p.image[1]), static_cast<double>(p.image[2])};
    for (int w = 0; w < 3; ++w) {
      const double ratio = p.dist / lengths[w];
      if (ratio < 1 + ltol && ratio > 1 / (1 + ltol)) {
        const Vec3 c = vecmat(f, self);
        cand[w].push_back({f, c, std::sqrt(c[0] * c[0] + c[1] * c[1] + c[2] * c[2])});
      }
    }
  }
  const auto& ca = cand[0];
  const auto& cb = cand[1];
  const auto& cc = cand[2];
  for (size_t i = 0; i < ca.size(); ++i) {
    for (size_t j = 0; j < cb.size(); ++j) {
      if (!(std::fabs(angle_deg(ca[i].cart, cb[j].cart, ca[i].len, cb[j].len) - ang[2]) < atol)) continue;
      for (size_t k = 0; k < cc.size(); ++k) {
        if (!(std::fabs(angle_deg(cb[j].cart, cc[k].cart, cb[j].len, cc[k].len) - ang[0]) < atol)) continue;
        if (!(std::fabs(angle_deg(ca[i].cart, cc[k].cart, ca[i].len, cc[k].len) - ang[1]) < atol)) continue;
        // Integer scale matrix: skip singular triples.
        const Mat3 s{ca[i].frac, cb[j].frac, cc[k].frac};
        if (std::fabs(det(s)) < 1e-8) continue;
        Mat3 aligned{ca[i].cart, cb[j].cart, cc[k].cart};
        if (!(det(aligned) > 0))
          for (auto& row : aligned)
            for (double& x : row) x = -x;
        *result = aligned;
        return true;
      }
    }
  }
  return false;
}

}  // namespace

Lattice Lattice::lll_reduced(double delta, IMat3* transform) const {
  check_reducible(m_, "LLL reduction");
  const LllResult r = calculate_lll(m_, delta);
  if (transform != nullptr)
    for (int i = 0; i < 3; ++i)
      for (int j = 0; j < 3; ++j) (*transform)[i][j] = static_cast<int>(std::lround(r.mapping[i][j]));
  return Lattice(r.basis);
}

Lattice Lattice::niggli_reduced(double tol) const {
  check_reducible(m_, "Niggli reduction");
  IMat3 lll_t{};
  const Mat3 lll = lll_reduced(0.75, &lll_t).matrix();
  const double e = tol * std::pow(volume(), 1.0 / 3.0);
  Mat3 g = matmul(lll, transpose(lll));

  bool converged = false;
  for (int iter = 0; iter < 100; ++iter) {
    double A = g[0][0], B = g[1][1], C = g[2][2], E = 2 * g[1][2], N = 2 * g[0][2], Y = 2 * g[0][1];
    if (A > B + e || (std::fabs(A - B) < e && std::fabs(E) > std::fabs(N) + e)) {
      // A1 (pymatgen keeps the stale A..Y for A2-A4).
      g = congruence(g, Mat3{{{0, -1, 0}, {-1, 0, 0}, {0, 0, -1}}});
    }
    if (B > C + e || (std::fabs(B - C) < e && std::fabs(N) > std::fabs(Y) + e)) {
      // A2
      g = congruence(g, Mat3{{{-1, 0, 0}, {0, 0, -1}, {0, -1, 0}}});
      continue;
    }
    const double l = std::fabs(E) < e ? 0 : E / std::fabs(E);
    const double m = std::fabs(N) < e ? 0 : N / std::fabs(N);
    const double n = std::fabs(Y) < e ? 0 : Y / std::fabs(Y);
    const double lmn = l * m * n;
    if (lmn == 1) {
      // A3
      const double i = l == -1 ? -1 : 1, j = m == -1 ? -1 : 1, k = n == -1 ? -1 : 1;
      g = congruence(g, Mat3{{{i, 0, 0}, {0, j, 0}, {0, 0, k}}});
    } else if (lmn == 0 || lmn == -1) {
      // A4
      double i = l == 1 ? -1 : 1, j = m == 1 ? -1 : 1, k = n == 1 ? -1 : 1;
      if (i * j * k == -1) {
        if (n == 0)
          k = -1;
        else if (m == 0)
          j = -1;
        else if (l == 0)
          i = -1;
      }
      g = congruence(g, Mat3{{{i, 0, 0}, {0, j, 0}, {0, 0, k}}});
    }
    A = g[0][0], B = g[1][1], C = g[2][2], E = 2 * g[1][2], N = 2 * g[0][2], Y = 2 * g[0][1];
    // A5
    if (std::fabs(E) > B + e || (std::fabs(E - B) < e && 2 * N < Y - e) || (std::fabs(E + B) < e && Y < -e)) {
      g = congruence(g, Mat3{{{1, 0, 0}, {0, 1, -E / std::fabs(E)}, {0, 0, 1}}});
      continue;
    }
    // A6
    if (std::fabs(N) > A + e || (std::fabs(A - N) < e && 2 * E < Y - e) || (std::fabs(A + N) < e && Y < -e)) {
      g = congruence(g, Mat3{{{1, 0, -N / std::fabs(N)}, {0, 1, 0}, {0, 0, 1}}});
      continue;
    }
    // A7
    if (std::fabs(Y) > A + e || (std::fabs(A - Y) < e && 2 * E < N - e) || (std::fabs(A + Y) < e && N < -e)) {
      g = congruence(g, Mat3{{{1, -Y / std::fabs(Y), 0}, {0, 1, 0}, {0, 0, 1}}});
      continue;
    }
    // A8
    const double s = E + N + Y + A + B;
    if (s < -e || (std::fabs(s) < e && e < Y + (A + N) * 2)) {
      g = congruence(g, Mat3{{{1, 0, 1}, {0, 1, 1}, {0, 0, 1}}});
      continue;
    }
    converged = true;
    break;
  }
  if (!converged) {
    std::ostringstream msg;
    msg << "Niggli reduction did not converge within 100 iterations (tol " << tol << ")";
    throw Error(msg.str());
  }

  const double A = g[0][0], B = g[1][1], C = g[2][2], E = 2 * g[1][2], N = 2 * g[0][2], Y = 2 * g[0][1];
  const double a = std::sqrt(A), b = std::sqrt(B), c = std::sqrt(C);
  const double alpha = std::acos(E / 2 / b / c) / kPi * 180;
  const double beta = std::acos(N / 2 / a / c) / kPi * 180;
  const double gamma = std::acos(Y / 2 / a / b) / kPi * 180;
  if (!std::isfinite(a + b + c + alpha + beta + gamma))
    throw Error("Niggli reduction failed: reduced metric is not a valid cell");

  const Lattice target = Lattice::from_parameters(a, b, c, alpha, beta, gamma);
  Mat3 out{};
  if (!find_mapping(m_, lll, to_double(lll_t), target, e, &out))
    throw Error("Niggli reduction failed: no lattice vectors match the reduced parameters");
  return Lattice(out);
}

}  // namespace xtaldiff
