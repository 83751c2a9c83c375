#include "crystal/structure.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <random>

#include "chem/element.h"
#include "util/error.h"

namespace xtaldiff {
namespace {

// 1 u in grams × 1e24 (Å³ → cm³): CODATA 2018 as used by pymatgen's units.
constexpr double kAmuPerA3ToGramPerCm3 = 1.66053906660;

// How many cells along each axis a sphere of radius r can reach: a point
// within r of the origin has |fractional component k| <= r·|b*_k|.
std::array<int, 3> image_range(const Lattice& l, double r) {
  const Mat3 recip = l.reciprocal_crystallographic().matrix();
  std::array<int, 3> n{};
  for (int k = 0; k < 3; ++k) n[k] = static_cast<int>(std::ceil(r * norm(recip[k]) + 1e-9));
  return n;
}

}  // namespace

double wrap01(double x) {
  double w = x - std::floor(x);
  if (w >= 1.0 - 1e-12) w = 0.0;  // keep 0.99999999999999 from printing as 1.00000000
  return w;
}

std::vector<Vec3> Structure::cart_coords() const {
  std::vector<Vec3> out(size());
  for (std::size_t i = 0; i < size(); ++i) out[i] = cart(i);
  return out;
}

double Structure::density() const {
  double mass = 0;
  for (int z : species) mass += element(z).mass;
  return mass * kAmuPerA3ToGramPerCm3 / volume();
}

void Structure::wrap() {
  for (auto& f : frac)
    for (double& x : f) x = wrap01(x);
}

void Structure::validate() const {
  if (species.empty()) throw Error("structure has no sites");
  if (species.size() != frac.size())
    throw Error("structure has " + std::to_string(species.size()) + " species but " + std::to_string(frac.size()) +
                " coordinates");
  lattice.validate();
  for (std::size_t i = 0; i < size(); ++i) {
    element(species[i]);  // throws for an invalid atomic number
    for (double x : frac[i])
      if (!std::isfinite(x)) throw Error("site " + std::to_string(i + 1) + " has a non-finite coordinate");
  }
}

namespace {

// The same crystal on its LLL-reduced basis (same distances). A nearly flat
// basis, as a generative model's collapsed cell has, makes the image boxes
// of a distance search thousands of cells wide; the reduced basis keeps
// them small.
Structure on_reduced_basis(const Structure& s) {
  Structure r = s;
  r.lattice = s.lattice.lll_reduced();
  for (std::size_t k = 0; k < s.size(); ++k) r.frac[k] = r.lattice.to_fractional(s.lattice.to_cartesian(s.frac[k]));
  return r;
}

// More image cells than this in a search: redo it on the reduced basis.
constexpr long kMaxImageCells = 343;

long image_cells(const std::array<int, 3>& n) { return (2L * n[0] + 1) * (2L * n[1] + 1) * (2L * n[2] + 1); }

double min_image_distance_searched(const Structure& s, std::size_t i, std::size_t j, bool may_reduce) {
  Vec3 d = s.frac[j] - s.frac[i];
  for (double& x : d) x -= std::round(x);
  // The nearest-integer image is an upper bound; search all images closer.
  const double bound = norm(s.lattice.to_cartesian(d));
  const auto n = image_range(s.lattice, bound);
  if (may_reduce && image_cells(n) > kMaxImageCells) return min_image_distance_searched(on_reduced_basis(s), i, j, false);
  double best = bound;
  for (int a = -n[0]; a <= n[0]; ++a)
    for (int b = -n[1]; b <= n[1]; ++b)
      for (int c = -n[2]; c <= n[2]; ++c) {
        const Vec3 f{d[0] + a, d[1] + b, d[2] + c};
        best = std::min(best, norm(s.lattice.to_cartesian(f)));
      }
  return best;
}

}  // namespace

double min_image_distance(const Structure& s, std::size_t i, std::size_t j) {
  return i == j ? 0.0 : min_image_distance_searched(s, i, j, true);
}

std::vector<double> distance_matrix(const Structure& s) {
  const std::size_t n = s.size();
  std::vector<double> m(n * n, 0.0);
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t j = i + 1; j < n; ++j) m[i * n + j] = m[j * n + i] = min_image_distance(s, i, j);
  return m;
}

double min_pair_distance(const Structure& s) {
  double best = std::numeric_limits<double>::infinity();
  for (std::size_t i = 0; i < s.size(); ++i)
    for (std::size_t j = i + 1; j < s.size(); ++j) best = std::min(best, min_image_distance(s, i, j));
  return best;
}

