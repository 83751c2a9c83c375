#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "chem/element.h"
#include "crystal/symmetry.h"
#include "io/cif.h"
#include "util/error.h"

using namespace xtaldiff;

namespace {

// A perov_5 record exactly as pymatgen wrote it in the CDVAE CSV.
const char* kPymatgenP1 = R"(# generated using pymatgen
data_TiOsNOF
_symmetry_space_group_name_H-M   'P 1'
_cell_length_a   4.05632160
_cell_length_b   4.05632160
_cell_length_c   4.05632160
_cell_angle_alpha   90.00000000
_cell_angle_beta   90.00000000
_cell_angle_gamma   90.00000000
_symmetry_Int_Tables_number   1
_chemical_formula_structural   TiOsNOF
_chemical_formula_sum   'Ti1 Os1 N1 O1 F1'
_cell_volume   66.74168089
_cell_formula_units_Z   1
loop_
 _symmetry_equiv_pos_site_id
 _symmetry_equiv_pos_as_xyz
  1  'x, y, z'
loop_
 _atom_site_type_symbol
 _atom_site_label
 _atom_site_symmetry_multiplicity
 _atom_site_fract_x
 _atom_site_fract_y
 _atom_site_fract_z
 _atom_site_occupancy
  Ti  Ti0  1  -0.39078906  0.00000000  0.00000000  1
  Os  Os1  1  0.77619935  0.50000000  0.50000000  1
  F  F2  1  0.41528400  0.00000000  0.50000000  1
  N  N3  1  0.74200080  0.50000000  0.00000000  1
  O  O4  1  0.23143281  0.50000000  0.50000000  1
)";

// Rutile in the style of an ICSD export: a publication block first, numbers
// with standard uncertainties, quoted values, a text field, oxidation-state
// type symbols and the 16 operations of P4_2/mnm.
const char* kRutileIcsd = R"(#(C) 2023 by FIZ Karlsruhe
data_global
_publ_section_title
;
Structure refinement of rutile;
 a text field whose second line starts with a space
;
_journal_name_full 'Acta Crystallographica B'
_publ_author_name "O'Neil, A."

data_55960-ICSD
_chemical_name_systematic 'Titanium oxide'
_chemical_formula_sum 'O2 Ti1'
_cell_length_a 4.5937(3)
_cell_length_b 4.5937(3)
_cell_length_c 2.9587(2)
_cell_angle_alpha 90.
_cell_angle_beta 90.
_cell_angle_gamma 90.
_cell_volume 62.43
_space_group_name_H-M_alt 'P 42/m n m'
_space_group_IT_number 136
loop_
_space_group_symop_id
_space_group_symop_operation_xyz
1 'x, y, z'
2 '-x, -y, z'
3 '-y+1/2, x+1/2, z+1/2'
4 'y+1/2, -x+1/2, z+1/2'
5 '-x+1/2, y+1/2, -z+1/2'
6 'x+1/2, -y+1/2, -z+1/2'
7 'y, x, -z'
8 '-y, -x, -z'
9 '-x, -y, -z'
10 'x, y, -z'
11 'y+1/2, -x+1/2, -z+1/2'
12 '-y+1/2, x+1/2, -z+1/2'
13 'x+1/2, -y+1/2, z+1/2'
14 '-x+1/2, y+1/2, z+1/2'
15 '-y, -x, z'
16 'y, x, z'
loop_
_atom_type_symbol
_atom_type_oxidation_number
Ti4+ 4
O2- -2
loop_
_atom_site_label
_atom_site_type_symbol
_atom_site_symmetry_multiplicity
_atom_site_Wyckoff_symbol
_atom_site_fract_x
_atom_site_fract_y
_atom_site_fract_z
_atom_site_B_iso_or_equiv
_atom_site_occupancy
Ti1 Ti4+ 2 a 0 0 0 .42(2) 1.
O1 O2- 4 f 0.30479(9) 0.30479(9) 0 .6(1) 1.
#End of TTdata_55960-ICSD
)";

