#include "crystal/symmetrize.h"

#include <cmath>
#include <limits>

#include "crystal/symmetry.h"

namespace xtaldiff {

namespace {


double wrap_half(double d) { return d - std::floor(d + 0.5); }

Vec3 apply(const SymmetryOp& op, const Vec3& x) {
  Vec3 y{};
  for (int a = 0; a < 3; ++a)
    y[a] = op.rotation[a][0] * x[0] + op.rotation[a][1] * x[1] + op.rotation[a][2] * x[2] + op.translation[a];
  return y;
}

// Rᵀ G R: the metric seen through a rotation acting on fractional columns.
Mat3 conjugate(const Mat3& g, const IMat3& r) {
  Mat3 out{};
  for (int a = 0; a < 3; ++a)
    for (int b = 0; b < 3; ++b)
      for (int c = 0; c < 3; ++c)
        for (int d = 0; d < 3; ++d) out[a][b] += r[c][a] * g[c][d] * r[d][b];
  return out;
}

Lattice lattice_from_metric(const Mat3& g) {
  const double a = std::sqrt(g[0][0]), b = std::sqrt(g[1][1]), c = std::sqrt(g[2][2]);
  auto angle = [](double cosine) { return std::acos(std::max(-1.0, std::min(1.0, cosine))) * 180.0 / kPi; };
  return Lattice::from_parameters(a, b, c, angle(g[1][2] / (b * c)), angle(g[0][2] / (a * c)), angle(g[0][1] / (a * b)));
}

}  // namespace

std::optional<SymmetrizeResult> symmetrize(const Structure& s, double symprec, double angle_tol) {
  const SpaceGroupInfo info = analyze_symmetry(s, symprec, angle_tol);
  if (!info.found || info.operations.empty()) return std::nullopt;
  const std::size_t n = s.size();
  const auto& ops = info.operations;
  // Lattice: the group average of the metric is invariant under every operation.
  const Mat3 g = s.lattice.metric();
  Mat3 g_avg{};
  for (const auto& op : ops) {
    const Mat3 c = conjugate(g, op.rotation);
    for (int a = 0; a < 3; ++a)
      for (int b = 0; b < 3; ++b) g_avg[a][b] += c[a][b] / double(ops.size());
  }
  // Sites: each operation maps atom i onto some atom j of its species; j's
  // new position is the mean of those images (each taken nearest to j).
  std::vector<Vec3> sum(n, Vec3{0, 0, 0});
  for (const auto& op : ops) {
    std::vector<bool> hit(n, false);
    for (std::size_t i = 0; i < n; ++i) {
      const Vec3 y = apply(op, s.frac[i]);
      std::size_t best = n;
      double best_d2 = std::numeric_limits<double>::infinity();
      for (std::size_t j = 0; j < n; ++j) {
        if (s.species[j] != s.species[i]) continue;
        Vec3 d{wrap_half(y[0] - s.frac[j][0]), wrap_half(y[1] - s.frac[j][1]), wrap_half(y[2] - s.frac[j][2])};
        const Vec3 cart = s.lattice.to_cartesian(d);
        const double d2 = dot(cart, cart);
        if (d2 < best_d2) best_d2 = d2, best = j;
      }
      if (best == n || hit[best]) return std::nullopt;  // not a permutation at this tolerance
      hit[best] = true;
      for (int a = 0; a < 3; ++a) sum[best][a] += s.frac[best][a] + wrap_half(y[a] - s.frac[best][a]);
    }
  }
  SymmetrizeResult r;
  r.spacegroup = info.number;
  r.structure.lattice = lattice_from_metric(g_avg);
  r.structure.species = s.species;
  r.structure.frac.resize(n);
  for (std::size_t j = 0; j < n; ++j) {
    const Vec3 x = (1.0 / double(ops.size())) * sum[j];
    Vec3 shift{wrap_half(x[0] - s.frac[j][0]), wrap_half(x[1] - s.frac[j][1]), wrap_half(x[2] - s.frac[j][2])};
    r.max_shift = std::max(r.max_shift, norm(s.lattice.to_cartesian(shift)));
    r.structure.frac[j] = {wrap01(x[0]), wrap01(x[1]), wrap01(x[2])};
  }
  return r;
}

}  // namespace xtaldiff
