#include <gtest/gtest.h>

#include "crystal/symmetry.h"
#include "util/error.h"

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

// A real output of a one-epoch model (Cli.TrainsAConditionedD3pmModelAndSamplesASpaceGroup):
// two cell vectors 0.044 Å apart, so every atom overlaps its own images.
// spglib 2.0.2 crashes on it (Python's spglib too); xtaldiff answers P1,
// not found, and the standard-cell searches say why they cannot run.
TEST(Symmetry, CollapsedCellIsP1WithoutAskingSpglib) {
  const Structure s(Lattice(Mat3{{{5.9459996223449707, 5.0537247657775879, -4.8961362838745117},
                                  {8.3855419158935547, 8.3412723541259766, -8.3818159103393555},
                                  {8.3855419158935547, 8.3855419158935547, -8.3855419158935547}}}),
                    {19, 37, 31, 51, 78},
                    {{0.3293893039226532, 0.29428073763847351, 0.01357918418943882},
                     {0.17525549232959747, 0.25204086303710938, 0.45706358551979065},
                     {0.96457278728485107, 0.65646851062774658, 0.55674874782562256},
                     {0.45636332035064697, 0.44889000058174133, 0.6512444019317627},
                     {0.50690031051635742, 0.95729291439056396, 0.19580870866775513}});
  const SpaceGroupInfo info = analyze_symmetry(s, 0.1);
  EXPECT_EQ(info.number, 1);
  EXPECT_FALSE(info.found);
  EXPECT_EQ(info.equivalent_atoms.size(), 5u);
  EXPECT_THROW(standard_primitive(s, 0.1), Error);
  EXPECT_THROW(standard_conventional(s, 0.1), Error);
  // At a tolerance below its shortest period (0.044 Å) spglib is asked, and returns.
  EXPECT_NO_THROW(analyze_symmetry(s, 0.01));
  // Distances come back at once (the image search runs on the reduced
  // basis) and equal pymatgen's Structure.distance_matrix.
  EXPECT_NEAR(min_pair_distance(s), 0.46254192775173675, 1e-9);
  EXPECT_NEAR(min_image_distance(s, 0, 1), 0.813935259315417, 1e-9);
}