// Wurtzite ZnO (P6_3mc) as older programs write it: uppercase operations
// with the translation first, hexagonal coordinates to 4 decimals, species
// from the labels only.
const char* kWurtzite = R"(data_ZnO
_cell_length_a 3.2498
_cell_length_b 3.2498
_cell_length_c 5.2066
_cell_angle_alpha 90
_cell_angle_beta 90
_cell_angle_gamma 120
_symmetry_space_group_name_H-M 'P 63 m c'
loop_
_symmetry_equiv_pos_as_xyz
X,Y,Z
-Y,X-Y,Z
-X+Y,-X,Z
-X,-Y,1/2+Z
Y,-X+Y,1/2+Z
X-Y,X,1/2+Z
-Y,-X,Z
-X+Y,Y,Z
X,X-Y,Z
Y,X,1/2+Z
X-Y,-Y,1/2+Z
-X,-X+Y,1/2+Z
loop_
_atom_site_label
_atom_site_fract_x
_atom_site_fract_y
_atom_site_fract_z
ZN1 0.3333 0.6667 0.0
O1 0.3333 0.6667 0.3819
)";

// A P1 cell with the given atom-site rows (label type x y z occupancy).
std::string p1_cif(const std::string& rows, const std::string& cell = "3 4 5 90 90 90") {
  std::istringstream in(cell);
  double p[6];
  for (double& x : p) in >> x;
  std::ostringstream o;
  o << "data_test\n"
    << "_cell_length_a " << p[0] << "\n_cell_length_b " << p[1] << "\n_cell_length_c " << p[2] << "\n"
    << "_cell_angle_alpha " << p[3] << "\n_cell_angle_beta " << p[4] << "\n_cell_angle_gamma " << p[5] << "\n"
    << "loop_\n_atom_site_label\n_atom_site_type_symbol\n_atom_site_fract_x\n_atom_site_fract_y\n"
    << "_atom_site_fract_z\n_atom_site_occupancy\n"
    << rows;
  return o.str();
}

