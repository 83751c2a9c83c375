#include "eval/fingerprints.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <nlohmann/json.hpp>
#include <string_view>

#include "chem/element.h"
#include "util/embedded.h"
#include "util/error.h"
#include "util/strings.h"

namespace xtaldiff {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// a / s component-wise (numpy's division, not a multiplication by 1/s: the
// order parameters compare angles with thresholds, so last bits matter).
Vec3 over(const Vec3& a, double s) { return {a[0] / s, a[1] / s, a[2] / s}; }

// ---------------------------------------------------------------------------
// Voronoi cell of one site (pymatgen VoronoiNN with scipy's qhull).
// ---------------------------------------------------------------------------

// Points closer than this to a clipping plane count as lying on it (Å). Far
// below any physical length and far above the rounding of the coordinates.
constexpr double kPlaneEps = 1e-9;

struct Face {
  int id;                   // candidate index, or -1 for the bounding box
  std::vector<Vec3> verts;  // convex polygon, cyclic order
};

struct Candidate {
  std::size_t site;
  std::array<int, 3> image;
  Vec3 offset;  // Cartesian, relative to the central site
  double dist;
};

// The convex cell {x : x·p <= |p|²/2 for every clipping point p}, as polygons.
class ConvexCell {
 public:
  explicit ConvexCell(double half) {
    const double h = half;
    // Six faces of the cube [-h, h]³.
    for (int axis = 0; axis < 3; ++axis)
      for (int sign : {-1, 1}) {
        const int u = (axis + 1) % 3, v = (axis + 2) % 3;
        std::vector<Vec3> poly;
        const double corners[4][2] = {{-h, -h}, {h, -h}, {h, h}, {-h, h}};
        for (const auto& c : corners) {
          Vec3 x{};
          x[axis] = sign * h;
          x[u] = c[0];
          x[v] = c[1];
          poly.push_back(x);
        }
        faces_.push_back({-1, poly});
      }
  }

  const std::vector<Face>& faces() const { return faces_; }

  double max_vertex_radius() const {
    double r2 = 0;
    for (const auto& f : faces_)
      for (const auto& v : f.verts) r2 = std::max(r2, dot(v, v));
    return std::sqrt(r2);
  }

