#include <gtest/gtest.h>

#include <cmath>

#include "crystal/lattice.h"
#include "util/error.h"

using namespace xtaldiff;

TEST(Lattice, CubicFromParameters) {
  const Lattice l = Lattice::from_parameters(4, 4, 4, 90, 90, 90);
  EXPECT_NEAR(l.volume(), 64.0, 1e-9);
  const Vec3 len = l.lengths(), ang = l.angles();
  for (int k = 0; k < 3; ++k) {
    EXPECT_NEAR(len[k], 4.0, 1e-12);
    EXPECT_NEAR(ang[k], 90.0, 1e-9);
  }
  // pymatgen's orientation: c along z, a in the xz plane.
  EXPECT_NEAR(l.matrix()[2][2], 4.0, 1e-12);
  EXPECT_NEAR(l.matrix()[0][1], 0.0, 1e-12);
}

TEST(Lattice, HexagonalParametersRoundTrip) {
  const Lattice l = Lattice::from_parameters(2.46, 2.46, 6.7, 90, 90, 120);
  const Vec3 ang = l.angles();
  EXPECT_NEAR(ang[2], 120.0, 1e-9);
  EXPECT_NEAR(l.volume(), 2.46 * 2.46 * std::sin(120.0 * M_PI / 180) * 6.7, 1e-9);
}

TEST(Lattice, TriclinicParametersRoundTrip) {
  const Lattice l = Lattice::from_parameters(3.1, 4.2, 5.3, 71, 83, 102);
  const Vec3 len = l.lengths(), ang = l.angles();
  EXPECT_NEAR(len[0], 3.1, 1e-12);
  EXPECT_NEAR(len[1], 4.2, 1e-12);
  EXPECT_NEAR(len[2], 5.3, 1e-12);
  EXPECT_NEAR(ang[0], 71, 1e-9);
  EXPECT_NEAR(ang[1], 83, 1e-9);
  EXPECT_NEAR(ang[2], 102, 1e-9);
}

TEST(Lattice, ReciprocalIsDual) {
  const Lattice l = Lattice::from_parameters(3.1, 4.2, 5.3, 71, 83, 102);
  const Mat3 r = l.reciprocal().matrix();
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) EXPECT_NEAR(dot(l.matrix()[i], r[j]), i == j ? 2 * M_PI : 0.0, 1e-12);
  EXPECT_NEAR(l.reciprocal_crystallographic().volume() * l.volume(), 1.0, 1e-12);
}

TEST(Lattice, FractionalCartesianRoundTrip) {
  const Lattice l = Lattice::from_parameters(3.1, 4.2, 5.3, 71, 83, 102);
  const Vec3 f{0.1, -0.7, 1.3};
  const Vec3 back = l.to_fractional(l.to_cartesian(f));
  for (int k = 0; k < 3; ++k) EXPECT_NEAR(back[k], f[k], 1e-12);
}

TEST(Lattice, ValidationRejectsDegenerateCells) {
  EXPECT_THROW(Lattice(Mat3{{{1, 0, 0}, {2, 0, 0}, {0, 0, 1}}}).validate(), Error);
  EXPECT_THROW(Lattice(Mat3{{{NAN, 0, 0}, {0, 1, 0}, {0, 0, 1}}}).validate(), Error);
  EXPECT_NO_THROW(Lattice::from_parameters(1, 1, 1, 90, 90, 90).validate());
}