// The message of the Error that parsing `text` throws ("" if none).
std::string error_of(const std::string& text, const CifOptions& options = {}) {
  try {
    read_cif(text, "t.cif", options);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

int count_of(const Structure& s, int z) {
  return static_cast<int>(std::count(s.species.begin(), s.species.end(), z));
}

// Fractional distance between two points, modulo lattice translations.
double frac_distance(const Vec3& a, const Vec3& b) {
  double s = 0;
  for (int k = 0; k < 3; ++k) {
    double d = std::fabs(a[k] - b[k]);
    d -= std::floor(d + 0.5);
    s += d * d;
  }
  return std::sqrt(s);
}

bool has_site(const Structure& s, int z, const Vec3& p, double tol = 1e-6) {
  for (std::size_t i = 0; i < s.size(); ++i)
    if (s.species[i] == z && frac_distance(s.frac[i], p) < tol) return true;
  return false;
}

Structure silicon_conventional() {
  const double a = 5.431;
  const Vec3 fcc[4] = {{0, 0, 0}, {0.5, 0.5, 0}, {0.5, 0, 0.5}, {0, 0.5, 0.5}};
  Structure s;
  s.lattice = Lattice::from_parameters(a, a, a, 90, 90, 90);
  for (const auto& p : fcc) {
    s.species.push_back(14);
    s.frac.push_back(p);
    s.species.push_back(14);
    s.frac.push_back({p[0] + 0.25, p[1] + 0.25, p[2] + 0.25});
  }
  return s;
}

Structure triclinic_sample() {  // a carbon_24 cell: coordinates outside [0,1) included
  return Structure(Lattice::from_parameters(2.48771, 4.30363, 5.56016, 104.97964, 77.06501, 106.7914), {6, 6, 6, 8, 26},
                   {{0.86007107123, 0.12297792, 0.62914364},
                    {0.65759914, 0.77315032987, 0.68003876},
                    {0.86114629, 0.37275763, 0.87869956},
                    {1.05746626, -0.02664955, 0.08029058},
                    {0.1, 0.2, 0.3}});
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

}  // namespace

// ---------------------------------------------------------------- reading

TEST(CifRead, PymatgenP1Record) {
  const Structure s = read_cif_single(kPymatgenP1, "perov.cif");
  ASSERT_EQ(s.size(), 5u);
  EXPECT_NEAR(s.lattice.lengths()[0], 4.05632160, 1e-12);
  EXPECT_NEAR(s.lattice.angles()[2], 90.0, 1e-10);
  EXPECT_NEAR(s.volume(), 66.74168089, 1e-6);
  // Sites in pymatgen's order (get_sorted_structure: electronegativity;
  // the file has Ti Os F N O); coordinates are wrapped into [0, 1).
  const std::vector<int> z = {22, 76, 7, 8, 9};  // Ti Os N O F
  EXPECT_EQ(s.species, z);
  EXPECT_NEAR(s.frac[0][0], 1 - 0.39078906, 1e-12);
  EXPECT_NEAR(s.frac[1][0], 0.77619935, 1e-12);
  EXPECT_NEAR(s.frac[3][1], 0.5, 1e-12);  // the file's fifth site, O
}

TEST(CifRead, IcsdRutileExpandsP42mnm) {
  const auto blocks = read_cif(kRutileIcsd, "rutile.cif");
  ASSERT_EQ(blocks.size(), 1u);  // the publication block holds no crystal
  EXPECT_EQ(blocks[0].name, "55960-ICSD");
  const Structure& s = blocks[0].structure;
  EXPECT_NEAR(s.lattice.lengths()[0], 4.5937, 1e-12);  // "(3)" dropped
  EXPECT_NEAR(s.lattice.lengths()[2], 2.9587, 1e-12);
  ASSERT_EQ(s.size(), 6u);  // Ti on 2a, O on 4f
  EXPECT_EQ(count_of(s, 22), 2);
  EXPECT_EQ(count_of(s, 8), 4);
  EXPECT_TRUE(has_site(s, 22, {0.5, 0.5, 0.5}));
  const double x = 0.30479;
  EXPECT_TRUE(has_site(s, 8, {x, x, 0}));
  EXPECT_TRUE(has_site(s, 8, {-x, -x, 0}));
  EXPECT_TRUE(has_site(s, 8, {0.5 + x, 0.5 - x, 0.5}));
  EXPECT_TRUE(has_site(s, 8, {0.5 - x, 0.5 + x, 0.5}));
}

TEST(CifRead, WurtziteFromUppercaseOpsAndLabels) {
  const Structure s = read_cif_single(kWurtzite, "zno.cif");
  ASSERT_EQ(s.size(), 4u);        // 2b Zn + 2b O; 0.3333/0.6667 images merge
  EXPECT_EQ(count_of(s, 30), 2);  // "ZN1" is zinc, not nitrogen
  EXPECT_EQ(count_of(s, 8), 2);
  EXPECT_TRUE(has_site(s, 30, {2.0 / 3, 1.0 / 3, 0.5}));
  EXPECT_TRUE(has_site(s, 8, {2.0 / 3, 1.0 / 3, 0.8819}));
  EXPECT_NEAR(s.lattice.angles()[2], 120.0, 1e-10);
  // Like pymatgen, 4-decimal thirds are read as exact thirds.
  EXPECT_DOUBLE_EQ(s.frac[0][0], 1.0 / 3);
}

TEST(CifRead, SpeciesFromLabelsAndTypeSymbols) {
  const std::string cif =
      "data_x\n_cell_length_a 10\n_cell_length_b 10\n_cell_length_c 10\n"
      "_cell_angle_alpha 90\n_cell_angle_beta 90\n_cell_angle_gamma 90\n"
      "loop_\n_atom_site_label\n_atom_site_fract_x\n_atom_site_fract_y\n_atom_site_fract_z\n"
      "Ti0 0 0 0\nO12 0.1 0 0\nOs1 0.2 0 0\nCA1 0.3 0 0\nOw3 0.4 0 0\nCl 0.5 0 0\n"
      "loop_\n_atom_site_aniso_label\n_atom_site_aniso_U_11\nTi0 0.01\n";
  const Structure s = read_cif_single(cif, "labels.cif");
  // Ti O Os Ca O Cl in the file; pymatgen's order Ca Ti Os Cl O O.
  EXPECT_EQ(s.species, (std::vector<int>{20, 22, 76, 17, 8, 8}));

  const Structure t = read_cif_single(p1_cif("A Fe3+ 0 0 0 1\nB O2- 0.5 0.5 0.5 1.0(0)\n"), "types.cif");
  EXPECT_EQ(t.species, (std::vector<int>{26, 8}));
}

TEST(CifRead, SeveralBlocksAndTheFirstOne) {
  const std::string text = std::string(kPymatgenP1) + "\n" + kWurtzite;
  const auto all = read_cif(text, "two.cif");
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].name, "TiOsNOF");
  EXPECT_EQ(all[1].name, "ZnO");
  EXPECT_EQ(all[1].structure.size(), 4u);
  EXPECT_EQ(read_cif_single(text, "two.cif").size(), 5u);
}

