// Every structure of the shipped Perov-5 and Carbon-24 test splits and the
// MP-20 rows, compared with pymatgen's answers (tests/fixtures, written by
// tools/make_fixtures.py with Debian's python3-pymatgen).
#include <gtest/gtest.h>

#include <cmath>
#include <map>

#include "chem/element.h"
#include "crystal/symmetry.h"
#include "io/cif.h"
#include "io/dataset.h"
#include "util/file_io.h"
#include "util/strings.h"

using namespace xtaldiff;

namespace {

struct Expected {
  std::map<std::string, std::string> f;
  double num(const std::string& k) const { return *parse_double(f.at(k)); }
};

const std::map<std::string, std::string> kDatasetFiles = {
    {"perov_5_test", "datasets/perov_5/test.csv.gz"},
    {"carbon_24_test", "datasets/carbon_24/test.csv.gz"},
    {"mp_20_head", "datasets/mp_20_head/train_head.csv.gz"}};

std::vector<Expected> load_fixture() {
  const std::string text = read_file(std::string(XTALDIFF_FIXTURES_DIR) + "/pymatgen_structures.tsv.gz");
  auto lines = split_char(text, '\n');
  auto header = split_char(lines[0], '\t');
  std::vector<Expected> out;
  for (std::size_t i = 1; i < lines.size(); ++i) {
    if (trim(lines[i]).empty()) continue;
    auto f = split_char(lines[i], '\t');
    Expected e;
    for (std::size_t k = 0; k < header.size() && k < f.size(); ++k) e.f[std::string(header[k])] = std::string(f[k]);
    out.push_back(std::move(e));
  }
  return out;
}

const std::map<std::string, Dataset>& datasets() {
  static const std::map<std::string, Dataset> d = [] {
    std::map<std::string, Dataset> m;
    DatasetReadOptions o;
    o.use_cache = false;
    for (const auto& [name, rel] : kDatasetFiles) m[name] = read_cdvae_csv(std::string(XTALDIFF_DATA_DIR) + "/" + rel, o);
    return m;
  }();
  return d;
}

std::string el_amt(const Composition& c) {
  // pymatgen's dict order follows the sites' first appearance; compare as sets.
  std::map<std::string, std::string> m;
  for (const auto& [z, n] : c.amounts()) m[element(z).symbol] = format_amount(n, false);
  std::string s;
  for (const auto& [k, v] : m) s += k + ":" + v + ",";
  return s;
}

std::string el_amt_sorted(const std::string& fixture) {
  std::map<std::string, std::string> m;
  for (auto kv : split_char(fixture, ',')) {
    auto p = split_char(kv, ':');
    auto v = parse_double(p[1]);
    m[std::string(p[0])] = format_amount(*v, false);
  }
  std::string s;
  for (const auto& [k, v] : m) s += k + ":" + v + ",";
  return s;
}

bool rel_close(double a, double b, double tol) { return std::fabs(a - b) <= tol * std::max(1.0, std::fabs(b)); }

class PymatgenFixtures : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { rows_ = new std::vector<Expected>(load_fixture()); }
  static void TearDownTestSuite() { delete rows_; }
  static const Structure& structure_of(const Expected& e) {
    return datasets().at(e.f.at("dataset")).records.at(std::stoul(e.f.at("row"))).structure;
  }
  static std::vector<Expected>* rows_;
};
std::vector<Expected>* PymatgenFixtures::rows_ = nullptr;

}  // namespace

TEST_F(PymatgenFixtures, CoversEveryStructure) {
  EXPECT_EQ(rows_->size(), 3785u + 2030u + 2573u);
  std::size_t n = 0;
  for (const auto& [name, d] : datasets()) n += d.size();
  EXPECT_EQ(n, rows_->size());
}