  // Cuts the cell with the half-space x·u <= h (u unit); the new face gets `id`.
  void clip(const Vec3& p, int id) {
    const double pn = norm(p);
    const Vec3 u = over(p, pn);
    const double h = 0.5 * pn;
    bool any_out = false;
    for (const auto& f : faces_) {
      for (const auto& v : f.verts)
        if (dot(v, u) - h > kPlaneEps) {
          any_out = true;
          break;
        }
      if (any_out) break;
    }
    if (!any_out) return;  // the plane misses the cell or only touches it

    std::vector<Face> kept;
    std::vector<Vec3> cap;  // points of the new face
    std::vector<double> s;
    for (auto& f : faces_) {
      const std::size_t n = f.verts.size();
      s.resize(n);
      bool has_out = false, has_in = false;
      for (std::size_t i = 0; i < n; ++i) {
        s[i] = dot(f.verts[i], u) - h;
        if (s[i] > kPlaneEps) has_out = true;
        if (s[i] < -kPlaneEps) has_in = true;
      }
      if (!has_out) {
        for (std::size_t i = 0; i < n; ++i)
          if (s[i] >= -kPlaneEps) cap.push_back(f.verts[i]);
        kept.push_back(std::move(f));
        continue;
      }
      if (!has_in) {  // entirely outside (or on the plane): gone
        for (std::size_t i = 0; i < n; ++i)
          if (s[i] <= kPlaneEps) cap.push_back(f.verts[i]);
        continue;
      }
      std::vector<Vec3> out;
      for (std::size_t i = 0; i < n; ++i) {
        const Vec3& a = f.verts[i];
        const Vec3& b = f.verts[(i + 1) % n];
        const double sa = s[i], sb = s[(i + 1) % n];
        if (sa <= kPlaneEps) {
          out.push_back(a);
          if (sa >= -kPlaneEps) cap.push_back(a);
        }
        if ((sa < -kPlaneEps && sb > kPlaneEps) || (sa > kPlaneEps && sb < -kPlaneEps)) {
          const double t = sa / (sa - sb);
          const Vec3 x = a + t * (b - a);
          out.push_back(x);
          cap.push_back(x);
        }
      }
      if (out.size() >= 3) kept.push_back({f.id, std::move(out)});
    }
    faces_ = std::move(kept);

    // The new face: distinct cap points in angular order around their centroid.
    std::vector<Vec3> pts;
    for (const auto& x : cap) {
      bool dup = false;
      for (const auto& y : pts)
        if (norm(x - y) < 10 * kPlaneEps) {
          dup = true;
          break;
        }
      if (!dup) pts.push_back(x);
    }
    if (pts.size() < 3) return;
    Vec3 c{0, 0, 0};
    for (const auto& x : pts) c = c + x;
    c = over(c, double(pts.size()));
    Vec3 e1{0, 0, 0};
    for (const auto& x : pts) {
      Vec3 d = x - c;
      d = d - dot(d, u) * u;
      if (norm(d) > norm(e1)) e1 = d;
    }
    if (norm(e1) < kPlaneEps) return;
    e1 = over(e1, norm(e1));
    const Vec3 e2 = cross(u, e1);
    std::vector<std::pair<double, Vec3>> ordered;
    for (const auto& x : pts) ordered.push_back({std::atan2(dot(x - c, e2), dot(x - c, e1)), x});
    std::sort(ordered.begin(), ordered.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    Face f{id, {}};
    for (const auto& o : ordered) f.verts.push_back(o.second);
    faces_.push_back(std::move(f));
  }

 private:
  std::vector<Face> faces_;
};

// pymatgen local_env.solid_angle: fan of triangles from the first vertex,
// each by the tetrahedron formula (Van Oosterom & Strackee).
double solid_angle(const std::vector<Vec3>& r) {
  double angle = 0;
  std::vector<double> rn(r.size());
  for (std::size_t i = 0; i < r.size(); ++i) rn[i] = norm(r[i]);
  for (std::size_t i = 1; i + 1 < r.size(); ++i) {
    const std::size_t j = i + 1;
    const double tp = std::fabs(dot(r[0], cross(r[i], r[j])));
    const double de = rn[0] * rn[i] * rn[j] + rn[j] * dot(r[0], r[i]) + rn[i] * dot(r[0], r[j]) +
                      rn[0] * dot(r[i], r[j]);
    double my_angle;
    if (de == 0)
      my_angle = tp > 0 ? 0.5 * kPi : -0.5 * kPi;
    else
      my_angle = std::atan(tp / de);
    angle += (my_angle > 0 ? my_angle : my_angle + kPi) * 2;
  }
  return angle;
}

double polygon_area(const std::vector<Vec3>& v) {
  Vec3 acc{0, 0, 0};
  for (std::size_t i = 1; i + 1 < v.size(); ++i) acc = acc + cross(v[i] - v[0], v[i + 1] - v[0]);
  return 0.5 * norm(acc);
}

// Every periodic image of every site within `cutoff` of site `center`
// (pymatgen Structure.get_sites_in_sphere), the site itself excluded.
std::vector<Candidate> sites_in_sphere(const Structure& s, std::size_t center, double cutoff) {
  const Mat3& L = s.lattice.matrix();
  const Mat3 inv = inverse(L);
  // |Δfrac_i| <= cutoff · |column i of L⁻¹| (spacing of the lattice planes).
  std::array<double, 3> reach{};
  for (int i = 0; i < 3; ++i) reach[i] = cutoff * std::sqrt(inv[0][i] * inv[0][i] + inv[1][i] * inv[1][i] + inv[2][i] * inv[2][i]);
  std::vector<Candidate> out;
  const double c2 = cutoff * cutoff;
  const Vec3 origin = vecmat(s.frac[center], L);
  for (std::size_t j = 0; j < s.size(); ++j) {
    const Vec3 d = s.frac[j] - s.frac[center];
    std::array<int, 3> lo{}, hi{};
    for (int i = 0; i < 3; ++i) {
      lo[i] = static_cast<int>(std::ceil(-reach[i] - d[i]));
      hi[i] = static_cast<int>(std::floor(reach[i] - d[i]));
    }
    for (int a = lo[0]; a <= hi[0]; ++a)
      for (int b = lo[1]; b <= hi[1]; ++b)
        for (int c = lo[2]; c <= hi[2]; ++c) {
          // As pymatgen: Cartesian image position minus the centre's (the
          // last bits matter where an order parameter has a threshold).
          const Vec3 x = vecmat(Vec3{s.frac[j][0] + a, s.frac[j][1] + b, s.frac[j][2] + c}, L) - origin;
          const double r2 = dot(x, x);
          if (r2 > c2 || r2 < 1e-16) continue;
          out.push_back({j, {a, b, c}, x, std::sqrt(r2)});
        }
  }
  std::sort(out.begin(), out.end(), [](const Candidate& p, const Candidate& q) { return p.dist < q.dist; });
  return out;
}

struct VoronoiFace {
  Candidate neighbor;
  double solid_angle;
  double area;
};

// pymatgen VoronoiNN.get_voronoi_polyhedra: the faces of the site's cell among
// the points within the cutoff; the cutoff doubles (up to the longest cell
// diagonal) while the cell is open.
std::vector<VoronoiFace> voronoi_faces(const Structure& s, std::size_t site, double cutoff) {
  const Mat3& L = s.lattice.matrix();
  double max_cutoff = 0;
  for (const Vec3& c : {Vec3{1, 1, 1}, Vec3{-1, 1, 1}, Vec3{1, -1, 1}, Vec3{1, 1, -1}})
    max_cutoff = std::max(max_cutoff, norm(vecmat(c, L)));
  max_cutoff += 0.01;
  while (true) {
    const auto cands = sites_in_sphere(s, site, cutoff);
    // qhull's cell is open only when the site lies on the hull of the points;
    // a closed cell may still reach far beyond the cutoff (a surface site of
    // a slab, whose faces toward the vacuum close only at the far points).
    // So a box that survives the clipping is tried again far larger (a small
    // box first: its vertices keep the usual cells exact to the last bits).
    ConvexCell cell(1);
    bool open = true;
    for (double box : {4 * cutoff + 1, 1e6}) {
      cell = ConvexCell(box);
      double rmax = cell.max_vertex_radius();
      for (std::size_t i = 0; i < cands.size(); ++i) {
        if (0.5 * cands[i].dist > rmax + kPlaneEps) break;  // no farther plane can cut
        cell.clip(cands[i].offset, static_cast<int>(i));
        rmax = cell.max_vertex_radius();
      }
      open = false;
      for (const auto& f : cell.faces())
        if (f.id < 0) open = true;
      if (!open) break;
    }
    if (!open) {
      std::vector<VoronoiFace> out;
      for (const auto& f : cell.faces()) out.push_back({cands[f.id], solid_angle(f.verts), polygon_area(f.verts)});
      // Candidate order (by distance), as a stand-in for qhull's ridge order.
      std::sort(out.begin(), out.end(), [](const VoronoiFace& a, const VoronoiFace& b) {
        return a.neighbor.dist < b.neighbor.dist;
      });
      return out;
    }
    if (cutoff >= max_cutoff)
      throw Error("CrystalNN: the Voronoi cell of site " + std::to_string(site) +
                  " stays open up to the longest cell diagonal (" + std::to_string(max_cutoff) + " Å)");
    cutoff = std::min(cutoff * 2, max_cutoff + 0.001);
  }
}

// pymatgen's CovalentRadius.radius (Cordero 2008 as pymatgen has it: C 0.73,
// Mn/Fe/Co low-spin), Z = 1..96. CrystalNN falls back to Element.atomic_radius,
// which pymatgen lacks for Z > 96 (so it raises there, and so do we).
constexpr double kPymatgenCovalentRadius[96] = {
    0.31, 0.28, 1.28, 0.96, 0.84, 0.73, 0.71, 0.66, 0.57, 0.58, 1.66, 1.41,
    1.21, 1.11, 1.07, 1.05, 1.02, 1.06, 2.03, 1.76, 1.7, 1.6, 1.53, 1.39,
    1.5, 1.42, 1.38, 1.24, 1.32, 1.22, 1.22, 1.2, 1.19, 1.2, 1.2, 1.16,
    2.2, 1.95, 1.9, 1.75, 1.64, 1.54, 1.47, 1.46, 1.42, 1.39, 1.45, 1.44,
    1.42, 1.39, 1.39, 1.38, 1.39, 1.4, 2.44, 2.15, 2.07, 2.04, 2.03, 2.01,
    1.99, 1.98, 1.98, 1.96, 1.94, 1.92, 1.92, 1.89, 1.9, 1.87, 1.87, 1.75,
    1.7, 1.62, 1.51, 1.44, 1.41, 1.36, 1.36, 1.32, 1.45, 1.46, 1.48, 1.4,
    1.5, 1.5, 2.6, 2.21, 2.15, 2.06, 2.0, 1.96, 1.9, 1.87, 1.8, 1.69,
};

double default_radius(int z) {
  if (z >= 1 && z <= 96) return kPymatgenCovalentRadius[z - 1];
  throw Error("CrystalNN: no covalent or atomic radius for " + element(z).symbol + " in pymatgen");
}

// Python's round(x, 3): the double nearest to the correctly rounded decimal.
double round3(double x) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.3f", x);
  return std::strtod(buf, nullptr);
}

double semicircle_integral(const std::vector<double>& bins, std::size_t idx) {
  const double x1 = bins[idx], x2 = bins[idx + 1];
  const double area1 = x1 == 1 ? 0.25 * kPi : 0.5 * (x1 * std::sqrt(1 - x1 * x1) + std::atan(x1 / std::sqrt(1 - x1 * x1)));
  const double area2 = 0.5 * (x2 * std::sqrt(1 - x2 * x2) + std::atan(x2 / std::sqrt(1 - x2 * x2)));
  return (area1 - area2) / (0.25 * kPi);
}

// ---------------------------------------------------------------------------
// Local structure order parameters (pymatgen LocalStructOrderParams), only
// the types matminer's "ops" preset uses, one type per call.
// ---------------------------------------------------------------------------

enum class Op {
  kSglBd, kBent, kTriPlanMax, kTetMax, kT, kSqPlanMax, kSeeSawRect, kTriBipyr, kTriPyr, kPentPlanMax,
  kSqPyr, kHexPlanMax, kOctMax, kPentPyr, kHexPyr, kPentBipyr, kBcc, kHexBipyr, kQ2, kQ4, kQ6, kCuboctMax
};

// The parameters pymatgen reads from op_params.yaml (defaults) or matminer
// passes from cn_opt_params.yaml. cuboct_max also uses keys 2, 4, 5, 6.
struct OpParams {
  double TA = 0, IGW_TA = 0, IGW_EP = 0, fac_AA = 0, exp_cos_AA = 0, min_SPP = 0, IGW_SPP = 0, w_SPP = 0;
  double p2 = 0, p4 = 0, p5 = 0, p6 = 0;
};

struct OpSpec {
  const char* label;
  Op op;
  OpParams p;
};

OpParams params(double TA, double IGW_TA, double IGW_EP, double fac_AA, double exp_cos_AA, double min_SPP,
                double IGW_SPP, double w_SPP) {
  OpParams p;
  p.TA = TA, p.IGW_TA = IGW_TA, p.IGW_EP = IGW_EP, p.fac_AA = fac_AA, p.exp_cos_AA = exp_cos_AA;
  p.min_SPP = min_SPP, p.IGW_SPP = IGW_SPP, p.w_SPP = w_SPP;
  return p;
}

// matminer cn_target_motif_op.yaml with pymatgen's cn_opt_params.yaml
// (overrides replace the whole parameter set) and op_params.yaml (defaults).
const std::vector<std::vector<OpSpec>>& motif_ops() {
  static const std::vector<std::vector<OpSpec>> table = [] {
    const double kSpp135 = 2.356194490192345;  // 135°
    std::vector<std::vector<OpSpec>> t(13);
    t[1] = {{"sgl_bd", Op::kSglBd, {}}};
    t[2] = {{"L-shaped", Op::kBent, params(0.5, 15.15, 0, 0, 0, 0, 0, 0)},
            {"water-like", Op::kBent, params(0.5802777777777778, 13.95, 0, 0, 0, 0, 0, 0)},
            {"bent 120 degrees", Op::kBent, params(0.666666666667, 13.25, 0, 0, 0, 0, 0, 0)},
            {"bent 150 degrees", Op::kBent, params(0.833333333333333, 12.45, 0, 0, 0, 0, 0, 0)},
            {"linear", Op::kBent, params(1, 8.667, 0, 0, 0, 0, 0, 0)}};
    t[3] = {{"trigonal planar", Op::kTriPlanMax, params(0.66666666667, 17.5, 0, 1, 2, 0, 0, 0)},
            {"trigonal non-coplanar", Op::kTetMax, params(0.6081734479693927, 18.33, 0, 1.5, 2, 0, 0, 0)},
            {"T-shaped", Op::kT, params(0, 0, 15.5, 1, 2, 0, 0, 0)}};
    t[4] = {{"square co-planar", Op::kSqPlanMax, params(0, 0, 17.7, 1, 2, kSpp135, 13.5, 1)},
            {"tetrahedral", Op::kTetMax, params(0.6081734479693927, 18.5, 0, 1.5, 2, 0, 0, 0)},
            {"rectangular see-saw-like", Op::kSeeSawRect, params(0, 0, 27, 2, 2, kSpp135, 11.5, 0)},
            {"see-saw-like", Op::kTriBipyr, params(0, 0, 15.75, 1.5, 2, kSpp135, 12.75, 1)},
            {"trigonal pyramidal", Op::kTriPyr, params(0, 0, 15.5, 1.5, 2, 0, 0, 0)}};
    t[5] = {{"pentagonal planar", Op::kPentPlanMax, params(0.6, 19.333, 0, 0, 0, 0, 0, 0)},
            {"square pyramidal", Op::kSqPyr, params(0, 0, 14.9, 2, 2, 0, 0, 0)},
            {"trigonal bipyramidal", Op::kTriBipyr, params(0, 0, 16.6, 1.5, 2, kSpp135, 12, 1)}};
    t[6] = {{"hexagonal planar", Op::kHexPlanMax, params(0.16666667, 25, 0, 1, 2, 2.6179938779914944, 7.5, 1)},
            {"octahedral", Op::kOctMax, params(0, 0, 18, 2, 2, kSpp135, 15, 1)},
            {"pentagonal pyramidal", Op::kPentPyr, params(0, 0, 13.8, 2.5, 2, 0, 0, 0)}};
    t[7] = {{"hexagonal pyramidal", Op::kHexPyr, params(0, 0, 12.5, 3, 2, 0, 0, 0)},
            {"pentagonal bipyramidal", Op::kPentBipyr, params(0, 0, 14.75, 2.5, 2, kSpp135, 12.5, 1)}};
    t[8] = {{"body-centered cubic", Op::kBcc, params(0, 0, 0, 0, 0, 2.5261129449194057, 15, 6)},
            {"hexagonal bipyramidal", Op::kHexBipyr, params(0, 0, 13.6, 3, 2, kSpp135, 14.1, 1)}};
    for (int cn = 9; cn <= 11; ++cn) t[cn] = {{"q2", Op::kQ2, {}}, {"q4", Op::kQ4, {}}, {"q6", Op::kQ6, {}}};
    OpParams cub = params(0, 0, 0, 0, 0, 2.792526803190927, 28.75, 1.8);
    cub.p2 = 1.8325957145940461, cub.p4 = 1.3089969389957472, cub.p5 = 25.5, cub.p6 = 31.25;
    t[12] = {{"cuboctahedral", Op::kCuboctMax, cub}, {"q2", Op::kQ2, {}}, {"q4", Op::kQ4, {}}, {"q6", Op::kQ6, {}}};
    return t;
  }();
  return table;
}

double clamp1(double x) { return std::max(-1.0, std::min(x, 1.0)); }

// Steinhardt's bond-orientational order q_l = sqrt(4π/(2l+1) Σ_m |⟨Y_lm⟩|²),
// as a sum of squares (no cancellation near 0, like pymatgen's get_q2/4/6).
// With u the unit bond vectors, P_l^m(cos θ) e^{imφ} = ±(u_x + i u_y)^m ·
// d^m P_l/dx^m (u_z), so no angles are needed; |Y_l,-m| = |Y_lm|.
double steinhardt_q(int l, const std::vector<Vec3>& u) {
  // Coefficients of the Legendre polynomial P_l (Bonnet's recursion; the
  // values are dyadic rationals, exact in double).
  std::vector<double> prev(l + 1, 0.0), cur(l + 1, 0.0);
  prev[0] = 1;  // P_0
  cur[1] = 1;   // P_1
  for (int n = 1; n < l; ++n) {
    std::vector<double> next(l + 1, 0.0);
    for (int k = 0; k <= l; ++k) {
      if (k > 0) next[k] += (2 * n + 1) * cur[k - 1];
      next[k] -= n * prev[k];
      next[k] /= (n + 1);
    }
    prev = cur;
    cur = next;
  }
  const std::size_t n = u.size();
  double acc = 0;
  std::vector<double> deriv = cur;  // d^m P_l / dx^m, m = 0, 1, ...
  double fact_ratio = 1;            // (l - m)! / (l + m)!
  for (int m = 0; m <= l; ++m) {
    if (m > 0) {
      for (int k = 0; k + 1 <= l; ++k) deriv[k] = (k + 1) * deriv[k + 1];
      deriv[l] = 0;
      fact_ratio /= double(l + m) * double(l - m + 1);
    }
    double re = 0, im = 0;
    for (std::size_t i = 0; i < n; ++i) {
      double poly = 0;
      for (int k = l; k >= 0; --k) poly = poly * u[i][2] + deriv[k];
      double pr = 1, pi = 0;  // (u_x + i u_y)^m
      for (int t = 0; t < m; ++t) {
        const double r = pr * u[i][0] - pi * u[i][1];
        pi = pr * u[i][1] + pi * u[i][0];
        pr = r;
      }
      re += poly * pr;
      im += poly * pi;
    }
    acc += (m == 0 ? 1.0 : 2.0) * fact_ratio * (re * re + im * im);
  }
  return std::sqrt(acc / double(n * n));
}

// pymatgen's gramschmidt: the part of v orthogonal to u.
Vec3 gramschmidt(const Vec3& v, const Vec3& u) { return v - (dot(v, u) / dot(u, u)) * u; }

bool is_max_type(Op t) {
  switch (t) {
    case Op::kT: case Op::kTriPyr: case Op::kSeeSawRect: case Op::kSqPyr: case Op::kTriBipyr:
    case Op::kPentPyr: case Op::kHexPyr: case Op::kPentBipyr: case Op::kHexBipyr: case Op::kOctMax:
    case Op::kTriPlanMax: case Op::kTetMax: case Op::kSqPlanMax: case Op::kPentPlanMax: case Op::kCuboctMax:
    case Op::kHexPlanMax:
      return true;
    default:
      return false;
  }
}

bool is_bipyr_like(Op t) {  // equatorial-plane + south-pole types
  return t == Op::kTriBipyr || t == Op::kPentBipyr || t == Op::kHexBipyr || t == Op::kOctMax ||
         t == Op::kSqPlanMax || t == Op::kHexPlanMax;
}

// One order parameter of the neighbours `r` (offsets from the centre);
// pymatgen's None (too few neighbours) is returned as 0, as matminer uses it.
double order_parameter(const OpSpec& spec, const std::vector<Vec3>& r) {
  const Op t = spec.op;
  const OpParams& P = spec.p;
  const std::size_t n = r.size();
  if (n == 0) return 0;
  std::vector<double> dist(n);
  std::vector<Vec3> u(n);
  for (std::size_t j = 0; j < n; ++j) {
    dist[j] = norm(r[j]);
    u[j] = over(r[j], dist[j]);
  }
  if (t == Op::kSglBd) {
    if (n == 1) return 1.0;
    std::vector<double> d = dist;
    std::sort(d.begin(), d.end());
    return 1.0 - d[0] / d[1];
  }
  if (t == Op::kQ2) return steinhardt_q(2, u);
  if (t == Op::kQ4) return steinhardt_q(4, u);
  if (t == Op::kQ6) return steinhardt_q(6, u);

  constexpr double kVerySmall = 1e-12;
  const double ipi = 1.0 / kPi, piover2 = kPi / 2, onethird = 1.0 / 3.0, twothird = 2.0 / 3.0;
  const double fac_bcc = 1.0 / std::exp(-0.5);
  const double asin13 = std::asin(1.0 / 3.0);
  auto g = [](double x) { return std::exp(-0.5 * x * x); };

  double sum_q = 0, sum_norm = 0;  // bent, bcc
  double best = 0;                 // "_max"-style types
  bool have_best = false;
  for (std::size_t j = 0; j < n; ++j) {
    const Vec3& zaxis = u[j];
    for (std::size_t k = 0; k < n; ++k) {
      if (k == j) continue;
      double q = 0, nrm = 0;
      const double thetak = std::acos(clamp1(dot(zaxis, u[k])));
      Vec3 xaxis = gramschmidt(u[k], zaxis);
      bool flag_xaxis;
      if (norm(xaxis) < kVerySmall) {
        flag_xaxis = true;
      } else {
        xaxis = over(xaxis, norm(xaxis));
        flag_xaxis = false;
      }
      // j-i-k angle.
      switch (t) {
        case Op::kBent:
          q += g(P.IGW_TA * (thetak * ipi - P.TA));
          nrm += 1;
          break;
        case Op::kTriPlanMax:
        case Op::kTetMax:
          q += g(P.IGW_TA * (thetak * ipi - P.TA));
          nrm += 1;
          break;
        case Op::kT: case Op::kTriPyr: case Op::kSqPyr: case Op::kPentPyr: case Op::kHexPyr:
          q += g(P.IGW_EP * (thetak * ipi - 0.5));
          nrm += 1;
          break;
        case Op::kCuboctMax:
          if (thetak >= P.min_SPP) {
            q += P.w_SPP * g(P.IGW_SPP * (thetak * ipi - 1.0));
            nrm += P.w_SPP;
          }
          break;
        case Op::kSeeSawRect: case Op::kTriBipyr: case Op::kPentBipyr: case Op::kHexBipyr:
        case Op::kOctMax: case Op::kSqPlanMax: case Op::kHexPlanMax:
          if (thetak < P.min_SPP) {
            const double x = t != Op::kHexPlanMax ? P.IGW_EP * (thetak * ipi - 0.5)
                                                  : P.IGW_TA * (std::fabs(thetak * ipi - 0.5) - P.TA);
            q += g(x);
            nrm += 1;
          }
          break;
        case Op::kPentPlanMax: {
          const double c = thetak <= P.TA * kPi ? 0.4 : 0.8;
          q += g(P.IGW_TA * (thetak * ipi - c));
          nrm += 1;
          break;
        }
        case Op::kBcc:
          if (j < k && thetak >= P.min_SPP) {
            q += P.w_SPP * g(P.IGW_SPP * (thetak * ipi - 1.0));
            nrm += P.w_SPP;
          }
          break;
        default:
          break;
      }
      // Third neighbours m: j-i-m angle and the azimuth of m around j from k.
      if (!flag_xaxis) {
        for (std::size_t m = 0; m < n; ++m) {
          if (m == j || m == k) continue;
          const double thetam = std::acos(clamp1(dot(zaxis, u[m])));
          const Vec3 xtwo = gramschmidt(u[m], zaxis);
          const double l = norm(xtwo);
          bool flag_xtwoaxis = true;
          double phi = 0;
          if (l >= kVerySmall) {
            phi = std::acos(clamp1(dot(over(xtwo, l), xaxis)));
            flag_xtwoaxis = false;
          }
          if (is_bipyr_like(t) || t == Op::kSeeSawRect) {  // south pole
            if (thetam >= P.min_SPP) {
              q += g(P.IGW_SPP * (thetam * ipi - 1.0));
              nrm += 1;
            }
          }
          if (flag_xtwoaxis) continue;
          switch (t) {
            case Op::kTriPlanMax:
            case Op::kTetMax:
              q += g(P.IGW_TA * (thetam * ipi - P.TA)) * std::pow(std::cos(P.fac_AA * phi), P.exp_cos_AA);
              nrm += 1;
              break;
            case Op::kPentPlanMax: {
              const double c = thetam <= P.TA * kPi ? 0.4 : 0.8;
              const double cp = std::cos(phi);
              q += g(P.IGW_TA * (thetam * ipi - c)) * cp * cp;
              nrm += 1;
              break;
            }
            case Op::kT: case Op::kTriPyr: case Op::kSqPyr: case Op::kPentPyr: case Op::kHexPyr:
              q += std::pow(std::cos(P.fac_AA * phi), P.exp_cos_AA) * g(P.IGW_EP * (thetam * ipi - 0.5));
              nrm += 1;
              break;
            case Op::kTriBipyr: case Op::kPentBipyr: case Op::kHexBipyr: case Op::kOctMax:
            case Op::kSqPlanMax: case Op::kHexPlanMax:
              if (thetam < P.min_SPP && thetak < P.min_SPP) {
                const double x = t != Op::kHexPlanMax ? P.IGW_EP * (thetam * ipi - 0.5)
                                                      : P.IGW_TA * (std::fabs(thetam * ipi - 0.5) - P.TA);
                q += std::pow(std::cos(P.fac_AA * phi), P.exp_cos_AA) * g(x);
                nrm += 1;
              }
              break;
            case Op::kBcc:
              if (j < k && thetak < P.min_SPP) {
                const double fac = thetak > piover2 ? 1.0 : -1.0;
                const double x = (thetam - piover2) / asin13;
                q += fac * std::cos(3 * phi) * fac_bcc * x * std::exp(-0.5 * x * x);
                nrm += 1;
              }
              break;
            case Op::kSeeSawRect:
              if (thetam < P.min_SPP && thetak < P.min_SPP && phi < 0.75 * kPi) {
                q += std::pow(std::cos(P.fac_AA * phi), P.exp_cos_AA) * g(P.IGW_EP * (thetam * ipi - 0.5));
                nrm += 1;
              }
              break;
            case Op::kCuboctMax:
              if (thetam < P.min_SPP && P.p4 < thetak && thetak < P.p2) {
                if (P.p4 < thetam && thetam < P.p2) {
                  const double cp = std::cos(phi);
                  q += cp * cp * g(P.p5 * (thetam * ipi - 0.5));
                  nrm += 1;
                } else if (thetam < P.p4) {
                  const double a = 0.0556 * (std::cos(phi - 0.5 * kPi) - 0.81649658);
                  q += g(a) * g(P.p6 * (thetam * ipi - onethird));
                  nrm += 1;
                } else if (thetam > P.p2) {
                  const double a = 0.0556 * (std::cos(phi - 0.5 * kPi) - 0.81649658);
                  q += g(a) * g(P.p6 * (thetam * ipi - twothird));
                  nrm += 1;
                }
              }
              break;
            default:
              break;
          }
        }
      }
      if (t == Op::kBent || t == Op::kBcc) {
        sum_q += q;
        sum_norm += nrm;
      } else if (is_max_type(t)) {
        const double v = nrm > 1e-12 ? q / nrm : 0.0;
        best = have_best ? std::max(best, v) : v;
        have_best = true;
      }
    }
  }
  if (t == Op::kBent) return sum_norm > 1e-12 ? sum_q / sum_norm : 0.0;
  if (t == Op::kBcc) return n > 3 ? sum_q / (0.5 * double(n * (6 + (n - 2) * (n - 3)))) : 0.0;
  return n > 1 ? best : 0.0;
}

// ---------------------------------------------------------------------------
// Magpie tables.
// ---------------------------------------------------------------------------

const char* const kMagpieProperties[22] = {
    "Number", "MendeleevNumber", "AtomicWeight", "MeltingT", "Column", "Row", "CovalentRadius",
    "Electronegativity", "NsValence", "NpValence", "NdValence", "NfValence", "NValence",
    "NsUnfilled", "NpUnfilled", "NdUnfilled", "NfUnfilled", "NUnfilled", "GSvolume_pa",
    "GSbandgap", "GSmagmom", "SpaceGroupNumber"};
const char* const kMagpieStats[6] = {"minimum", "maximum", "range", "mean", "avg_dev", "mode"};

// Python's float(line): surrounding whitespace allowed; "Missing", "None" and
// anything else unparsable → NaN (matminer's MagpieData).
double python_float(std::string_view token) {
  token = trim(token);
  auto v = parse_double(token);
  return v ? *v : kNaN;
}

struct MagpieTables {
  std::array<std::array<double, kMaxZ + 1>, 22> value{};  // [property][Z]
  std::vector<double> means, stds;
};

const MagpieTables& magpie_tables() {
  static const MagpieTables tables = [] {
    MagpieTables t;
    for (int p = 0; p < 22; ++p) {
      const std::string name = std::string("magpie/") + kMagpieProperties[p] + ".table";
      const auto lines = split_char(embedded_file(name), '\n');
      t.value[p].fill(kNaN);
      for (int z = 1; z <= kMaxZ && z <= static_cast<int>(lines.size()); ++z) t.value[p][z] = python_float(lines[z - 1]);
    }
    const auto j = nlohmann::json::parse(embedded_file("cdvae_magpie_scaler.json"));
    t.means = j.at("magpie_means").get<std::vector<double>>();
    t.stds = j.at("magpie_stds").get<std::vector<double>>();
    if (t.means.size() != kMagpieFingerprintSize || t.stds.size() != kMagpieFingerprintSize)
      throw Error("cdvae_magpie_scaler.json: expected 132 means and stds", ErrorKind::kInternal);
    return t;
  }();
  return tables;
}

}  // namespace