TEST(CifRead, SingleValuedSiteAndOperationAndDdlmTags) {
  // One atom as plain items, one operation as a plain item, DDLm dotted tags.
  const std::string cif =
      "data_po\n_cell.length_a 3.35\n_cell.length_b 3.35\n_cell.length_c 3.35\n"
      "_cell.angle_alpha 90\n_cell.angle_beta 90\n_cell.angle_gamma 90\n"
      "_space_group_symop.operation_xyz 'x,y,z'\n"
      "_atom_site.type_symbol Po\n_atom_site.fract_x 0\n_atom_site.fract_y 0\n"
      "_atom_site.fract_z 0\n";
  const Structure s = read_cif_single(cif, "po.cif");
  ASSERT_EQ(s.size(), 1u);
  EXPECT_EQ(s.species[0], 84);
}

TEST(CifRead, SaveFramesCommentsAndCrlf) {
  // A dictionary-style save frame (its items are not the block's) and
  // Windows line endings.
  std::string text = "# comment\ndata_a\nsave_frame\n_cell_length_a 1\nsave_\n";
  text += p1_cif("Si1 Si 0 0 0 1\n").substr(10);  // drop "data_test\n"
  for (std::size_t i = 0; (i = text.find('\n', i)) != std::string::npos; i += 2) text.insert(i, "\r");
  const Structure s = read_cif_single(text, "crlf.cif");
  EXPECT_EQ(s.size(), 1u);
  EXPECT_NEAR(s.lattice.lengths()[0], 3, 1e-12);
}

TEST(CifRead, PartialOccupancyNeedsTheOption) {
  const std::string text = p1_cif("Fe1 Fe 0 0 0 0.5\nCo1 Co 0 0 0 0.5\nO1 O 0.5 0.5 0.5 1\n");
  const std::string msg = error_of(text);
  EXPECT_NE(msg.find("t.cif:15: partial occupancy 0.5 at site Fe1"), std::string::npos) << msg;
  EXPECT_NE(msg.find("--allow-partial-occupancy"), std::string::npos) << msg;

  CifOptions allow;
  allow.allow_partial_occupancy = true;
  const Structure s = read_cif_single(text, "t.cif", allow);
  ASSERT_EQ(s.size(), 2u);  // the shared site is kept once
  EXPECT_EQ(s.species[0], 26);
  EXPECT_EQ(s.species[1], 8);
}

TEST(CifRead, DuplicatesMergeAcrossTheCellBoundary) {
  // 0.9999 and 0.0001 are 2e-4 apart through the boundary: one atom.
  const Structure s = read_cif_single(p1_cif("Na1 Na 0.0001 0 0 1\nNa2 Na 0.9999 0 0 1\n"), "dup.cif");
  EXPECT_EQ(s.size(), 1u);
  CifOptions strict;
  strict.merge_tolerance = 1e-5;
  EXPECT_EQ(read_cif_single(p1_cif("Na1 Na 0.0001 0 0 1\nNa2 Na 0.9999 0 0 1\n"), "dup.cif", strict).size(), 2u);
}

