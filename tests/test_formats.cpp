#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <set>
#include <string>

#include "crystal/structure.h"
#include "io/csv.h"
#include "io/extxyz.h"
#include "io/formats.h"
#include "io/json_io.h"
#include "io/poscar.h"
#include "io/sample_ids.h"
#include "util/error.h"
#include "util/file_io.h"

using namespace xtaldiff;
namespace fs = std::filesystem;

namespace {

Structure triclinic_sample() {
  return Structure(Lattice::from_parameters(3.1, 4.2, 5.3, 71, 83, 102), {8, 22, 38, 8},
                   {{0.1, 0.2, 0.3}, {0.45, 0.61, 0.17}, {0.8, 0.33, 0.71}, {0.9, 0.9, 0.05}});
}

void expect_same(const Structure& a, const Structure& b, double tol) {
  ASSERT_EQ(a.size(), b.size());
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) EXPECT_NEAR(a.lattice.matrix()[i][j], b.lattice.matrix()[i][j], tol);
  for (std::size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a.species[i], b.species[i]);
    for (int k = 0; k < 3; ++k) {
      double d = a.frac[i][k] - b.frac[i][k];
      d -= std::round(d);
      EXPECT_NEAR(d, 0.0, tol);
    }
  }
}

std::string temp_dir() {
  const fs::path p = fs::temp_directory_path() / ("xtaldiff_test_" + std::to_string(::getpid()));
  fs::create_directories(p);
  return p.string();
}

}  // namespace

TEST(Poscar, ReadsVasp5Direct) {
  const char* text =
      "SrTiO3 cubic\n1.0\n3.905 0 0\n0 3.905 0\n0 0 3.905\nSr Ti O\n1 1 3\nDirect\n"
      "0 0 0\n0.5 0.5 0.5\n0.5 0.5 0\n0.5 0 0.5\n0 0.5 0.5\n";
  const Structure s = read_poscar(text, "POSCAR");
  EXPECT_EQ(s.size(), 5u);
  EXPECT_EQ(s.composition().reduced_formula(), "SrTiO3");
  EXPECT_NEAR(s.volume(), 3.905 * 3.905 * 3.905, 1e-9);
}

TEST(Poscar, CartesianScaledAndSelectiveDynamics) {
  const char* text =
      "Si\n2.0\n1 0 0\n0 1 0\n0 0 1\nSi\n2\nSelective dynamics\nCartesian\n0 0 0 T T T\n0.5 0.5 0.5 F F F\n";
  const Structure s = read_poscar(text, "POSCAR");
  EXPECT_NEAR(s.volume(), 8.0, 1e-12);
  EXPECT_NEAR(s.frac[1][0], 0.5, 1e-12);  // 0.5·2 Å in a 2 Å cell
}

TEST(Poscar, NegativeScaleIsVolume) {
  const Structure s = read_poscar("x\n-27\n1 0 0\n0 1 0\n0 0 1\nFe\n1\nDirect\n0 0 0\n", "POSCAR");
  EXPECT_NEAR(s.volume(), 27.0, 1e-9);
}

TEST(Poscar, RoundTrip) {
  const Structure s = triclinic_sample();
  expect_same(sorted_by_species(read_poscar(write_poscar(s, "t"), "mem")), sorted_by_species(s), 1e-12);
}

TEST(Poscar, ErrorsNameTheLine) {
  try {
    read_poscar("x\n1.0\n1 0 0\n0 1 0\n0 0 1\nFe\n1\nDirect\n0 0 zz\n", "bad.vasp");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("bad.vasp:9"), std::string::npos) << e.what();
  }
  EXPECT_THROW(read_poscar("x\n1.0\n1 0 0\n0 1 0\n0 0 1\n1\nDirect\n0 0 0\n", "vasp4"), Error);
  EXPECT_THROW(read_poscar("x\n1.0\n1 0 0\n0 1 0\n0 0 1\nFe\n2\nDirect\n0 0 0\n", "short"), Error);
}

