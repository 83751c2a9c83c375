// Bad input must give a clear Error (naming the problem), never a crash or a
// silently wrong structure. Each format gets the same list of abuses.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>

#include "chem/composition.h"
#include "io/cif.h"
#include "io/dataset.h"
#include "io/extxyz.h"
#include "io/formats.h"
#include "io/json_io.h"
#include "io/poscar.h"
#include "util/error.h"
#include "util/file_io.h"

using namespace xtaldiff;
namespace fs = std::filesystem;

namespace {

// Error message must contain `needle`.
template <class F>
void expect_error(F&& f, const std::string& needle) {
  try {
    f();
    ADD_FAILURE() << "no error; expected one mentioning '" << needle << "'";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << "message: " << e.what();
  }
}

std::string garbage(std::size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (char& c : s) c = static_cast<char>(rng() & 0xff);
  return s;
}

const char* kPoscar = "x\n1.0\n4 0 0\n0 4 0\n0 0 4\nNa Cl\n1 1\nDirect\n0 0 0\n0.5 0.5 0.5\n";

}  // namespace

TEST(BadInput, EmptyFiles) {
  expect_error([] { read_cif("", "e.cif"); }, "empty");
  expect_error([] { read_poscar("", "e.vasp"); }, "empty");
  expect_error([] { read_extxyz("  \n", "e.extxyz"); }, "empty");
  expect_error([] { read_json_structures("", "e.json"); }, "empty");
}

TEST(BadInput, BinaryGarbageNeverCrashes) {
  for (unsigned seed = 0; seed < 20; ++seed) {
    const std::string g = garbage(4096, seed);
    EXPECT_THROW(read_cif(g, "g.cif"), Error);
    EXPECT_THROW(read_poscar(g, "g.vasp"), Error);
    EXPECT_THROW(read_extxyz(g, "g.extxyz"), Error);
    EXPECT_THROW(read_json_structures(g, "g.json"), Error);
  }
}

TEST(BadInput, TruncatedFiles) {
  const std::string p(kPoscar);
  expect_error([&] { read_poscar(p.substr(0, p.size() - 12), "t.vasp"); }, "t.vasp:");
  expect_error([] { read_extxyz("3\nLattice=\"4 0 0 0 4 0 0 0 4\"\nNa 0 0 0\nCl 2 2 2\n", "t.extxyz"); }, "truncated");
  const std::string dir = (fs::temp_directory_path() / ("xtd_trunc_" + std::to_string(::getpid()))).string();
  fs::create_directories(dir);
  write_file_atomic(dir + "/d.csv.gz", std::string(200, 'a') + ",material_id,cif\n", true);
  const std::string full = read_file(dir + "/d.csv.gz");  // sanity: it inflates
  std::string raw;
  {
    // Chop the gzip stream in half: a truncated download.
    std::ifstream in(dir + "/d.csv.gz", std::ios::binary);
    raw.assign(std::istreambuf_iterator<char>(in), {});
  }
  write_file_atomic(dir + "/cut.csv.gz", raw.substr(0, raw.size() / 2));
  expect_error([&] { read_file(dir + "/cut.csv.gz"); }, "truncated");
  fs::remove_all(dir);
}

TEST(BadInput, NonFiniteAndDegenerateCells) {
  expect_error([] { read_poscar("x\n1.0\nnan 0 0\n0 4 0\n0 0 4\nFe\n1\nDirect\n0 0 0\n", "n.vasp"); }, "n.vasp:3");
  expect_error([] { read_poscar("x\n1.0\n4 0 0\n8 0 0\n0 0 4\nFe\n1\nDirect\n0 0 0\n", "z.vasp"); }, "degenerate");
  expect_error([] { read_extxyz("1\nLattice=\"4 0 0 4 0 0 0 0 4\"\nFe 0 0 0\n", "z.extxyz"); }, "degenerate");
  expect_error([] { read_extxyz("1\nLattice=\"inf 0 0 0 4 0 0 0 4\"\nFe 0 0 0\n", "i.extxyz"); }, "finite");
}

TEST(BadInput, UnknownElements) {
  expect_error([] { read_poscar("x\n1.0\n4 0 0\n0 4 0\n0 0 4\nXq\n1\nDirect\n0 0 0\n", "u.vasp"); }, "Xq");
  expect_error([] { read_extxyz("1\nLattice=\"4 0 0 0 4 0 0 0 4\"\nQq 0 0 0\n", "u.extxyz"); }, "Qq");
}

TEST(BadInput, OverlappingAtoms) {
  const std::string dir = (fs::temp_directory_path() / ("xtd_ovl_" + std::to_string(::getpid()))).string();
  fs::create_directories(dir);
  write_file_atomic(dir + "/POSCAR", "x\n1.0\n4 0 0\n0 4 0\n0 0 4\nNa Cl\n1 1\nDirect\n0 0 0\n0.999999 0 0\n");
  expect_error([&] { read_structures(dir + "/POSCAR"); }, "overlap");
  ReadOptions lenient;
  lenient.overlap_tolerance = 0;  // evaluation reads such structures and scores them invalid
  EXPECT_EQ(read_structures(dir + "/POSCAR", lenient).size(), 1u);
  fs::remove_all(dir);
}