std::vector<Neighbor> neighbor_list(const Structure& s, double cutoff) {
  std::vector<Neighbor> out;
  if (!(cutoff > 0)) return out;
  // Coordinates are wrapped, so differences lie in (-1, 1): one extra cell.
  auto n = image_range(s.lattice, cutoff);
  for (int& k : n) k += 1;
  const double c2 = cutoff * cutoff;
  std::vector<Vec3> wrapped(s.frac);
  for (auto& f : wrapped)
    for (double& x : f) x = wrap01(x);
  for (std::size_t i = 0; i < s.size(); ++i)
    for (std::size_t j = 0; j < s.size(); ++j) {
      const Vec3 d = wrapped[j] - wrapped[i];
      for (int a = -n[0]; a <= n[0]; ++a)
        for (int b = -n[1]; b <= n[1]; ++b)
          for (int c = -n[2]; c <= n[2]; ++c) {
            const Vec3 cart = s.lattice.to_cartesian({d[0] + a, d[1] + b, d[2] + c});
            const double r2 = dot(cart, cart);
            if (r2 > c2 || r2 < 1e-16) continue;
            out.push_back({static_cast<std::uint32_t>(i), static_cast<std::uint32_t>(j), {a, b, c}, std::sqrt(r2)});
          }
    }
  return out;
}

Structure make_supercell(const Structure& s, const IMat3& t) {
  const Mat3 td = to_double(t);
  const double d = det(td);
  if (!(d > 0.5)) throw Error("supercell matrix must have a positive determinant");
  const long copies = std::lround(d);
  const Mat3 tinv = inverse(td);
  // Integer translations that can land inside the new cell: the bounding box
  // of the new cell's corners in old fractional units.
  std::array<int, 3> lo{0, 0, 0}, hi{0, 0, 0};
  for (int mask = 0; mask < 8; ++mask) {
    Vec3 corner{0, 0, 0};
    for (int k = 0; k < 3; ++k)
      if (mask & (1 << k)) corner = corner + td[k];
    for (int k = 0; k < 3; ++k) {
      lo[k] = std::min(lo[k], static_cast<int>(std::floor(corner[k])));
      hi[k] = std::max(hi[k], static_cast<int>(std::ceil(corner[k])));
    }
  }
  Structure out;
  out.lattice = Lattice(matmul(td, s.lattice.matrix()));
  for (std::size_t i = 0; i < s.size(); ++i)
    for (int a = lo[0]; a <= hi[0]; ++a)
      for (int b = lo[1]; b <= hi[1]; ++b)
        for (int c = lo[2]; c <= hi[2]; ++c) {
          const Vec3 old{s.frac[i][0] + a, s.frac[i][1] + b, s.frac[i][2] + c};
          Vec3 f = vecmat(old, tinv);
          bool inside = true;
          for (double& x : f) {
            if (x > -1e-8 && x < 0) x = 0;  // points on the lower faces belong to the cell
            if (x < 0 || x >= 1 - 1e-8) inside = false;
          }
          if (!inside) continue;
          out.species.push_back(s.species[i]);
          out.frac.push_back(f);
        }
  if (out.size() != s.size() * static_cast<std::size_t>(copies))
    throw Error("supercell construction found " + std::to_string(out.size()) + " sites, expected " +
                    std::to_string(s.size() * copies),
                ErrorKind::kInternal);
  return out;
}

Structure sorted_by_species(const Structure& s) {
  std::vector<std::size_t> idx(s.size());
  std::iota(idx.begin(), idx.end(), 0);
  std::stable_sort(idx.begin(), idx.end(), [&](std::size_t a, std::size_t b) {
    if (s.species[a] != s.species[b]) return s.species[a] < s.species[b];
    return s.frac[a] < s.frac[b];
  });
  return permuted(s, idx);
}

Structure permuted(const Structure& s, const std::vector<std::size_t>& order) {
  Structure out;
  out.lattice = s.lattice;
  out.species.reserve(order.size());
  out.frac.reserve(order.size());
  for (auto i : order) {
    out.species.push_back(s.species.at(i));
    out.frac.push_back(s.frac.at(i));
  }
  return out;
}

Structure perturbed(const Structure& s, double distance, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> gauss(0.0, 1.0);
  Structure out = s;
  for (std::size_t i = 0; i < s.size(); ++i) {
    Vec3 v{gauss(rng), gauss(rng), gauss(rng)};
    const double len = norm(v);
    if (len < 1e-12) continue;
    const Vec3 cart = s.cart(i) + (distance / len) * v;
    out.frac[i] = s.lattice.to_fractional(cart);
  }
  out.wrap();
  return out;
}

Structure with_lattice(const Structure& s, const Lattice& new_lattice) {
  Structure out;
  out.lattice = new_lattice;
  out.species = s.species;
  const Mat3 inv = inverse(new_lattice.matrix());
  for (std::size_t i = 0; i < s.size(); ++i) out.frac.push_back(vecmat(s.cart(i), inv));
  out.wrap();
  return out;
}

Structure niggli_reduced(const Structure& s, double tol) {
  return with_lattice(s, s.lattice.niggli_reduced(tol));
}

}  // namespace xtaldiff