// A real `mp20-gen` sample (gen_000076 of a 1000-sample run): two O atoms
// 4e-7 Å apart, as a generative model's atoms can collapse onto one spot.
// Evaluation reads it as CDVAE scores the raw arrays: both atoms, so the
// crystal is structurally invalid; merging them (as pymatgen reads database
// CIFs) made `eval gen` count 19 such samples of 1000 as valid.
TEST(CifRead, EvaluationKeepsListedSitesThatCoincide) {
  const std::string rows = "O0 O 0.59845293 0.87232375 0.81300765 1\nCo1 Co 0.35307753 0.12245373 0.02391007 1\n"
                           "O4 O 0.59845293 0.87232375 0.81300759 1\n";
  CifOptions eval;
  eval.merge_tolerance = 1e-6;
  eval.merge_distinct_sites = false;
  EXPECT_EQ(read_cif_single(p1_cif(rows), "gen.cif", eval).size(), 3u);
  CifOptions database;
  database.merge_tolerance = 1e-6;
  EXPECT_EQ(read_cif_single(p1_cif(rows), "gen.cif", database).size(), 2u);
  // The images of one site under the symmetry operations still merge.
  EXPECT_EQ(read_cif_single(kRutileIcsd, "rutile.cif", eval).size(), 6u);
}

TEST(CifRead, ManyAtomsMergeInLinearTime) {
  // 20^3 atoms on a grid, each listed twice: the spatial hash must merge them.
  std::string rows;
  char buf[96];
  for (int copy = 0; copy < 2; ++copy)
    for (int i = 0; i < 20; ++i)
      for (int j = 0; j < 20; ++j)
        for (int k = 0; k < 20; ++k) {
          std::snprintf(buf, sizeof buf, "C%d C %.6f %.6f %.6f 1\n", i, i / 20.0 + copy * 1e-4, j / 20.0, k / 20.0);
          rows += buf;
        }
  const Structure s = read_cif_single(p1_cif(rows, "40 40 40 90 90 90"), "grid.cif");
  EXPECT_EQ(s.size(), 8000u);
}

// ---------------------------------------------------------------- errors

TEST(CifErrors, NameTheFileLineAndProblem) {
  const std::string no_b =
      "data_nob\n_cell_length_a 3\n_cell_length_c 3\n_cell_angle_alpha 90\n"
      "_cell_angle_beta 90\n_cell_angle_gamma 90\n"
      "loop_\n_atom_site_label\n_atom_site_fract_x\n_atom_site_fract_y\n_atom_site_fract_z\n"
      "Na1 0 0 0\n";
  EXPECT_EQ(error_of(no_b), "t.cif:1: data block 'nob' has atom sites but no _cell_length_b");

  std::string bad_op = kWurtzite;
  bad_op.replace(bad_op.find("-Y,X-Y,Z"), 8, "-Y,X-W,Z");
  EXPECT_EQ(error_of(bad_op), "t.cif:12: bad symmetry operation '-Y,X-W,Z' (expected a form like '-x+1/2, y, z')");
  std::string two_parts = kWurtzite;
  two_parts.replace(two_parts.find("-X+Y,-X,Z"), 9, "'-X+Y, -X'");
  EXPECT_NE(error_of(two_parts).find("t.cif:13: bad symmetry operation"), std::string::npos);

  EXPECT_EQ(error_of("data_q\n_title 'no end\n_x 1\n"),
            "t.cif:2: unterminated quoted value 'no end: no closing ' followed by a space on this line");
  EXPECT_EQ(error_of("data_q\n_title 'it's fine'\n_author 'O'Neil'x\n").rfind("t.cif:3: unterminated", 0), 0u);
  EXPECT_EQ(error_of("data_q\n_a 1\n_title\n;\nnever closed\n").rfind("t.cif:4: unterminated text field", 0), 0u);

  EXPECT_EQ(error_of(""), "t.cif: empty file: no CIF data");
  EXPECT_EQ(error_of("  \n# only a comment\n\n"), "t.cif: empty file: no CIF data");

  const std::string garbage("data_x\n_cell_length_a \x01\x02\x00\xff\xfe", 27);
  EXPECT_EQ(error_of(garbage), "t.cif:2: byte 0x01 is not CIF text (binary or corrupted file?)");

  EXPECT_NE(error_of(p1_cif("Xx1 Xx 0 0 0 1\n")).find("t.cif:15: unknown element in _atom_site_type_symbol 'Xx'"),
            std::string::npos);
  std::string label_only =
      "data_x\n_cell_length_a 3\n_cell_length_b 3\n_cell_length_c 3\n_cell_angle_alpha 90\n"
      "_cell_angle_beta 90\n_cell_angle_gamma 90\nloop_\n_atom_site_label\n_atom_site_fract_x\n"
      "_atom_site_fract_y\n_atom_site_fract_z\nXx1 0 0 0\n";
  EXPECT_EQ(error_of(label_only), "t.cif:13: unknown element in _atom_site_label 'Xx1'");
}

