// The `xtaldiff` command as a user runs it: output contracts, exit codes,
// error messages and no partial output files. The commands that need
// LibTorch (sample, train, model) are tested in test_cli_ml.cpp.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <nlohmann/json.hpp>

#include "cli_harness.h"
#include "io/dataset.h"
#include "util/file_io.h"

namespace fs = std::filesystem;
using namespace xtaldiff_test;

TEST(Cli, InfoJsonKeys) {
  TempDir t;
  xtaldiff::write_file_atomic(t / "POSCAR", kNaClPoscar);
  const CliRun r = run("info --json " + (t / "POSCAR"));
  ASSERT_EQ(r.code, 0) << r.out;
  const auto j = nlohmann::json::parse(r.out);
  for (const char* key : {"formula", "reduced_formula", "natoms", "a", "b", "c", "alpha", "beta", "gamma", "volume",
                          "density", "spacegroup_number", "spacegroup_symbol"})
    EXPECT_TRUE(j.contains(key)) << key;
  EXPECT_EQ(j["reduced_formula"], "NaCl");
  EXPECT_EQ(j["natoms"], 8);
  EXPECT_EQ(j["spacegroup_number"], 225);
  EXPECT_NEAR(j["density"].get<double>(), 2.164, 2e-3);
}

TEST(Cli, InfoOnDatasetSummarises) {
  const CliRun r = run("info --no-cache " + data("datasets/perov_5/test.csv.gz"));
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("3785 structures"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("atoms per cell: 5: 3785"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("Pm-3m"), std::string::npos);
}

TEST(Cli, ConvertDatasetToCifsAndExtxyzAndBack) {
  TempDir t;
  CliRun r = run("convert -q " + data("datasets/carbon_24/test.csv.gz") + " " + (t / "cifs/"));
  ASSERT_EQ(r.code, 0) << r.out;
  std::size_t n = 0;
  for (const auto& e : fs::directory_iterator(t.path / "cifs")) n += e.path().extension() == ".cif";
  EXPECT_EQ(n, 2030u);
  r = run("convert -q " + (t / "cifs") + " " + (t / "all.extxyz"));
  ASSERT_EQ(r.code, 0) << r.out;
  r = run("convert -q " + (t / "all.extxyz") + " " + (t / "back.csv"));
  ASSERT_EQ(r.code, 0) << r.out;
  r = run("info --json --no-cache " + (t / "back.csv"));
  ASSERT_EQ(r.code, 0);
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 2030);
}

TEST(Cli, ConvertSymmetrizedNiggliPrimitive) {
  TempDir t;
  xtaldiff::write_file_atomic(t / "POSCAR", kNaClPoscar);
  CliRun r = run("convert --primitive --niggli " + (t / "POSCAR") + " " + (t / "prim.vasp"));
  ASSERT_EQ(r.code, 0) << r.out;
  r = run("info --json " + (t / "prim.vasp"));
  EXPECT_EQ(nlohmann::json::parse(r.out)["natoms"], 2);
  r = run("convert --symmetrize " + (t / "POSCAR") + " " + (t / "sym.cif"));
  ASSERT_EQ(r.code, 0) << r.out;
  std::ifstream in(t / "sym.cif");
  const std::string cif((std::istreambuf_iterator<char>(in)), {});
  EXPECT_NE(cif.find("Fm-3m"), std::string::npos);
  r = run("info --json " + (t / "sym.cif"));
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["natoms"], 8);
  EXPECT_EQ(j["spacegroup_number"], 225);
}

TEST(Cli, ExitCodesAndMessages) {
  TempDir t;
  CliRun r = run("info " + (t / "missing.cif"));
  EXPECT_EQ(r.code, 4) << r.out;  // I/O
  EXPECT_NE(r.out.find("missing.cif"), std::string::npos);
  xtaldiff::write_file_atomic(t / "bad.vasp", "x\n1.0\n4 0 0\n0 4 0\n0 0 4\nNa\n1\nDirect\n0 0 q\n");
  r = run("info " + (t / "bad.vasp"));
  EXPECT_EQ(r.code, 3) << r.out;  // bad input
  EXPECT_NE(r.out.find("bad.vasp:9"), std::string::npos) << r.out;
  r = run("info");
  EXPECT_EQ(r.code, 2) << r.out;  // usage
  r = run("frobnicate");
  EXPECT_EQ(r.code, 2) << r.out;
  r = run("convert " + (t / "bad.vasp") + " " + (t / "x.docx"));
  EXPECT_EQ(r.code, 2) << r.out;
}

