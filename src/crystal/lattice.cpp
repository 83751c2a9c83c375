#include "crystal/lattice.h"

#include <algorithm>
#include <string>

#include "util/error.h"

namespace xtaldiff {
namespace {

double deg2rad(double d) { return d * kPi / 180.0; }
double clamp1(double v) { return std::max(-1.0, std::min(1.0, v)); }

std::string fmt_num(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

}  // namespace

Lattice Lattice::from_parameters(double a, double b, double c, double alpha, double beta, double gamma) {
  // pymatgen Lattice.from_parameters(vesta=False): c along z, a in the xz plane.
  const double ca = std::cos(deg2rad(alpha)), cb = std::cos(deg2rad(beta)), cg = std::cos(deg2rad(gamma));
  const double sa = std::sin(deg2rad(alpha)), sb = std::sin(deg2rad(beta));
  const double val = clamp1((ca * cb - cg) / (sa * sb));
  // For |val| < 1e-8, acos(val) = π/2 − val to double precision; written so,
  // it also reproduces numpy's arccos bit for bit at val = −cos(90°), which
  // decides pymatgen's Niggli tie-breaks for cells with right angles.
  const double gamma_star = std::fabs(val) < 1e-8 ? kPi / 2 - val : std::acos(val);
  return Lattice(Mat3{{{a * sb, 0.0, a * cb},
                       {-b * sa * std::cos(gamma_star), b * sa * std::sin(gamma_star), b * ca},
                       {0.0, 0.0, c}}});
}

Vec3 Lattice::lengths() const { return {norm(m_[0]), norm(m_[1]), norm(m_[2])}; }

Vec3 Lattice::angles() const {
  const Vec3 l = lengths();
  auto angle = [&](int i, int j) {
    return std::acos(clamp1(dot(m_[i], m_[j]) / (l[i] * l[j]))) * 180.0 / kPi;
  };
  return {angle(1, 2), angle(0, 2), angle(0, 1)};
}

double Lattice::volume() const { return std::fabs(det(m_)); }

Lattice Lattice::reciprocal_crystallographic() const { return Lattice(transpose(inverse(m_))); }

Lattice Lattice::reciprocal() const {
  Mat3 r = transpose(inverse(m_));
  for (auto& row : r)
    for (double& x : row) x *= 2.0 * kPi;
  return Lattice(r);
}

bool Lattice::is_valid(double min_volume) const { return all_finite(m_) && volume() >= min_volume; }

void Lattice::validate(double min_volume) const {
  if (!all_finite(m_)) throw Error("lattice has a non-finite entry (NaN or infinity)");
  const double v = volume();
  if (!(v >= min_volume))
    throw Error("lattice volume " + fmt_num(v) + " Å³ is degenerate (below " + fmt_num(min_volume) + " Å³)");
}

}  // namespace xtaldiff