TEST(BadInput, CsvErrorsNameRecordAndLine) {
  const std::string dir = (fs::temp_directory_path() / ("xtd_csv_" + std::to_string(::getpid()))).string();
  fs::create_directories(dir);
  write_file_atomic(dir + "/nocif.csv", "a,b\n1,2\n");
  expect_error([&] { read_cdvae_csv(dir + "/nocif.csv"); }, "no 'cif' column");
  write_file_atomic(dir + "/badcif.csv",
                    "material_id,cif\nok,\"data_x\n_cell_length_a 4\n_cell_length_b 4\n_cell_length_c 4\n"
                    "_cell_angle_alpha 90\n_cell_angle_beta 90\n_cell_angle_gamma 90\nloop_\n_atom_site_type_symbol\n"
                    "_atom_site_fract_x\n_atom_site_fract_y\n_atom_site_fract_z\nZz 0 0 0\n\"\n");
  expect_error([&] { read_cdvae_csv(dir + "/badcif.csv"); }, "record 1 (material_id ok)");
  write_file_atomic(dir + "/ragged.csv", "material_id,cif,x\nq,\"data_x\",1,2\n");
  expect_error([&] { read_cdvae_csv(dir + "/ragged.csv"); }, "ragged.csv:2");
  fs::remove_all(dir);
}

// Found by fuzz/fuzz_extxyz: a Properties string giving `pos` width 1 made
// the reader take three positions from a one-column field (a read past the
// line's columns).
TEST(BadInput, ExtxyzColumnWidthsMustFitWhatIsRead) {
  const std::string frame = "1\nLattice=\"4 0 0 0 4 0 0 0 4\" Properties=species:S:1:pos:R:1\nNa 0.5\n";
  expect_error([&] { read_extxyz(frame, "x.extxyz"); }, "x.extxyz:2: Properties: column 'pos' must have width 3, not 1");
  const std::string wide = "1\nLattice=\"4 0 0 0 4 0 0 0 4\" Properties=species:S:2:pos:R:3\nNa Na 0 0 0\n";
  expect_error([&] { read_extxyz(wide, "x.extxyz"); }, "column 'species' must have width 1, not 2");
}

// Found by fuzz/fuzz_json: a number beyond double's range is nlohmann's
// out_of_range, not a parse_error; it escaped as an uncaught exception.
TEST(BadInput, JsonNumberBeyondDoubleRange) {
  expect_error([] { read_json_structures("{\"structures\": [{\"lattice\": [[-2.4e5613]]}]}", "x.json"); },
               "x.json: invalid JSON");
}

// Found by fuzz/fuzz_cif: a symmetry operation "x, -1e62*y, z" overflowed
// the int rotation entry. Such an operation is not crystallographic.
TEST(BadInput, CifSymmetryOperationWithAHugeCoefficient) {
  const std::string cif = "data_x\n_cell_length_a 4\n_cell_length_b 4\n_cell_length_c 4\n"
                          "_cell_angle_alpha 90\n_cell_angle_beta 90\n_cell_angle_gamma 90\n"
                          "loop_\n_symmetry_equiv_pos_as_xyz\n'x, y, z'\n'x, -100000000000000000000000y, z'\n"
                          "loop_\n_atom_site_type_symbol\n_atom_site_fract_x\n_atom_site_fract_y\n_atom_site_fract_z\n"
                          "Na 0 0 0\n";
  expect_error([&] { read_cif(cif, "x.cif"); }, "x.cif:");
}

// Found by fuzz/fuzz_formula: an amount of 1e46 overflowed the integer
// reduction of the formula.
TEST(BadInput, FormulaAmountsBeyondAnyCrystal) {
  expect_error([] { (void)Composition::parse("LiO33333333333333333333333333333333333333333333H").reduced_formula(); },
               "amount of O exceeds 1000000000");
  EXPECT_EQ(Composition::parse("LiO1000000000").reduced_formula(), "LiO1000000000");
}

// Every input a fuzzer found (tests/fixtures/fuzz_findings/<target>-<what>)
// is replayed through its reader: it must parse or end in an Error.
TEST(BadInput, FuzzerFindingsStayFixed) {
  const fs::path dir = fs::path(XTALDIFF_FIXTURES_DIR) / "fuzz_findings";
  std::size_t replayed = 0;
  for (const auto& entry : fs::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    const std::string bytes = read_file(entry.path().string());
    const std::string target = name.substr(0, name.find('-'));
    try {
      if (target == "cif") read_cif(bytes, name);
      else if (target == "poscar") read_poscar(bytes, name);
      else if (target == "extxyz") read_extxyz(bytes, name);
      else if (target == "json") read_json_structures(bytes, name);
      else if (target == "formula") (void)Composition::parse(bytes).reduced_formula();
      else FAIL() << name << ": no reader for target '" << target << "'";
    } catch (const Error&) {
    }
    ++replayed;
  }
  EXPECT_GE(replayed, 1u);
}