// ---------------------------------------------------------------------------

CrystalNNData crystalnn_data(const Structure& s, std::size_t site, const CrystalNNOptions& options) {
  if (site >= s.size()) throw Error("CrystalNN: site index out of range", ErrorKind::kInternal);
  const auto faces = voronoi_faces(s, site, options.search_cutoff);

  struct Entry {
    const VoronoiFace* face;
    double weight;
  };
  // VoronoiNN (tol 0, weight "solid_angle"): faces with a positive solid angle,
  // weighted by solid angle / largest solid angle.
  double max_angle = 0;
  for (const auto& f : faces) max_angle = std::max(max_angle, f.solid_angle);
  std::vector<Entry> nn;
  for (const auto& f : faces)
    if (f.solid_angle > 0) nn.push_back({&f, f.solid_angle / max_angle});

  if (options.porous_adjustment)
    for (auto& e : nn) e.weight *= e.face->solid_angle / e.face->area;

  if (options.x_diff_weight > 0) {
    const auto& x1 = element(s.species[site]).x;
    for (auto& e : nn) {
      const auto& x2 = element(s.species[e.face->neighbor.site]).x;
      const double chemical_weight =
          (!x1 || !x2) ? 1.0 : 1 + options.x_diff_weight * std::sqrt(std::fabs(*x1 - *x2) / 3.3);
      e.weight = e.weight * chemical_weight;
    }
  }

  auto by_weight = [](const Entry& a, const Entry& b) { return a.weight > b.weight; };
  CrystalNNData out;
  std::stable_sort(nn.begin(), nn.end(), by_weight);
  if (nn.empty() || nn[0].weight == 0) {
    out.cn_weights[0] = 1.0;
    return out;
  }
  const double highest = nn[0].weight;
  for (auto& e : nn) e.weight = e.weight / highest;

  if (options.use_distance_cutoffs) {
    const double r1 = default_radius(s.species[site]);
    for (auto& e : nn) {
      const double d = r1 + default_radius(s.species[e.face->neighbor.site]);
      const double dist = e.face->neighbor.dist;
      const double low = d + options.distance_cutoff_low, high = d + options.distance_cutoff_high;
      double dist_weight = 0;
      if (dist <= low)
        dist_weight = 1;
      else if (dist < high)
        dist_weight = (std::cos((dist - low) / (high - low) * kPi) + 1) * 0.5;
      e.weight = e.weight * dist_weight;
    }
  }
  std::stable_sort(nn.begin(), nn.end(), by_weight);
  if (nn[0].weight == 0) {
    out.cn_weights[0] = 1.0;
    return out;
  }
  for (const auto& e : nn) {
    const double w = round3(e.weight);
    if (w > 0) out.neighbors.push_back({e.face->neighbor.site, e.face->neighbor.image, e.face->neighbor.offset, w});
  }

  // Distinct weights, highest first, then 0: CN k has probability given by
  // the unit semicircle between consecutive weights.
  std::vector<double> bins;
  for (const auto& e : out.neighbors)
    if (bins.empty() || bins.back() != e.weight) bins.push_back(e.weight);
  bins.push_back(0);
  double total = 0;
  for (std::size_t idx = 0; idx + 1 < bins.size(); ++idx) {
    int cn = 0;
    for (const auto& e : out.neighbors)
      if (e.weight >= bins[idx]) ++cn;
    const double w = semicircle_integral(bins, idx);
    out.cn_weights[cn] = w;
    total += w;
  }
  if (1.0 - total > 0) out.cn_weights[0] = 1.0 - total;
  return out;
}