TEST(Extxyz, ReadsAseConvention) {
  const char* text =
      "2\nLattice=\"4 0 0 0 4 0 0 0 4\" Properties=species:S:1:pos:R:3:forces:R:3 energy=-1.5 pbc=\"T T T\"\n"
      "Na 0 0 0 0 0 0\nCl 2 2 2 0.1 0.1 0.1\n";
  const Dataset d = read_extxyz(text, "x.extxyz");
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d.records[0].structure.composition().reduced_formula(), "NaCl");
  EXPECT_NEAR(d.records[0].structure.frac[1][2], 0.5, 1e-12);
  ASSERT_TRUE(d.column("energy"));
  EXPECT_DOUBLE_EQ(*d.number(0, *d.column("energy")), -1.5);
}

TEST(Extxyz, RoundTripSeveralFrames) {
  Dataset d;
  d.columns = {"heat_ref"};
  d.records.push_back({"a", triclinic_sample(), {"0.25"}});
  d.records.push_back({"b", triclinic_sample(), {"-1"}});
  const Dataset back = read_extxyz(write_extxyz(d), "mem");
  ASSERT_EQ(back.size(), 2u);
  EXPECT_EQ(back.records[1].id, "b");
  expect_same(back.records[0].structure, d.records[0].structure, 1e-12);
  EXPECT_EQ(back.records[1].values[*back.column("heat_ref")], "-1");
}

TEST(Extxyz, RefusesNonPeriodic) {
  EXPECT_THROW(read_extxyz("1\nProperties=species:S:1:pos:R:3\nC 0 0 0\n", "m.xyz"), Error);
  EXPECT_THROW(read_extxyz("2\nLattice=\"4 0 0 0 4 0 0 0 4\"\nC 0 0 0\n", "trunc.xyz"), Error);
}

TEST(Json, RoundTripAndPymatgenDict) {
  Dataset d;
  d.columns = {"band_gap"};
  d.records.push_back({"mp-1", triclinic_sample(), {"1.2"}});
  const Dataset back = read_json_structures(write_json_structures(d), "mem.json");
  ASSERT_EQ(back.size(), 1u);
  expect_same(back.records[0].structure, d.records[0].structure, 1e-15);
  EXPECT_EQ(back.records[0].values[0], "1.2");
  const char* pmg =
      R"({"@module": "pymatgen.core.structure", "@class": "Structure", "lattice": {"matrix": [[4,0,0],[0,4,0],[0,0,4]]},
          "sites": [{"species": [{"element": "Cs", "occu": 1}], "abc": [0,0,0]},
                    {"species": [{"element": "Cl", "occu": 1}], "abc": [0.5,0.5,0.5]}]})";
  EXPECT_EQ(read_json_structures(pmg, "p.json").records[0].structure.composition().reduced_formula(), "CsCl");
  const char* disordered =
      R"({"lattice": {"matrix": [[4,0,0],[0,4,0],[0,0,4]]}, "sites": [{"species": [{"element": "Cs", "occu": 0.5}], "abc": [0,0,0]}]})";
  EXPECT_THROW(read_json_structures(disordered, "d.json"), Error);
}

TEST(Csv, QuotedMultilineFields) {
  const auto rows = parse_csv("a,b\n1,\"x\ny, \"\"q\"\"\"\n2,z\n", "t.csv");
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[1].fields[1], "x\ny, \"q\"");
  EXPECT_EQ(rows[2].line, 4);
  EXPECT_THROW(parse_csv("a,b\n1,\"open\n", "t.csv"), Error);
  EXPECT_EQ(csv_escape("a,b"), "\"a,b\"");
}

TEST(Dataset, ReadsShippedPerovskiteTestSplitWithProperties) {
  DatasetReadOptions o;
  o.use_cache = false;
  const Dataset d = read_cdvae_csv(std::string(XTALDIFF_DATA_DIR) + "/datasets/perov_5/test.csv.gz", o);
  EXPECT_EQ(d.size(), 3785u);
  EXPECT_EQ(d.records[0].id, "3961");
  EXPECT_EQ(d.records[0].structure.composition().reduced_formula(), "TiOsNOF");
  ASSERT_TRUE(d.column("heat_ref"));
  EXPECT_NEAR(*d.number(0, *d.column("heat_ref")), 1.4383314936574307, 1e-15);
  for (const auto& r : d.records) EXPECT_EQ(r.structure.size(), 5u);
}