TEST(Cli, FailedConvertLeavesNoPartialOutputAndKeepsOldFile) {
  TempDir t;
  xtaldiff::write_file_atomic(t / "old.extxyz", "previous contents");
  xtaldiff::write_file_atomic(t / "bad.json", "{\"structures\": [{\"lattice\": [[1,0,0],[0,1,0],[0,0,1]], \"species\": [\"Xx\"], \"frac_coords\": [[0,0,0]]}]}");
  CliRun r = run("convert " + (t / "bad.json") + " " + (t / "old.extxyz"));
  EXPECT_EQ(r.code, 3) << r.out;
  std::ifstream in(t / "old.extxyz");
  const std::string kept((std::istreambuf_iterator<char>(in)), {});
  EXPECT_EQ(kept, "previous contents");
  r = run("convert " + (t / "bad.json") + " " + (t / "new.cif"));
  EXPECT_FALSE(fs::exists(t / "new.cif"));
  std::size_t files = 0;
  for (const auto& e : fs::directory_iterator(t.path)) files += e.is_regular_file();
  EXPECT_EQ(files, 2u);  // no temporary left behind
}

// A full disk, as the command meets it: a file-size limit (ulimit -f, with
// SIGXFSZ ignored so the write fails with EFBIG instead of killing the
// process) makes every write beyond 64 KiB fail. The command must say so
// with exit code 4, keep the earlier file whole, and leave no temporary.
TEST(Cli, AFullDiskIsAClearErrorAndKeepsTheEarlierFile) {
  TempDir t;
  xtaldiff::write_file_atomic(t / "out.extxyz", "previous contents");
  const CliRun r = run_shell("bash -c \"trap '' XFSZ; ulimit -f 64; exec " + std::string(XTALDIFF_BINARY) + " convert " +
                              data("datasets/perov_5/val.csv.gz") + " " + (t / "out.extxyz") + "\"");
  EXPECT_EQ(r.code, 4) << r.out;
  EXPECT_NE(r.out.find("out.extxyz"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("write failed"), std::string::npos) << r.out;
  std::ifstream in(t / "out.extxyz");
  const std::string kept((std::istreambuf_iterator<char>(in)), {});
  EXPECT_EQ(kept, "previous contents");
  std::size_t files = 0;
  for (const auto& e : fs::directory_iterator(t.path)) files += e.is_regular_file();
  EXPECT_EQ(files, 1u);  // no temporary left behind
}

TEST(Cli, OneGigabyteLineIsAnErrorNotACrash) {
  TempDir t;
  {
    std::ofstream out(t / "huge.cif", std::ios::binary);
    out << "data_huge\n_cell_length_a ";
    const std::string chunk(1 << 20, '7');
    for (int i = 0; i < 1024; ++i) out.write(chunk.data(), chunk.size());
    out << "\n";
  }
  const CliRun r = run("info " + (t / "huge.cif"));
  EXPECT_EQ(r.code, 3) << r.out.substr(0, 500);
  EXPECT_NE(r.out.find("huge.cif"), std::string::npos) << r.out.substr(0, 500);
  EXPECT_LT(r.out.size(), 2000u);  // the message quotes an excerpt, not the line
}

TEST(Cli, ValidatePerovskiteTestSplit) {
  // 3732 of the 3785 Perov-5 test crystals are SMACT-valid (98.60 %, the
  // ceiling of the published 20-sample match rate); all are structurally valid.
  const CliRun r = run("validate --json --no-cache " + data("datasets/perov_5/test.csv.gz"));
  ASSERT_EQ(r.code, 0) << r.out.substr(0, 500);
  std::size_t n = 0, valid = 0, structural = 0;
  std::size_t start = 0;
  while (start < r.out.size()) {
    const std::size_t end = r.out.find('\n', start);
    const auto j = nlohmann::json::parse(r.out.substr(start, end - start));
    ++n;
    valid += j["valid"].get<bool>();
    structural += j["struct_valid"].get<bool>();
    for (const char* key : {"id", "struct_valid", "comp_valid", "valid"}) EXPECT_TRUE(j.contains(key));
    start = end + 1;
  }
  EXPECT_EQ(n, 3785u);
  EXPECT_EQ(valid, 3732u);
  EXPECT_EQ(structural, 3785u);
}

TEST(Cli, MatchJsonContract) {
  TempDir t;
  xtaldiff::write_file_atomic(t / "a.vasp", kNaClPoscar);
  // The same crystal in a shifted origin and another site order.
  xtaldiff::write_file_atomic(t / "b.vasp",
                              "NaCl\n1.0\n5.64 0 0\n0 5.64 0\n0 0 5.64\nCl Na\n4 4\nDirect\n"
                              "0.6 0.1 0.1\n0.1 0.6 0.1\n0.1 0.1 0.6\n0.6 0.6 0.6\n"
                              "0.1 0.1 0.1\n0.6 0.6 0.1\n0.6 0.1 0.6\n0.1 0.6 0.6\n");
  CliRun r = run("match --json " + (t / "a.vasp") + " " + (t / "b.vasp"));
  ASSERT_EQ(r.code, 0) << r.out;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_TRUE(j["match"].get<bool>());
  EXPECT_NEAR(j["rms"].get<double>(), 0.0, 1e-9);
  xtaldiff::write_file_atomic(t / "c.vasp", "x\n1.0\n4 0 0\n0 4 0\n0 0 4\nCs Cl\n1 1\nDirect\n0 0 0\n0.5 0.5 0.5\n");
  r = run("match --json " + (t / "a.vasp") + " " + (t / "c.vasp"));
  j = nlohmann::json::parse(r.out);
  EXPECT_FALSE(j["match"].get<bool>());
  EXPECT_TRUE(j["rms"].is_null());
}

TEST(Cli, EvalCspCountsUnreadablePredictionsAsInvalid) {
  TempDir t;
  // Ground truth: two perovskites; predictions: the first as itself, the
  // second as a CIF that cannot be read.
  const auto gt = data("datasets/perov_5/test.csv.gz");
  CliRun r = run("convert -q " + gt + " " + (t / "all/"));
  ASSERT_EQ(r.code, 0) << r.out;
  std::filesystem::create_directories(t.path / "gt");
  std::filesystem::create_directories(t.path / "pred");
  std::filesystem::copy_file(t / "all/3961.cif", t / "gt/3961.cif");
  std::filesystem::copy_file(t / "all/11922.cif", t / "gt/11922.cif");
  std::filesystem::copy_file(t / "all/3961.cif", t / "pred/3961.cif");
  xtaldiff::write_file_atomic(t / "pred/11922.cif", "data_broken\n_cell_length_a 4\n");
  r = run("eval csp --json --pred " + (t / "pred") + " --gt " + (t / "gt") + " --per-crystal " + (t / "each.csv"));
  ASSERT_EQ(r.code, 0) << r.out;
  // One row per ground-truth crystal, in the ground truth's order (a folder: by file name).
  const std::string each = xtaldiff::read_file(t / "each.csv");
  EXPECT_NE(each.find("material_id,truth_valid,valid_predictions,matched,rms,truth_spacegroup,prediction_spacegroup\n"),
            std::string::npos)
      << each;
  EXPECT_NE(each.find("3961,1,1,1,"), std::string::npos) << each;  // rms ~0
  // Space groups as pymatgen's SpacegroupAnalyzer (symprec 0.1) gives them:
  // 3961 Pmm2 (its copy too), 11922 P4/mmm (no readable prediction: none).
  EXPECT_NE(each.find(",25,25\n"), std::string::npos) << each;
  EXPECT_NE(each.find("11922,1,0,0,,123,0\n"), std::string::npos) << each;
  const auto j = nlohmann::json::parse(r.out.substr(r.out.find('{')));
  EXPECT_EQ(j["n"], 2);
  EXPECT_EQ(j["matched"], 1);
  EXPECT_DOUBLE_EQ(j["match_rate"].get<double>(), 0.5);
  EXPECT_NEAR(j["rmse"].get<double>(), 0.0, 1e-9);
  EXPECT_EQ(j["pred_unreadable"], 1);
  EXPECT_DOUBLE_EQ(j["sg_recovered"].get<double>(), 0.5);
  EXPECT_DOUBLE_EQ(j["sg_recovered_matched"].get<double>(), 1.0);
  EXPECT_DOUBLE_EQ(j["symprec"].get<double>(), 0.1);
  EXPECT_NE(r.out.find("11922.cif"), std::string::npos);  // the warning names the record
}

TEST(Cli, EnumerateListsValidCompositions) {
  CliRun r = run("enumerate Na-Cl --max-coeff 2");
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("NaCl\n"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("Na2Cl"), std::string::npos) << r.out;
  r = run("enumerate Li-P-S-Cl --max-coeff 2 --json");
  EXPECT_EQ(r.code, 0) << r.out;
  std::istringstream lines(r.out);
  std::string line;
  int n = 0;
  while (std::getline(lines, line)) {
    const auto j = nlohmann::json::parse(line);
    EXPECT_TRUE(j["comp_valid"].get<bool>()) << line;
    ++n;
  }
  EXPECT_GT(n, 5);
  EXPECT_EQ(run("enumerate Li-Xx --max-coeff 2").code, 3);
  EXPECT_EQ(run("enumerate Li2S --max-coeff 2").code, 2);
}

// `report`: a page of any structure file, paired with its ground truth and
// compared with a reference; bad input is a clear error and writes nothing.
TEST(Cli, ReportPairsAStructureFileWithItsGroundTruth) {
  TempDir t;
  xtaldiff::write_file_atomic(t / "NaCl.vasp", kNaClPoscar);
  CliRun r = run("report " + (t / "NaCl.vasp") + " --gt " + (t / "NaCl.vasp") + " --ref " +
                 data("datasets/perov_5/val.csv.gz") + " -q --out " + (t / "page.html"));
  ASSERT_EQ(r.code, 0) << r.out;
  const std::string page = xtaldiff::read_file(t / "page.html");
  EXPECT_NE(page.find("\"csp\":{\"matched\":1"), std::string::npos) << page.substr(0, 300);
  EXPECT_NE(page.find("\"sgs\":\"Fm-3m (225)\""), std::string::npos);
  EXPECT_NE(page.find("\"reference\":{\"atoms\":[5,"), std::string::npos);
  r = run("report " + (t / "missing.cif") + " -q --out " + (t / "none.html"));
  EXPECT_EQ(r.code, 4) << r.out;
  EXPECT_NE(r.out.find("missing.cif"), std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists(t / "none.html"));
}