double motif_order_parameter(int cn, const std::string& motif, const std::vector<Vec3>& offsets) {
  const auto& ops = motif_ops();
  if (cn >= 1 && cn <= 12)
    for (const auto& spec : ops[cn])
      if (motif == spec.label) return order_parameter(spec, offsets);
  throw Error("no order parameter '" + motif + "' for CN " + std::to_string(cn) + " in matminer's \"ops\" preset");
}

const std::vector<std::string>& crystalnn_fingerprint_labels() {
  static const std::vector<std::string> labels = [] {
    std::vector<std::string> l;
    const auto& ops = motif_ops();
    for (int cn = 1; cn <= 24; ++cn) {
      l.push_back("wt CN_" + std::to_string(cn));
      if (cn <= 12)
        for (const auto& spec : ops[cn]) l.push_back(std::string(spec.label) + " CN_" + std::to_string(cn));
    }
    return l;
  }();
  return labels;
}

std::vector<double> crystalnn_site_fingerprint(const Structure& s, std::size_t site, const CrystalNNOptions& options) {
  const CrystalNNData data = crystalnn_data(s, site, options);
  const auto& ops = motif_ops();
  std::vector<double> fp;
  fp.reserve(kCrystalNNFingerprintSize);
  std::vector<Vec3> neigh;
  for (int cn = 1; cn <= 24; ++cn) {
    auto it = data.cn_weights.find(cn);
    const double wt = it == data.cn_weights.end() ? 0.0 : it->second;
    fp.push_back(wt);
    if (cn > 12) continue;
    if (wt != 0) {
      neigh.clear();
      for (int k = 0; k < cn; ++k) neigh.push_back(data.neighbors[k].offset);
    }
    for (const auto& spec : ops[cn]) fp.push_back(wt == 0 ? 0.0 : wt * order_parameter(spec, neigh));
  }
  return fp;
}

