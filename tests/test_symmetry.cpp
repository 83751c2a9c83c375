#include <gtest/gtest.h>

#include "crystal/symmetry.h"

using namespace xtaldiff;

namespace {

Structure rocksalt(double a = 5.64) {
  Structure s;
  s.lattice = Lattice::from_parameters(a, a, a, 90, 90, 90);
  const Vec3 fcc[4] = {{0, 0, 0}, {0.5, 0.5, 0}, {0.5, 0, 0.5}, {0, 0.5, 0.5}};
  for (const auto& p : fcc) {
    s.species.push_back(11);
    s.frac.push_back(p);
    s.species.push_back(17);
    s.frac.push_back({wrap01(p[0] + 0.5), p[1], p[2]});
  }
  return s;
}

Structure cubic_perovskite() {  // SrTiO3, Pm-3m
  return Structure(Lattice::from_parameters(3.905, 3.905, 3.905, 90, 90, 90), {38, 22, 8, 8, 8},
                   {{0, 0, 0}, {0.5, 0.5, 0.5}, {0.5, 0.5, 0}, {0.5, 0, 0.5}, {0, 0.5, 0.5}});
}

}  // namespace

TEST(Symmetry, RockSaltIsFm3m) {
  const auto sg = analyze_symmetry(rocksalt());
  EXPECT_EQ(sg.number, 225);
  EXPECT_EQ(sg.international, "Fm-3m");
  EXPECT_EQ(sg.operations.size(), 192u);  // 48 point operations × 4 centring translations
  EXPECT_EQ(crystal_system(sg.number), "cubic");
}

TEST(Symmetry, PerovskiteWyckoffPositions) {
  const auto sg = analyze_symmetry(cubic_perovskite());
  EXPECT_EQ(sg.number, 221);
  EXPECT_EQ(sg.international, "Pm-3m");
  // Sr 1a, Ti 1b, O 3c (setting with Sr at the origin).
  EXPECT_EQ(sg.wyckoffs[0], "a");
  EXPECT_EQ(sg.wyckoffs[1], "b");
  EXPECT_EQ(sg.wyckoffs[2], "c");
  EXPECT_EQ(sg.equivalent_atoms[3], sg.equivalent_atoms[2]);
  EXPECT_EQ(sg.equivalent_atoms[4], sg.equivalent_atoms[2]);
}

TEST(Symmetry, ToleranceMatters) {
  Structure s = cubic_perovskite();
  s.frac[1][2] += 0.01;  // Ti off-centre by 0.039 Å: tetragonal P4mm at tight tolerance
  EXPECT_EQ(analyze_symmetry(s, 0.1).number, 221);
  EXPECT_EQ(analyze_symmetry(s, 0.01).number, 99);
}

TEST(Symmetry, PrimitiveAndConventionalCells) {
  const Structure prim = standard_primitive(rocksalt());
  EXPECT_EQ(prim.size(), 2u);
  EXPECT_NEAR(prim.volume(), 5.64 * 5.64 * 5.64 / 4, 1e-6);
  const Structure conv = standard_conventional(prim);
  EXPECT_EQ(conv.size(), 8u);
  EXPECT_NEAR(conv.volume(), 5.64 * 5.64 * 5.64, 1e-6);
}

TEST(Symmetry, LowSymmetryIsP1) {
  Structure s(Lattice::from_parameters(3.1, 4.2, 5.3, 71, 83, 102), {6, 7, 8},
              {{0.1, 0.2, 0.3}, {0.45, 0.61, 0.17}, {0.8, 0.33, 0.71}});
  EXPECT_EQ(analyze_symmetry(s).number, 1);
}
