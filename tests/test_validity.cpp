// Validity as the field computes it (CDVAE/DiffCSP `structure_validity` and
// `smact_validity` with SMACT 2.2.1), checked against the Python reference
// tools/make_validity_fixtures.py froze in tests/fixtures/validity.tsv.gz:
// every structure of the shipped Perov-5 / Carbon-24 / MP-20 / MPTS-52 test
// splits and the old MP-20 head, 700 synthetic structures around the 0.5 Å
// cutoff, and ~3100
// compositions; plus facts about particular crystals and formulas.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <limits>
#include <map>
#include <thread>

#include "eval/validity.h"
#include "io/dataset.h"
#include "util/error.h"
#include "util/file_io.h"
#include "util/strings.h"

using namespace xtaldiff;

namespace {

struct FixtureRow {
  std::string dataset;
  std::string id;
  std::string struct_valid;  // "0", "1" or "NA"
  bool comp_valid = false;
};

const std::vector<FixtureRow>& fixture() {
  static const std::vector<FixtureRow> rows = [] {
    const std::string text = read_file(std::string(XTALDIFF_FIXTURES_DIR) + "/validity.tsv.gz");
    std::vector<FixtureRow> out;
    const auto lines = split_char(text, '\n');
    for (std::size_t i = 1; i < lines.size(); ++i) {
      if (trim(lines[i]).empty()) continue;
      const auto f = split_char(lines[i], '\t');
      if (f.size() != 5) throw Error("validity.tsv.gz: line " + std::to_string(i + 1) + ": 5 fields expected");
      out.push_back({std::string(f[0]), std::string(f[2]), std::string(f[3]), f[4] == "1"});
    }
    return out;
  }();
  return rows;
}

std::vector<const FixtureRow*> fixture_rows(const std::string& dataset) {
  std::vector<const FixtureRow*> out;
  for (const auto& r : fixture())
    if (r.dataset == dataset) out.push_back(&r);
  return out;
}

const std::map<std::string, std::string> kDatasetFiles = {
    {"perov_5_test", std::string(XTALDIFF_DATA_DIR) + "/datasets/perov_5/test.csv.gz"},
    {"carbon_24_test", std::string(XTALDIFF_DATA_DIR) + "/datasets/carbon_24/test.csv.gz"},
    {"mp_20_head", std::string(XTALDIFF_DATA_DIR) + "/datasets/mp_20_head/train_head.csv.gz"},
    {"mp_20_test", std::string(XTALDIFF_DATA_DIR) + "/datasets/mp_20/test.csv.gz"},
    {"mpts_52_test", std::string(XTALDIFF_DATA_DIR) + "/datasets/mpts_52/test.csv.gz"},
    {"synthetic", std::string(XTALDIFF_FIXTURES_DIR) + "/validity_synthetic.csv.gz"}};

const Dataset& dataset(const std::string& name) {
  static std::map<std::string, Dataset> cache;
  auto it = cache.find(name);
  if (it == cache.end()) {
    DatasetReadOptions o;
    o.use_cache = false;
    it = cache.emplace(name, read_cdvae_csv(kDatasetFiles.at(name), o)).first;
  }
  return it->second;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

Structure cubic(double a, std::vector<int> z, std::vector<Vec3> frac) {
  return Structure(Lattice::from_parameters(a, a, a, 90, 90, 90), std::move(z), std::move(frac));
}

bool valid(const char* formula) { return composition_valid(Composition::parse(formula)); }

}  // namespace

// ---------------------------------------------------------------- fixtures

class ValidityAgreement : public ::testing::TestWithParam<std::string> {};

TEST_P(ValidityAgreement, EveryStructureAgreesWithCdvae) {
  const std::string name = GetParam();
  const auto expected = fixture_rows(name);
  const Dataset& d = dataset(name);
  ASSERT_EQ(d.size(), expected.size()) << name;
  std::size_t struct_agree = 0, comp_agree = 0, n_struct = 0, n_comp = 0, n_valid = 0;
  const auto t0 = std::chrono::steady_clock::now();
  for (std::size_t i = 0; i < d.size(); ++i) {
    const FixtureRow& e = *expected[i];
    ASSERT_EQ(d.records[i].id, e.id) << name << " row " << i;
    const Validity v = check_validity(d.records[i].structure);
    const bool want_struct = e.struct_valid == "1";
    struct_agree += v.structural == want_struct;
    comp_agree += v.compositional == e.comp_valid;
    n_struct += v.structural;
    n_comp += v.compositional;
    n_valid += v.valid();
    EXPECT_EQ(v.structural, want_struct) << name << " row " << i << " (" << e.id << ")";
    EXPECT_EQ(v.compositional, e.comp_valid)
        << name << " row " << i << " (" << e.id << ") " << d.records[i].structure.composition().reduced_formula();
  }
  const double dt = seconds_since(t0);
  std::printf("[ validity ] %s: %zu structures, structural agrees %zu, SMACT agrees %zu; "
              "struct valid %.2f %%, SMACT valid %.2f %%, valid %.2f %% (%.3f s)\n",
              name.c_str(), d.size(), struct_agree, comp_agree, 100.0 * n_struct / d.size(),
              100.0 * n_comp / d.size(), 100.0 * n_valid / d.size(), dt);
}

INSTANTIATE_TEST_SUITE_P(Datasets, ValidityAgreement,
                         ::testing::Values("perov_5_test", "carbon_24_test", "mp_20_head", "mp_20_test",
                                           "mpts_52_test", "synthetic"));

// DiffCSP's published ceiling: 98.60 % of Perov-5's test set is SMACT-valid.
TEST(ValidityFacts, Perov5TestSmactValidShareIs98_60) {
  const Dataset& d = dataset("perov_5_test");
  std::size_t n = 0;
  for (const auto& r : d.records) n += composition_valid(r.structure.composition());
  EXPECT_EQ(d.size(), 3785u);
  EXPECT_EQ(n, 3732u);
  EXPECT_NEAR(100.0 * n / d.size(), 98.60, 0.005);
}

TEST(ValidityFacts, EveryFormulaAgreesWithSmact) {
  const auto rows = fixture_rows("formula");
  ASSERT_GT(rows.size(), 3000u);
  std::size_t agree = 0;
  const auto t0 = std::chrono::steady_clock::now();
  for (const FixtureRow* r : rows) {
    const bool v = composition_valid(Composition::parse(r->id));
    agree += v == r->comp_valid;
    EXPECT_EQ(v, r->comp_valid) << r->id;
  }
  std::printf("[ validity ] formulas: %zu, agree %zu (%.3f s)\n", rows.size(), agree, seconds_since(t0));
}

// The synthetic structures were scaled so that their shortest distance sits
// 2e-4 (relative) on either side of 0.5 Å: the check must see the difference,
// also in very oblique cells.
TEST(ValidityFacts, SyntheticCutoffCasesSplitAsBuilt) {
  const Dataset& d = dataset("synthetic");
  std::size_t checked = 0;
  for (const auto& r : d.records) {
    const bool low = r.id.size() > 4 && r.id.compare(r.id.size() - 4, 4, "-low") == 0;
    const bool high = r.id.size() > 5 && r.id.compare(r.id.size() - 5, 5, "-high") == 0;
    if (!low && !high) continue;
    ++checked;
    EXPECT_EQ(structure_valid(r.structure), high) << r.id;
    const double dmin = min_pair_distance(r.structure);
    EXPECT_NEAR(dmin, high ? 0.5001 : 0.4999, 2e-6) << r.id;
  }
  EXPECT_EQ(checked, 300u);
}

// pymatgen's LLL + 27-image distances and the exhaustive minimum image agree
// at the cutoff on every shipped and synthetic structure.
TEST(ValidityFacts, AgreesWithExhaustiveMinimumImage) {
  for (const auto& [name, path] : kDatasetFiles) {
    (void)path;
    for (const auto& r : dataset(name).records) {
      const Structure& s = r.structure;
      const bool exhaustive = s.volume() >= 0.1 && !(min_pair_distance(s) < 0.5);
      EXPECT_EQ(structure_valid(s), exhaustive) << name << " " << r.id;
    }
  }
}

// ---------------------------------------------------------------- structures

TEST(StructureValidity, CutoffAcrossTheCellBoundary) {
  // 0.02 and 0.922 in a 5 Å cube: 0.098 * 5 = 0.49 Å apart through the face.
  EXPECT_FALSE(structure_valid(cubic(5, {11, 17}, {{0.02, 0, 0}, {0.922, 0, 0}})));
  EXPECT_TRUE(structure_valid(cubic(5, {11, 17}, {{0.02, 0, 0}, {0.918, 0, 0}})));
  // Custom cutoff.
  EXPECT_TRUE(structure_valid(cubic(5, {11, 17}, {{0.02, 0, 0}, {0.922, 0, 0}}), 0.45));
  EXPECT_FALSE(structure_valid(cubic(5, {11, 17}, {{0, 0, 0}, {0.5, 0.5, 0.5}}), 4.4));
  EXPECT_TRUE(structure_valid(cubic(5, {11, 17}, {{0, 0, 0}, {0.5, 0.5, 0.5}}), 4.3));
}

TEST(StructureValidity, OverlappingAtomsAreInvalid) {
  EXPECT_FALSE(structure_valid(cubic(4, {6, 6}, {{0.1, 0.2, 0.3}, {0.1, 0.2, 0.3}})));
  EXPECT_FALSE(structure_valid(cubic(4, {6, 8}, {{0, 0, 0}, {0.999999, 0, 0}})));
}

TEST(StructureValidity, VolumeLimitAndOwnImages) {
  // One atom: only the volume counts; its own images (0.3 Å away) are not tested.
  EXPECT_TRUE(structure_valid(Structure(Lattice::from_parameters(0.3, 0.6, 0.6, 90, 90, 90), {6}, {{0, 0, 0}})));
  EXPECT_FALSE(structure_valid(Structure(Lattice::from_parameters(0.3, 0.5, 0.6, 90, 90, 90), {6}, {{0, 0, 0}})));
  EXPECT_TRUE(structure_valid(cubic(std::cbrt(0.1001), {6}, {{0, 0, 0}})));
  EXPECT_FALSE(structure_valid(cubic(std::cbrt(0.0999), {6}, {{0, 0, 0}})));
  EXPECT_TRUE(structure_valid(cubic(3, {6}, {{0, 0, 0}}), 0.5, 26.9));
  EXPECT_FALSE(structure_valid(cubic(3, {6}, {{0, 0, 0}}), 0.5, 27.1));
}

TEST(StructureValidity, UnusableStructuresAreInvalid) {
  EXPECT_FALSE(structure_valid(Structure()));
  const double nan = std::numeric_limits<double>::quiet_NaN();
  EXPECT_FALSE(structure_valid(cubic(4, {6, 6}, {{0, 0, 0}, {nan, 0, 0}})));
  EXPECT_FALSE(structure_valid(cubic(nan, {6}, {{0, 0, 0}})));
  Structure flat(Lattice(Mat3{Vec3{4, 0, 0}, Vec3{0, 4, 0}, Vec3{4, 4, 0}}), {6, 6}, {{0, 0, 0}, {0.5, 0.5, 0.5}});
  EXPECT_FALSE(structure_valid(flat));
  EXPECT_FALSE(check_validity(Structure()).valid());
}

TEST(StructureValidity, SameCrystalInAnObliqueBasis) {
  const Structure s = cubic(4.2, {11, 17}, {{0, 0, 0}, {0.5, 0.5, 0.5}});
  const IMat3 t{{{1, 7, -3}, {0, 1, 5}, {0, 0, 1}}};
  const Structure oblique = make_supercell(s, t);
  EXPECT_TRUE(structure_valid(oblique));
  EXPECT_TRUE(structure_valid(oblique, 3.63));  // CsCl type: shortest distance 4.2·√3/2 = 3.637 Å
  EXPECT_FALSE(structure_valid(oblique, 3.64));
}

// ---------------------------------------------------------------- compositions

TEST(CompositionValidity, OrdinaryIonicCompounds) {
  for (const char* f : {"NaCl", "CsCl", "MgO", "Al2O3", "Fe2O3", "FeO", "BaTiO3", "SrTiO3", "LiFePO4", "CaF2",
                        "TiO2", "GaAs", "CsPbI3", "Li7La3Zr2O12"})
    EXPECT_TRUE(valid(f)) << f;
}

TEST(CompositionValidity, SmactRulesOutMixedValenceAndOddStoichiometry) {
  // Fe3O4 needs Fe2+ and Fe3+ together: one state per element only.
  EXPECT_FALSE(valid("Fe3O4"));
  EXPECT_FALSE(valid("Mn7O13"));
  EXPECT_FALSE(valid("KO2"));  // superoxide: no O-1/2 state
  EXPECT_FALSE(valid("NaCl2"));
  EXPECT_FALSE(valid("FO2"));  // F has only -1: O would need +1/2
  EXPECT_TRUE(valid("OF2"));   // O+2, F-1: F is the more electronegative
  EXPECT_EQ(valid("Na2Cl4"), valid("NaCl2"));  // counts are reduced by their gcd
}

TEST(CompositionValidity, SingleElementsAndAlloys) {
  EXPECT_TRUE(valid("Fe"));
  EXPECT_TRUE(valid("He"));  // one element: valid before oxidation states matter
  EXPECT_TRUE(valid("C"));
  EXPECT_TRUE(valid("CuZn"));
  EXPECT_TRUE(valid("Cu3Au"));
  EXPECT_TRUE(valid("FeCoNiCrMn"));
  // B, Si, As are not in SMACT's metals list: no alloy shortcut.
  EXPECT_FALSE(valid("FeB"));
  EXPECT_FALSE(valid("GaAs2"));
  // Pm is missing from SMACT's metals list too.
  EXPECT_FALSE(valid("PmNi"));
  EXPECT_TRUE(valid("PmFe"));  // Fe-2 and Pm+2: the Pauling test passes by the TypeError
}

TEST(CompositionValidity, NobleGasesWithoutOxidationStates) {
  EXPECT_FALSE(valid("HeO"));
  EXPECT_FALSE(valid("NaHe"));
  EXPECT_FALSE(valid("NeF2"));
  EXPECT_FALSE(valid("ArCl"));
  EXPECT_TRUE(valid("KrF2"));  // Kr has +2 in SMACT's table
  EXPECT_TRUE(valid("XeF2"));
  EXPECT_EQ(oxidation_state_combinations(Composition::parse("HeO")), 0);
}

// SMACT 2.2.1's table gives Zr a Pauling electronegativity of 0.33 (not 1.33):
// Zr4+ then beats Na- and K- anions.
TEST(CompositionValidity, ZirconiumElectronegativityIs0_33) {
  EXPECT_TRUE(valid("ZrNa3N"));
  EXPECT_TRUE(valid("Zr3Na2N"));
  EXPECT_TRUE(valid("Zr4KC"));
  EXPECT_TRUE(valid("BaZrO3"));
  EXPECT_FALSE(valid("ZrB2"));
}

// Pm, Rn and Lr have no Pauling value: SMACT's eneg_states_test then decides
// by the first pair it meets (see validity.h).
TEST(CompositionValidity, MissingElectronegativityFollowsSmactControlFlow) {
  EXPECT_TRUE(valid("PmCl3"));    // Cl-/Pm3+ compared with None: TypeError → accepted
  EXPECT_TRUE(valid("RnF2"));
  EXPECT_TRUE(valid("LrCl3"));
  EXPECT_FALSE(valid("NaPmCl4"));  // Na+ and Pm3+ (same sign, None): rejected
  EXPECT_FALSE(valid("LiPmO2"));
  EXPECT_TRUE(valid("KPmF4"));     // F- meets K+ (passes), then Pm3+: TypeError → accepted
}

TEST(CompositionValidity, CombinationLimitOf1e7) {
  // 10·10·10·5·5·5·5·4·4 = 1e7 exactly: searched (and no neutral choice passes).
  EXPECT_EQ(oxidation_state_combinations(Composition::parse("MnOsIrTiNiAuSeCuPd")), 10000000);
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_FALSE(valid("MnOsIrTiNiAuSeCuPd"));
  std::printf("[ validity ] MnOsIrTiNiAuSeCuPd (1e7 combinations, none valid): %.4f s\n", seconds_since(t0));
  // 5.8e6 combinations, valid; one more element (Fe, 8 states) passes 1e7: invalid.
  EXPECT_TRUE(valid("MnOsIrRuTcReCl"));
  EXPECT_FALSE(valid("MnOsIrRuTcReFeCl"));
  // All metals: the alloy rule comes before the limit.
  EXPECT_TRUE(valid("MnOsIrRuTcReFe"));
}

TEST(CompositionValidity, RejectsNonIntegerAmounts) {
  EXPECT_THROW(composition_valid(Composition::parse("Fe0.5O0.5")), Error);
  EXPECT_FALSE(composition_valid(Composition()));
}

TEST(CompositionValidity, ThreadSafeCache) {
  const Dataset& d = dataset("mp_20_head");
  std::vector<char> a(d.size()), b(d.size());
  auto work = [&](std::vector<char>& out) {
    for (std::size_t i = 0; i < d.size(); ++i) out[i] = composition_valid(d.records[i].structure.composition());
  };
  std::thread t1(work, std::ref(a)), t2(work, std::ref(b));
  t1.join();
  t2.join();
  EXPECT_EQ(a, b);
}