TEST_F(PymatgenFixtures, LatticeVolumeDensityComposition) {
  std::size_t bad = 0;
  for (const auto& e : *rows_) {
    const Structure& s = structure_of(e);
    ASSERT_EQ(datasets().at(e.f.at("dataset")).records.at(std::stoul(e.f.at("row"))).id, e.f.at("material_id"));
    const Vec3 l = s.lattice.lengths(), a = s.lattice.angles();
    const char* names[6] = {"a", "b", "c", "alpha", "beta", "gamma"};
    const double got[6] = {l[0], l[1], l[2], a[0], a[1], a[2]};
    bool ok = true;
    for (int k = 0; k < 6; ++k) ok &= rel_close(got[k], e.num(names[k]), 1e-6);
    for (int i = 0; i < 3; ++i)
      for (int j = 0; j < 3; ++j)
        ok &= std::fabs(s.lattice.matrix()[i][j] - e.num("m" + std::to_string(i) + std::to_string(j))) < 1e-8;
    ok &= rel_close(s.volume(), e.num("volume"), 1e-9);
    ok &= rel_close(s.density(), e.num("density"), 1e-6);
    ok &= static_cast<double>(s.size()) == e.num("natoms");
    const Composition c = s.composition();
    ok &= c.formula() == e.f.at("formula");
    ok &= c.reduced_formula() == e.f.at("reduced_formula");
    ok &= el_amt(c) == el_amt_sorted(e.f.at("el_amt"));
    if (!ok && ++bad <= 10)
      ADD_FAILURE() << e.f.at("dataset") << " row " << e.f.at("row") << " (" << e.f.at("material_id")
                    << "): got formula '" << c.formula() << "' / '" << c.reduced_formula() << "', expected '"
                    << e.f.at("formula") << "' / '" << e.f.at("reduced_formula") << "'; volume " << s.volume()
                    << " vs " << e.f.at("volume") << ", density " << s.density() << " vs " << e.f.at("density");
  }
  EXPECT_EQ(bad, 0u);
}

TEST_F(PymatgenFixtures, SpaceGroupsAtTwoTolerances) {
  std::size_t bad = 0;
  for (const auto& e : *rows_) {
    const Structure& s = structure_of(e);
    for (const char* prec : {"0.1", "0.01"}) {
      const auto sg = analyze_symmetry(s, *parse_double(prec));
      const std::string key = std::string("sg_") + prec;
      if (std::to_string(sg.number) != e.f.at(key + "_number") || sg.international != e.f.at(key + "_symbol")) {
        if (++bad <= 10)
          ADD_FAILURE() << e.f.at("dataset") << " row " << e.f.at("row") << " symprec " << prec << ": got "
                        << sg.number << " " << sg.international << ", pymatgen " << e.f.at(key + "_number") << " "
                        << e.f.at(key + "_symbol");
      }
    }
  }
  EXPECT_EQ(bad, 0u);
}

TEST_F(PymatgenFixtures, NiggliReducedParameters) {
  std::size_t bad = 0, ties = 0;
  for (const auto& e : *rows_) {
    const Lattice n = structure_of(e).lattice.niggli_reduced();
    const Vec3 l = n.lengths(), a = n.angles();
    const double got[6] = {l[0], l[1], l[2], a[0], a[1], a[2]};
    const char* names[6] = {"niggli_a", "niggli_b", "niggli_c", "niggli_alpha", "niggli_beta", "niggli_gamma"};
    bool ok = true;
    for (int k = 0; k < 6; ++k) ok &= rel_close(got[k], e.num(names[k]), 1e-4);
    if (!ok) {
      // A genuine tie: two angles are 90° and the third is reported as θ or
      // 180° − θ (the same lattice with one vector negated). pymatgen's pick
      // hinges on the last bit of numpy's arccos, which differs from libm's
      // by one ulp for some cells; accept the equivalent setting.
      int right = 0, odd = -1;
      for (int k = 3; k < 6; ++k) {
        if (std::fabs(got[k] - 90) < 1e-6 && std::fabs(e.num(names[k]) - 90) < 1e-6) ++right;
        else odd = k;
      }
      bool tie = right == 2 && std::fabs(got[odd] + e.num(names[odd]) - 180) < 1e-4;
      for (int k = 0; k < 3; ++k) tie &= rel_close(got[k], e.num(names[k]), 1e-4);
      if (tie) {
        ++ties;
        continue;
      }
    }
    if (!ok && ++bad <= 10)
      ADD_FAILURE() << e.f.at("dataset") << " row " << e.f.at("row") << ": Niggli " << l[0] << " " << l[1] << " "
                    << l[2] << " " << a[0] << " " << a[1] << " " << a[2] << " vs pymatgen " << e.f.at("niggli_a")
                    << " " << e.f.at("niggli_b") << " " << e.f.at("niggli_c") << " " << e.f.at("niggli_alpha") << " "
                    << e.f.at("niggli_beta") << " " << e.f.at("niggli_gamma");
  }
  EXPECT_EQ(bad, 0u);
  EXPECT_LE(ties, 10u);  // 8 of 8388 today, all in MP-20 rows with two right angles
  std::printf("Niggli: %zu of %zu equal to pymatgen, %zu equivalent right-angle ties\n", rows_->size() - ties - bad,
              rows_->size(), ties);
}