TEST(CifErrors, PhysicallyImpossibleCells) {
  EXPECT_EQ(error_of(p1_cif("Na1 Na 0 0 0 1\n", "3 3 3 120 120 120")),
            "t.cif:2: data block 'test': cell angles 120, 120, 120 do not form a cell (zero or negative volume)");
  EXPECT_EQ(error_of(p1_cif("Na1 Na 0 0 0 1\n", "0.001 0.001 0.001 90 90 90"))
                .rfind("t.cif:2: data block 'test': lattice volume", 0),
            0u);
  std::string nan_cell = p1_cif("Na1 Na 0 0 0 1\n");
  nan_cell.replace(nan_cell.find("_cell_length_a 3"), 16, "_cell_length_a nan");
  EXPECT_EQ(error_of(nan_cell), "t.cif:2: _cell_length_a = nan is not a finite number");
  EXPECT_EQ(error_of(p1_cif("Na1 Na 0 0 0 1\n", "3 3 3 90 0 90")),
            "t.cif:6: _cell_angle_beta = 0: not a valid cell angle");
  EXPECT_EQ(error_of(p1_cif("Na1 Na 0 0 0 1\n", "3 -3 3 90 90 90")),
            "t.cif:3: _cell_length_b = -3: not a valid cell length");
}

TEST(CifErrors, StructureProblems) {
  EXPECT_EQ(error_of(p1_cif("Na1 Na 0 0 0 1\nCl1 Cl 0.0002 0 0 1\n")),
            "t.cif:16: overlapping sites Cl1 and Na1 (line 15) at fractional (0.0002, 0.0000, 0.0000)");
  EXPECT_EQ(error_of(p1_cif("Na1 Na 0 0 ? 1\n")), "t.cif:15: _atom_site_fract_z has no value ('?')");
  EXPECT_EQ(error_of(p1_cif("Na1 Na 0 0 abc 1\n")), "t.cif:15: _atom_site_fract_z = 'abc' is not a number");
  EXPECT_EQ(error_of(p1_cif("Na1 Na 0 0 0 1 extra\n")),
            "t.cif:8: loop_ has 7 values for 6 tags (not a whole number of rows)");
  EXPECT_EQ(error_of("data_g\n_cell_length_a 3\n"),
            "t.cif:1: data block 'g' has a cell but no atom sites (_atom_site_fract_x/y/z): no crystal in this file");
  EXPECT_EQ(error_of("_cell_length_a 3\n"), "t.cif:1: tag _cell_length_a before the first data_ block");
}

TEST(CifErrors, LineNumbersCountFromFirstLine) {
  // A CIF embedded in a CSV field starting at line 100 of the CSV.
  try {
    read_cif(p1_cif("Na1 Na 0 0 0 0.25\n"), "data.csv", {}, 100);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()).rfind("data.csv:114: partial occupancy 0.25 at site Na1", 0), 0u) << e.what();
  }
}

TEST(CifErrors, HugeSingleLineIsLinear) {
  // 64 MB on one line: a value without a tag, then an unterminated quote.
  // No timing assertion (a loaded machine would fail it): a scan quadratic
  // in the line length would not end within ctest's timeout, and
  // bench/ measures the reader's speed.
  const std::string big(64 << 20, 'a');
  EXPECT_EQ(error_of("data_x\n" + big).rfind("t.cif:2: value 'aaaa", 0), 0u);
  EXPECT_EQ(error_of("data_x\n_t '" + big).rfind("t.cif:2: unterminated quoted value", 0), 0u);
  EXPECT_LT(error_of("data_x\n_t " + big).size(), 200u);  // messages quote an excerpt only
}

