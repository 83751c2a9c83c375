// The formation-energy hull against pymatgen's PhaseDiagram on MP-20
// training entries (tests/fixtures/hull_mp20.json.gz, written by
// tools/make_hull_fixtures.py), and against hand-computed binaries.
#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>

#include "eval/convex_hull.h"
#include "util/error.h"
#include "util/file_io.h"

using namespace xtaldiff;

namespace {

HullEntry entry(const std::string& formula, double e) { return {formula, Composition::parse(formula), e}; }

}  // namespace

TEST(ConvexHull, BinaryByHand) {
  // A-B with AB at -1 and AB3 at -0.4 (above the AB–B tie line at -0.5).
  const ConvexHull hull({entry("NaCl", -1.0), entry("NaCl3", -0.4)});
  EXPECT_NEAR(hull.at(Composition::parse("NaCl")).energy_per_atom, -1.0, 1e-12);
  EXPECT_NEAR(hull.at(Composition::parse("Na3Cl")).energy_per_atom, -0.5, 1e-12);  // half-way to Na
  EXPECT_NEAR(hull.at(Composition::parse("NaCl3")).energy_per_atom, -0.5, 1e-12);
  EXPECT_NEAR(hull.energy_above_hull(Composition::parse("NaCl3"), -0.4), 0.1, 1e-12);
  EXPECT_NEAR(hull.at(Composition::parse("Na")).energy_per_atom, 0.0, 1e-12);
  // Amounts do not matter, only fractions.
  EXPECT_NEAR(hull.at(Composition::parse("Na2Cl2")).energy_per_atom, -1.0, 1e-12);
  // Decomposition of Na3Cl: half NaCl, half Na.
  const HullPoint p = hull.at(Composition::parse("Na3Cl"));
  ASSERT_EQ(p.decomposition.size(), 2u);
  double na = 0, nacl = 0;
  for (const auto& ph : p.decomposition) (ph.entry == 0 ? nacl : na) += ph.fraction;
  EXPECT_NEAR(nacl, 0.5, 1e-12);
  EXPECT_NEAR(na, 0.5, 1e-12);
  // A ternary composition sees its binary subsystems; other systems are ignored.
  const ConvexHull h2({entry("NaCl", -1.0), entry("KBr", -5.0)});
  EXPECT_NEAR(h2.at(Composition::parse("Na2ClO")).energy_per_atom, -0.5, 1e-12);
}

TEST(ConvexHull, RefusesNonFiniteEnergies) {
  try {
    ConvexHull({entry("NaCl", std::nan(""))});
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("NaCl"), std::string::npos);
  }
}

TEST(ConvexHull, EqualsPymatgenOnMp20Systems) {
  const auto j = nlohmann::json::parse(read_file(std::string(XTALDIFF_FIXTURES_DIR) + "/hull_mp20.json.gz"));
  std::size_t checked = 0, systems = 0;
  for (const auto& sys : j["systems"]) {
    std::vector<HullEntry> entries;
    for (const auto& e : sys["entries"])
      entries.push_back({e["id"], Composition::parse(e["formula"].get<std::string>()), e["e"].get<double>()});
    const ConvexHull hull(entries);
    for (const auto& q : sys["queries"]) {
      const Composition c = Composition::parse(q["formula"].get<std::string>());
      EXPECT_NEAR(hull.at(c).energy_per_atom, q["hull"].get<double>(), 1e-7) << sys["system"] << " " << q["formula"];
      EXPECT_NEAR(hull.energy_above_hull(c, q["e"].get<double>()), q["e_above_hull"].get<double>(), 1e-7)
          << sys["system"] << " " << q["formula"];
      ++checked;
    }
    ++systems;
  }
  EXPECT_EQ(systems, 12u);
  EXPECT_GE(checked, 1000u);
}
