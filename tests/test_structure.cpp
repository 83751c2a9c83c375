#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "crystal/structure.h"
#include "util/error.h"

using namespace xtaldiff;

namespace {

// Conventional fcc copper, a = 3.615 Å.
Structure fcc_cu(double a = 3.615) {
  return Structure(Lattice::from_parameters(a, a, a, 90, 90, 90), {29, 29, 29, 29},
                   {{0, 0, 0}, {0.5, 0.5, 0}, {0.5, 0, 0.5}, {0, 0.5, 0.5}});
}

Structure rocksalt_nacl(double a = 5.64) {
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

}  // namespace

TEST(Structure, DensityOfCopper) {
  // 4 × 63.546 u × 1.66054e-24 g/u in (3.615 Å)³ = 8.9345 g/cm³ (X-ray density of Cu).
  EXPECT_NEAR(fcc_cu().density(), 8.9345, 1e-4);
}

TEST(Structure, NearestNeighbourDistanceFcc) {
  const Structure s = fcc_cu();
  EXPECT_NEAR(min_pair_distance(s), 3.615 / std::sqrt(2.0), 1e-12);
  const auto d = distance_matrix(s);
  EXPECT_DOUBLE_EQ(d[0], 0.0);
  EXPECT_NEAR(d[1], 3.615 / std::sqrt(2.0), 1e-12);
}

TEST(Structure, MinimumImageInSkewedCell) {
  // A very oblique cell of a simple lattice: the nearest image is not the
  // naive rounded one. Lattice vectors a=(1,0,0), b=(10.3,1,0), c=(0,0,1).
  Structure s(Lattice(Mat3{{{1, 0, 0}, {10.3, 1, 0}, {0, 0, 1}}}), {6, 6}, {{0, 0, 0}, {0.0, 0.5, 0}});
  // Site 2 sits at Cartesian (5.15, 0.5, 0); the nearest image is (0.15, 0.5, 0).
  EXPECT_NEAR(min_image_distance(s, 0, 1), std::sqrt(0.15 * 0.15 + 0.25), 1e-12);
}

TEST(Structure, NeighbourListCountsFcc) {
  const Structure s = fcc_cu();
  const auto nl = neighbor_list(s, 2.6);  // first shell only (12 at 2.556 Å)
  EXPECT_EQ(nl.size(), 4u * 12u);
  for (const auto& n : nl) EXPECT_NEAR(n.distance, 3.615 / std::sqrt(2.0), 1e-9);
  const auto nl2 = neighbor_list(s, 3.7);  // + 6 second neighbours at a
  EXPECT_EQ(nl2.size(), 4u * 18u);
}

TEST(Structure, NeighbourListIncludesOwnImages) {
  Structure s(Lattice::from_parameters(2, 2, 2, 90, 90, 90), {26}, {{0, 0, 0}});
  EXPECT_EQ(neighbor_list(s, 2.1).size(), 6u);  // simple cubic: 6 images at 2 Å
}

TEST(Structure, SupercellKeepsDensityAndMultipliesSites) {
  const Structure s = rocksalt_nacl();
  const Structure big = make_supercell(s, {{{2, 0, 0}, {0, 1, 0}, {0, 0, 3}}});
  EXPECT_EQ(big.size(), 48u);
  EXPECT_NEAR(big.density(), s.density(), 1e-12);
  EXPECT_NEAR(min_pair_distance(big), 5.64 / 2, 1e-9);
  // A non-diagonal supercell: the primitive-to-conventional-like matrix.
  const Structure skew = make_supercell(s, {{{1, 1, 0}, {-1, 1, 0}, {0, 0, 1}}});
  EXPECT_EQ(skew.size(), 16u);
  EXPECT_NEAR(skew.density(), s.density(), 1e-12);
}

TEST(Structure, SupercellRejectsBadMatrix) {
  EXPECT_THROW(make_supercell(rocksalt_nacl(), {{{1, 0, 0}, {1, 0, 0}, {0, 0, 1}}}), Error);
}

TEST(Structure, SortedBySpecies) {
  const Structure s = sorted_by_species(rocksalt_nacl());
  EXPECT_TRUE(std::is_sorted(s.species.begin(), s.species.end()));
  EXPECT_EQ(s.composition(), rocksalt_nacl().composition());
}

TEST(Structure, PerturbationMovesEachSiteByTheDistance) {
  const Structure s = rocksalt_nacl();
  const Structure p = perturbed(s, 0.1, 42);
  for (std::size_t i = 0; i < s.size(); ++i) {
    Structure pair(s.lattice, {11, 11}, {s.frac[i], p.frac[i]});
    EXPECT_NEAR(min_image_distance(pair, 0, 1), 0.1, 1e-9);
  }
  // Same seed, same result.
  EXPECT_EQ(perturbed(s, 0.1, 42).frac, p.frac);
}

TEST(Structure, WrapIntoUnitInterval) {
  EXPECT_DOUBLE_EQ(wrap01(-0.25), 0.75);
  EXPECT_DOUBLE_EQ(wrap01(1.0), 0.0);
  EXPECT_DOUBLE_EQ(wrap01(1.0 - 1e-14), 0.0);
  EXPECT_DOUBLE_EQ(wrap01(2.5), 0.5);
}

TEST(Structure, ValidateCatchesBrokenStructures) {
  Structure empty(Lattice::from_parameters(3, 3, 3, 90, 90, 90), {}, {});
  EXPECT_THROW(empty.validate(), Error);
  Structure nan_site(Lattice::from_parameters(3, 3, 3, 90, 90, 90), {6}, {{NAN, 0, 0}});
  EXPECT_THROW(nan_site.validate(), Error);
  Structure flat(Lattice(Mat3{{{1, 0, 0}, {0, 1, 0}, {1, 1, 0}}}), {6}, {{0, 0, 0}});
  EXPECT_THROW(flat.validate(), Error);
}

TEST(Structure, NiggliReducedKeepsTheCrystal) {
  Structure s = rocksalt_nacl();
  // Re-express in a skewed but equivalent basis, then reduce.
  const Structure skew = make_supercell(s, {{{1, 2, 0}, {0, 1, 0}, {0, 0, 1}}});
  const Structure red = niggli_reduced(skew);
  EXPECT_EQ(red.size(), s.size());
  EXPECT_NEAR(red.volume(), s.volume(), 1e-8);
  EXPECT_NEAR(min_pair_distance(red), 2.82, 1e-9);
}