TEST(Dataset, CsvAndCacheRoundTrip) {
  const std::string dir = temp_dir();
  Dataset d;
  d.columns = {"energy", "note"};
  d.records.push_back({"x1", triclinic_sample(), {"-3.5", "has, comma"}});
  d.records.push_back({"x2", triclinic_sample(), {"", "multi\nline"}});
  const std::string path = dir + "/set.csv.gz";
  write_cdvae_csv(d, path);
  const Dataset first = read_cdvae_csv(path);  // parses, writes the cache
  EXPECT_TRUE(fs::exists(path + ".xtdcache"));
  const Dataset second = read_cdvae_csv(path);  // from the cache
  for (const Dataset* got : {&first, &second}) {
    ASSERT_EQ(got->size(), 2u);
    EXPECT_EQ(got->columns, d.columns);
    EXPECT_EQ(got->records[1].values[1], "multi\nline");
    EXPECT_EQ(got->records[0].values[1], "has, comma");
    // The CSV stores CIF text with 8 decimals.
    expect_same(sorted_by_species(got->records[0].structure), sorted_by_species(Structure(
        Lattice::from_parameters(d.records[0].structure.lattice.lengths(), d.records[0].structure.lattice.angles()),
        d.records[0].structure.species, d.records[0].structure.frac)), 2e-8);
  }
  EXPECT_EQ(second.records[0].structure.frac, first.records[0].structure.frac);
  // A damaged cache is ignored, not trusted.
  write_file_atomic(path + ".xtdcache", "XTDCACHEgarbage");
  EXPECT_EQ(read_cdvae_csv(path).size(), 2u);
  fs::remove_all(dir);
}

TEST(Formats, FromFileNames) {
  EXPECT_EQ(format_from_path("a.cif"), Format::kCif);
  EXPECT_EQ(format_from_path("dir/POSCAR"), Format::kPoscar);
  EXPECT_EQ(format_from_path("CONTCAR_relaxed"), Format::kPoscar);
  EXPECT_EQ(format_from_path("x.vasp"), Format::kPoscar);
  EXPECT_EQ(format_from_path("x.extxyz"), Format::kExtxyz);
  EXPECT_EQ(format_from_path("x.json"), Format::kJson);
  EXPECT_EQ(format_from_path("x.csv.gz"), Format::kCsv);
  EXPECT_EQ(format_from_path("out/"), Format::kCifFolder);
  EXPECT_THROW(format_from_path("x.docx"), Error);
}

TEST(Formats, FolderOfCifsRoundTrip) {
  const std::string dir = temp_dir() + "/cifs/";
  Dataset d;
  d.records.push_back({"mp/1", triclinic_sample(), {}});
  d.records.push_back({"two", triclinic_sample(), {}});
  write_structures(d, dir);
  EXPECT_TRUE(fs::exists(dir + "mp_1.cif"));
  const Dataset back = read_structures(dir);
  ASSERT_EQ(back.size(), 2u);
  EXPECT_EQ(back.records[0].id, "mp_1");
  fs::remove_all(fs::path(dir).parent_path().parent_path());
}

TEST(Formats, GzipReadAndWrite) {
  const std::string dir = temp_dir();
  write_file_atomic(dir + "/a.txt.gz", "hello world", true);
  EXPECT_EQ(read_file(dir + "/a.txt.gz"), "hello world");
  fs::remove_all(dir);
}

// `sample` names the k-th structure of row ID "ID_k"; `eval csp` maps it
// back, also for ids that contain '_' themselves.
TEST(SampleIds, WrittenAndReadBackTheSameWay) {
  const std::set<std::string> sources = {"mp-1234", "agm_002", "5"};
  auto is_source = [&](const std::string& s) { return sources.count(s) > 0; };
  EXPECT_EQ(xtaldiff::sample_file_id("agm_002", "3"), "agm_002_3");
  EXPECT_EQ(xtaldiff::source_id_of("agm_002_3", is_source), "agm_002");
  EXPECT_EQ(xtaldiff::source_id_of("agm_002", is_source), "agm_002");
  EXPECT_EQ(xtaldiff::source_id_of("mp-1234_0", is_source), "mp-1234");
  EXPECT_EQ(xtaldiff::source_id_of("unknown_1", is_source), "unknown_1");
}
