/// @file
/// Small fixed-size 3-vector and 3x3 matrix arithmetic in double precision.
/// Crystallography needs only these; a full linear-algebra dependency would
/// cost more compile time than it saves. Matrices are row-major: m[i][j] is
/// row i, column j.
#pragma once

#include <array>
#include <cmath>

namespace xtaldiff {

constexpr double kPi = 3.14159265358979323846;

/// Python's round() and numpy.round: half to even (the default rounding
/// mode of std::nearbyint, which nothing here changes).
inline double round_half_even(double x) { return std::nearbyint(x); }

using Vec3 = std::array<double, 3>;
using Mat3 = std::array<Vec3, 3>;
using IMat3 = std::array<std::array<int, 3>, 3>;

inline Vec3 operator+(const Vec3& a, const Vec3& b) { return {a[0] + b[0], a[1] + b[1], a[2] + b[2]}; }
inline Vec3 operator-(const Vec3& a, const Vec3& b) { return {a[0] - b[0], a[1] - b[1], a[2] - b[2]}; }
inline Vec3 operator*(double s, const Vec3& a) { return {s * a[0], s * a[1], s * a[2]}; }
inline double dot(const Vec3& a, const Vec3& b) { return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]; }
inline double norm(const Vec3& a) { return std::sqrt(dot(a, a)); }
inline Vec3 cross(const Vec3& a, const Vec3& b) {
  return {a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]};
}

inline Mat3 identity3() { return {{{1, 0, 0}, {0, 1, 0}, {0, 0, 1}}}; }
inline Mat3 transpose(const Mat3& m) {
  return {{{m[0][0], m[1][0], m[2][0]}, {m[0][1], m[1][1], m[2][1]}, {m[0][2], m[1][2], m[2][2]}}};
}
inline Mat3 matmul(const Mat3& a, const Mat3& b) {
  Mat3 r{};
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) r[i][j] = a[i][0] * b[0][j] + a[i][1] * b[1][j] + a[i][2] * b[2][j];
  return r;
}
/// Row vector times matrix: v·M (fractional → Cartesian with rows = lattice vectors).
inline Vec3 vecmat(const Vec3& v, const Mat3& m) {
  return {v[0] * m[0][0] + v[1] * m[1][0] + v[2] * m[2][0], v[0] * m[0][1] + v[1] * m[1][1] + v[2] * m[2][1],
          v[0] * m[0][2] + v[1] * m[1][2] + v[2] * m[2][2]};
}
/// Matrix times column vector: M·v.
inline Vec3 matvec(const Mat3& m, const Vec3& v) { return {dot(m[0], v), dot(m[1], v), dot(m[2], v)}; }
inline double det(const Mat3& m) { return dot(m[0], cross(m[1], m[2])); }
/// Inverse; the caller guarantees det != 0.
inline Mat3 inverse(const Mat3& m) {
  const double d = det(m);
  const Vec3 c0 = cross(m[1], m[2]), c1 = cross(m[2], m[0]), c2 = cross(m[0], m[1]);
  // Columns of the inverse are the cross products divided by the determinant.
  return {{{c0[0] / d, c1[0] / d, c2[0] / d}, {c0[1] / d, c1[1] / d, c2[1] / d}, {c0[2] / d, c1[2] / d, c2[2] / d}}};
}
inline Mat3 to_double(const IMat3& m) {
  Mat3 r{};
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) r[i][j] = m[i][j];
  return r;
}
inline bool all_finite(const Mat3& m) {
  for (const auto& row : m)
    for (double x : row)
      if (!std::isfinite(x)) return false;
  return true;
}

}  // namespace xtaldiff