std::vector<double> crystalnn_fingerprint(const Structure& s, const CrystalNNOptions& options) {
  std::vector<double> mean(kCrystalNNFingerprintSize, 0.0);
  if (s.size() == 0) throw Error("CrystalNN fingerprint of a structure without sites");
  for (std::size_t i = 0; i < s.size(); ++i) {
    const auto fp = crystalnn_site_fingerprint(s, i, options);
    for (int k = 0; k < kCrystalNNFingerprintSize; ++k) mean[k] += fp[k];
  }
  for (double& x : mean) x /= double(s.size());
  return mean;
}

const std::vector<std::string>& magpie_fingerprint_labels() {
  static const std::vector<std::string> labels = [] {
    std::vector<std::string> l;
    for (const char* prop : kMagpieProperties)
      for (const char* stat : kMagpieStats) l.push_back(std::string("MagpieData ") + stat + " " + prop);
    return l;
  }();
  return labels;
}

std::vector<double> magpie_fingerprint(const Composition& c) {
  if (c.empty()) throw Error("Magpie fingerprint of an empty composition");
  const auto& t = magpie_tables();
  std::vector<int> zs;
  std::vector<double> w;
  for (const auto& [z, amount] : c.amounts()) {
    if (z < 1 || z > kMaxZ) throw Error("Magpie fingerprint: no element with Z = " + std::to_string(z));
    zs.push_back(z);
    w.push_back(amount);
  }
  const std::size_t n = zs.size();
  double wsum = 0, wmax = w[0];
  for (double x : w) wsum += x, wmax = std::max(wmax, x);
  std::vector<double> out;
  out.reserve(kMagpieFingerprintSize);
  std::vector<double> x(n);
  for (int p = 0; p < 22; ++p) {
    bool any_nan = false;
    for (std::size_t i = 0; i < n; ++i) {
      x[i] = t.value[p][zs[i]];
      any_nan = any_nan || std::isnan(x[i]);
    }
    const double lo = *std::min_element(x.begin(), x.end()), hi = *std::max_element(x.begin(), x.end());
    double mean = 0;
    for (std::size_t i = 0; i < n; ++i) mean += x[i] * w[i];
    mean /= wsum;
    double dev = 0;
    for (std::size_t i = 0; i < n; ++i) dev += std::fabs(x[i] - mean) * w[i];
    dev /= wsum;
    // Mode: the smallest value among the elements whose amount is (np.isclose)
    // the largest; NaN when any of those is NaN (numpy's min).
    double mode = std::numeric_limits<double>::infinity();
    for (std::size_t i = 0; i < n; ++i)
      if (std::fabs(w[i] - wmax) <= 1e-8 + 1e-5 * std::fabs(wmax)) mode = std::isnan(x[i]) || std::isnan(mode) ? kNaN : std::min(mode, x[i]);
    out.push_back(any_nan ? kNaN : lo);
    out.push_back(any_nan ? kNaN : hi);
    out.push_back(any_nan ? kNaN : hi - lo);
    out.push_back(any_nan ? kNaN : mean);
    out.push_back(any_nan ? kNaN : dev);
    out.push_back(mode);
  }
  return out;
}

std::vector<double> standardize_magpie(std::vector<double> v) {
  if (v.size() != kMagpieFingerprintSize)
    throw Error("standardize_magpie: expected 132 numbers, got " + std::to_string(v.size()), ErrorKind::kInternal);
  const auto& t = magpie_tables();
  for (std::size_t i = 0; i < v.size(); ++i) {
    v[i] = (v[i] - t.means[i]) / t.stds[i];
    if (std::isnan(v[i])) v[i] = 0.0;
  }
  return v;
}

}  // namespace xtaldiff