// ---------------------------------------------------------------- writing

TEST(CifWrite, P1LayoutIsPymatgens) {
  // The structure of kPymatgenP1, unwrapped, written back: the same text but
  // for the header and the volume (pymatgen's came from unrounded lengths).
  const Structure s(
      Lattice::from_parameters(4.05632160, 4.05632160, 4.05632160, 90, 90, 90), {22, 76, 9, 7, 8},
      {{-0.39078906, 0, 0}, {0.77619935, 0.5, 0.5}, {0.415284, 0, 0.5}, {0.7420008, 0.5, 0}, {0.23143281, 0.5, 0.5}});
  const auto ours = lines_of(write_cif_p1(s, "TiOsNOF"));
  const auto theirs = lines_of(kPymatgenP1);
  ASSERT_EQ(ours.size(), theirs.size());
  EXPECT_EQ(ours[0], "# generated using xtaldiff");
  for (std::size_t i = 1; i < ours.size(); ++i)
    if (theirs[i].rfind("_cell_volume", 0) != 0) {
      EXPECT_EQ(ours[i], theirs[i]) << "line " << i + 1;
    }
  EXPECT_EQ(ours[12], "_cell_volume   66.74168093");
}

TEST(CifWrite, P1QuotesOnlyWhatNeedsQuotes) {
  const std::string text = write_cif_p1(silicon_conventional(), "Si");
  EXPECT_NE(text.find("\n_chemical_formula_sum   Si8\n"), std::string::npos);  // no space, no quotes
  EXPECT_NE(text.find("\n_cell_formula_units_Z   8\n"), std::string::npos);
  EXPECT_NE(text.find("\n  Si  Si7  1  0.25000000  0.75000000  0.75000000  1\n"), std::string::npos);
  EXPECT_EQ(text.back(), '\n');
}

TEST(CifWrite, P1RoundTrip) {
  const Structure s = triclinic_sample();
  const Structure r = read_cif_single(write_cif_p1(s, "sample"), "rt.cif");
  ASSERT_EQ(r.size(), s.size());
  // Read back in pymatgen's order: a stable sort by electronegativity.
  std::vector<std::size_t> order(s.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return *element(s.species[a]).x < *element(s.species[b]).x; });
  for (std::size_t i = 0; i < s.size(); ++i) {
    EXPECT_EQ(r.species[i], s.species[order[i]]) << i;
    for (int k = 0; k < 3; ++k) EXPECT_NEAR(r.frac[i][k], wrap01(s.frac[order[i]][k]), 1e-7) << i << " " << k;
  }
  for (int k = 0; k < 3; ++k) {
    EXPECT_NEAR(r.lattice.lengths()[k] / s.lattice.lengths()[k], 1, 1e-7);
    EXPECT_NEAR(r.lattice.angles()[k] / s.lattice.angles()[k], 1, 1e-7);
  }
}

TEST(CifWrite, FormatsAndParsesAllOperationsOfPm3m) {
  // Every operation of a real group, printed then parsed, is the same map.
  const Structure s(Lattice::from_parameters(3.905, 3.905, 3.905, 90, 90, 90), {38, 22, 8, 8, 8},
                    {{0, 0, 0}, {0.5, 0.5, 0.5}, {0.5, 0.5, 0}, {0.5, 0, 0.5}, {0, 0.5, 0.5}});
  const std::string text = write_cif_symmetrized(s, "SrTiO3", 0.1);
  EXPECT_NE(text.find("\n_symmetry_space_group_name_H-M   Pm-3m\n"), std::string::npos);
  EXPECT_NE(text.find("\n_symmetry_Int_Tables_number   221\n"), std::string::npos);
  EXPECT_NE(text.find("\n  48  '"), std::string::npos) << text;  // the 48 operations of m-3m
  EXPECT_EQ(text.find("\n  49  '"), std::string::npos) << text;
  EXPECT_NE(text.find("\n  O  O2  3  "), std::string::npos) << text;  // one oxygen orbit of 3
  const Structure r = read_cif_single(text, "sto.cif");
  EXPECT_EQ(r.size(), 5u);
  EXPECT_EQ(r.composition(), s.composition());
}