TEST_F(PymatgenFixtures, CifRoundTripP1AndSymmetrized) {
  std::size_t bad = 0, gained = 0;
  double max_dv = 0;
  for (const auto& e : *rows_) {
    const Structure& s = structure_of(e);
    // P1: the same cell and sites (CIF keeps 8 decimals, as pymatgen's writer).
    const Structure p1 = read_cif_single(write_cif_p1(s, "x"), "roundtrip");
    bool ok = p1.size() == s.size() && rel_close(p1.volume(), s.volume(), 1e-7);
    for (std::size_t i = 0; ok && i < s.size(); ++i) {
      ok &= p1.species[i] == s.species[i];
      for (int k = 0; k < 3; ++k) {
        double d = p1.frac[i][k] - s.frac[i][k];
        ok &= std::fabs(d - std::round(d)) < 2e-8;
      }
    }
    if (!ok && ++bad <= 10)
      ADD_FAILURE() << e.f.at("dataset") << " row " << e.f.at("row") << ": P1 CIF round trip changed the structure";
    // Symmetrised: the cell is spglib's idealised conventional cell, so the
    // volume moves by the idealisation (up to 0.25 % for Carbon-24 at 0.1 Å);
    // the file must encode exactly the group found at 0.1 Å, so a tight
    // re-analysis (1e-3 Å) finds it. (At 0.1 Å the idealised cell may show a
    // higher group: pymatgen behaves the same.)
    const std::string sym_cif = write_cif_symmetrized(s, "x", 0.1);
    const Structure sym = read_cif_single(sym_cif, "roundtrip-sym");
    std::size_t written_ops = 0;  // lines "  N  'op'" of the symmetry loop
    for (auto line : split_char(sym_cif, '\n')) {
      auto t = split_ws(line);
      written_ops += t.size() >= 2 && parse_long(t[0]) && t[1].front() == '\'';
    }
    const double dv = std::fabs(sym.volume() / sym.size() / (s.volume() / s.size()) - 1);
    max_dv = std::max(max_dv, dv);
    const SpaceGroupInfo tight_info = analyze_symmetry(sym, 1e-3);
    const int tight = tight_info.number;
    // Idealisation can put atoms exactly on special positions and so add
    // symmetry (Cm → C2/m); then every written operation must still hold.
    const bool same_group = std::to_string(tight) == e.f.at("sg_0.1_number");
    gained += !same_group;
    const bool sym_ok = sym.composition().reduced() == s.composition().reduced() && dv < 1e-2 &&
                        (same_group || tight_info.operations.size() > written_ops);
    if (!sym_ok && ++bad <= 10)
      ADD_FAILURE() << e.f.at("dataset") << " row " << e.f.at("row") << ": symmetrised CIF round trip changed "
                    << "the structure: " << sym.composition().reduced_formula() << ", volume/atom ratio - 1 = " << dv
                    << ", space group at 1e-3 " << tight << " vs " << e.f.at("sg_0.1_number");
  }
  EXPECT_EQ(bad, 0u);
  RecordProperty("max_symmetrized_volume_change", std::to_string(max_dv));
  std::printf("largest volume-per-atom change from symmetrisation: %.2e; %zu structures gained symmetry\n", max_dv,
              gained);
}

TEST_F(PymatgenFixtures, ReadsPymatgenSymmetrizedCifs) {
  // Non-P1 CIFs written by pymatgen's CifWriter(symprec=0.1): our reader must
  // expand the symmetry operations to the cell pymatgen reads back.
  const std::string dir = std::string(XTALDIFF_FIXTURES_DIR) + "/symmetrized_cifs/";
  const std::string index = read_file(dir + "index.tsv");
  auto lines = split_char(index, '\n');
  std::size_t checked = 0;
  for (std::size_t i = 1; i < lines.size(); ++i) {
    auto f = split_char(trim(lines[i]), '\t');
    if (f.size() < 11) continue;
    const std::string file = std::string(f[2]);
    const Structure s = read_cif_single(read_file(dir + file), file);
    EXPECT_EQ(static_cast<long>(s.size()), *parse_long(f[3])) << file;
    EXPECT_TRUE(rel_close(s.volume(), *parse_double(f[10]), 1e-6)) << file;
    const Vec3 l = s.lattice.lengths();
    for (int k = 0; k < 3; ++k) EXPECT_TRUE(rel_close(l[k], *parse_double(f[4 + k]), 1e-6)) << file;
    ++checked;
  }
  EXPECT_EQ(checked, 120u);
}
