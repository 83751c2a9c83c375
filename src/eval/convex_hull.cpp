#include "eval/convex_hull.h"

#include <cmath>
#include <limits>
#include <map>

#include "util/error.h"

namespace xtaldiff {
namespace {

constexpr double kEps = 1e-12;

std::array<uint64_t, 2> mask_of(const Composition& c) {
  std::array<uint64_t, 2> m{0, 0};
  for (const auto& [z, amount] : c.amounts())
    if (amount > 0) m[static_cast<std::size_t>(z) / 64] |= uint64_t{1} << (z % 64);
  return m;
}

bool subset(const std::array<uint64_t, 2>& a, const std::array<uint64_t, 2>& b) {
  return (a[0] & ~b[0]) == 0 && (a[1] & ~b[1]) == 0;
}

// Solves the d × d system B y = r (or Bᵀ y = r) by Gaussian elimination
// with partial pivoting; d ≤ 118 and in practice ≤ 6.
std::vector<double> solve(std::vector<std::vector<double>> a, std::vector<double> r) {
  const std::size_t d = r.size();
  for (std::size_t col = 0; col < d; ++col) {
    std::size_t piv = col;
    for (std::size_t i = col + 1; i < d; ++i)
      if (std::abs(a[i][col]) > std::abs(a[piv][col])) piv = i;
    std::swap(a[col], a[piv]);
    std::swap(r[col], r[piv]);
    const double p = a[col][col];
    if (std::abs(p) < 1e-300) throw Error("convex hull: singular basis (internal error)");
    for (std::size_t i = 0; i < d; ++i) {
      if (i == col) continue;
      const double f = a[i][col] / p;
      if (f == 0) continue;
      for (std::size_t j = col; j < d; ++j) a[i][j] -= f * a[col][j];
      r[i] -= f * r[col];
    }
  }
  for (std::size_t i = 0; i < d; ++i) r[i] /= a[i][i];
  return r;
}

}  // namespace

ConvexHull::ConvexHull(std::vector<HullEntry> entries) : entries_(std::move(entries)) {
  masks_.reserve(entries_.size());
  for (const auto& e : entries_) {
    if (!std::isfinite(e.formation_energy_per_atom))
      throw Error("convex hull: entry " + e.id + " has no finite formation energy", ErrorKind::kInput);
    if (e.composition.empty() || e.composition.num_atoms() <= 0)
      throw Error("convex hull: entry " + e.id + " has no atoms", ErrorKind::kInput);
    masks_.push_back(mask_of(e.composition));
  }
}

HullPoint ConvexHull::at(const Composition& composition) const {
  if (composition.empty() || composition.num_atoms() <= 0)
    throw Error("convex hull: empty composition", ErrorKind::kUsage);
  // Rows: the composition's elements. Columns: the elemental references,
  // then every entry of the system or a subsystem.
  std::vector<int> elements;
  std::map<int, std::size_t> row_of;
  for (const auto& [z, amount] : composition.amounts())
    if (amount > 0) row_of[z] = elements.size(), elements.push_back(z);
  const std::size_t d = elements.size();
  std::vector<double> target(d);
  const double total = composition.num_atoms();
  for (std::size_t k = 0; k < d; ++k) target[k] = composition.amount(elements[k]) / total;

  struct Column {
    int entry;
    std::vector<double> x;
    double e;
  };
  std::vector<Column> cols;
  for (std::size_t k = 0; k < d; ++k) {
    std::vector<double> x(d, 0.0);
    x[k] = 1.0;
    cols.push_back({-1, x, 0.0});
  }
  const auto mask = mask_of(composition);
  for (std::size_t i = 0; i < entries_.size(); ++i) {
    if (!subset(masks_[i], mask)) continue;
    std::vector<double> x(d, 0.0);
    const double n = entries_[i].composition.num_atoms();
    for (const auto& [z, amount] : entries_[i].composition.amounts()) x[row_of.at(z)] = amount / n;
    cols.push_back({static_cast<int>(i), std::move(x), entries_[i].formation_energy_per_atom});
  }

  // Revised simplex from the elemental basis (feasible: λ = target).
  std::vector<std::size_t> basis(d);
  for (std::size_t k = 0; k < d; ++k) basis[k] = k;
  std::vector<double> lambda = target;
  const std::size_t max_pivots = 50 * (cols.size() + d);
  for (std::size_t pivot = 0;; ++pivot) {
    if (pivot > max_pivots) throw Error("convex hull: simplex did not converge (internal error)");
    // Duals y: Bᵀ y = c_B, B's columns the basic x.
    std::vector<std::vector<double>> bt(d, std::vector<double>(d));
    std::vector<double> cb(d);
    for (std::size_t r = 0; r < d; ++r) {
      for (std::size_t k = 0; k < d; ++k) bt[r][k] = cols[basis[r]].x[k];
      cb[r] = cols[basis[r]].e;
    }
    const std::vector<double> y = solve(bt, cb);
    // Bland: the lowest-index column with a negative reduced cost enters.
    std::size_t enter = cols.size();
    for (std::size_t j = 0; j < cols.size(); ++j) {
      double reduced = cols[j].e;
      for (std::size_t k = 0; k < d; ++k) reduced -= y[k] * cols[j].x[k];
      if (reduced < -1e-10) {
        enter = j;
        break;
      }
    }
    if (enter == cols.size()) break;
    // Direction: B u = x_enter.
    std::vector<std::vector<double>> b(d, std::vector<double>(d));
    for (std::size_t r = 0; r < d; ++r)
      for (std::size_t k = 0; k < d; ++k) b[k][r] = cols[basis[r]].x[k];
    const std::vector<double> u = solve(b, cols[enter].x);
    // Ratio test (Bland: ties go to the lowest column index).
    std::size_t leave = d;
    double best = std::numeric_limits<double>::infinity();
    for (std::size_t r = 0; r < d; ++r) {
      if (u[r] <= kEps) continue;
      const double ratio = lambda[r] / u[r];
      if (leave == d || ratio < best - 1e-14 || (std::abs(ratio - best) <= 1e-14 && basis[r] < basis[leave])) {
        best = ratio;
        leave = r;
      }
    }
    // Compositions are bounded (fractions sum to one): never unbounded.
    if (leave == d) throw Error("convex hull: unbounded program (internal error)");
    for (std::size_t r = 0; r < d; ++r) lambda[r] -= best * u[r];
    lambda[leave] = best;
    basis[leave] = enter;
  }
  HullPoint p;
  for (std::size_t r = 0; r < d; ++r) {
    p.energy_per_atom += lambda[r] * cols[basis[r]].e;
    if (lambda[r] > 1e-12) {
      const int entry = cols[basis[r]].entry;
      p.decomposition.push_back({entry, entry < 0 ? elements[basis[r]] : 0, lambda[r]});
    }
  }
  return p;
}

double ConvexHull::energy_above_hull(const Composition& composition, double formation_energy_per_atom) const {
  return formation_energy_per_atom - at(composition).energy_per_atom;
}

}  // namespace xtaldiff