TEST(CifWrite, SymmetrizedSiliconRoundTrip) {
  const Structure si = silicon_conventional();
  const std::string text = write_cif_symmetrized(si, "Si", 0.1);
  EXPECT_NE(text.find("_symmetry_space_group_name_H-M   Fd-3m"), std::string::npos);
  EXPECT_NE(text.find(" _atom_site_Wyckoff_symbol\n"), std::string::npos);
  EXPECT_NE(text.find("\n  192  '"), std::string::npos);   // all 192 operations listed
  EXPECT_EQ(text.find("\n  Si  Si1"), std::string::npos);  // one site: a single orbit
  // Only the orbit is written; the reader's expansion gives the 8 atoms back.
  const Structure r = read_cif_single(text, "si.cif");
  EXPECT_EQ(r.size(), 8u);
  EXPECT_EQ(r.composition(), si.composition());
  EXPECT_NEAR(r.volume() / r.size(), si.volume() / si.size(), 1e-6);
  EXPECT_EQ(analyze_symmetry(r, 0.01).number, 227);
}

TEST(CifWrite, SymmetrizedFromPrimitiveAndLowSymmetryCells) {
  // Primitive rock salt (2 atoms) comes back as the 8-atom conventional cell;
  // rutile and a perturbed triclinic cell keep composition and volume per atom.
  const double a = 5.64;
  const Structure nacl(Lattice(Mat3{{{0, a / 2, a / 2}, {a / 2, 0, a / 2}, {a / 2, a / 2, 0}}}), {11, 17},
                       {{0, 0, 0}, {0.5, 0.5, 0.5}});
  const Structure rutile = read_cif_single(kRutileIcsd, "rutile.cif");
  const Structure zno = read_cif_single(kWurtzite, "zno.cif");
  for (const Structure* s : {&nacl, &rutile, &zno}) {
    const Structure r = read_cif_single(write_cif_symmetrized(*s, "x", 0.1), "sym.cif");
    EXPECT_TRUE(r.composition().reduced() == s->composition().reduced());
    EXPECT_NEAR(r.volume() / r.size(), s->volume() / s->size(), 1e-5 * s->volume() / s->size());
    EXPECT_EQ(analyze_symmetry(r, 0.01).number, analyze_symmetry(*s, 0.1).number);
  }
  EXPECT_EQ(read_cif_single(write_cif_symmetrized(nacl, "NaCl", 0.1), "nacl.cif").size(), 8u);
  const Structure tri = triclinic_sample();
  const Structure r = read_cif_single(write_cif_symmetrized(tri, "tri", 0.1), "tri.cif");
  EXPECT_EQ(r.size(), tri.size());
  EXPECT_NEAR(r.volume(), tri.volume(), 1e-5);
}

// ---------------------------------------------------------------- pymatgen's files

#ifdef XTALDIFF_FIXTURES_DIR
TEST(CifFixtures, PymatgenSymmetrizedCifsExpandToTheirFormula) {
  // CifWriter(symprec=0.1) output lists one site per orbit; expanded, the
  // cell must hold exactly _chemical_formula_sum (pymatgen's own count).
  namespace fs = std::filesystem;
  const fs::path dir = fs::path(XTALDIFF_FIXTURES_DIR) / "symmetrized_cifs";
  if (!fs::exists(dir)) GTEST_SKIP() << "no " << dir;
  int files = 0;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.path().extension() != ".cif") continue;
    std::ifstream in(entry.path());
    std::stringstream buf;
    buf << in.rdbuf();
    const std::string text = buf.str();
    const Structure s = read_cif_single(text, entry.path().string());
    const auto at = text.find("_chemical_formula_sum");
    std::string sum = text.substr(at, text.find('\n', at) - at);
    sum = sum.substr(sum.find_first_not_of(' ', 21));
    if (sum.front() == '\'') sum = sum.substr(1, sum.size() - 2);
    EXPECT_EQ(s.composition().formula(), sum) << entry.path();
    ++files;
  }
  EXPECT_GT(files, 0);
}
#endif
