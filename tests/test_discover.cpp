// `xtaldiff discover` on a tiny run: the funnel counted stage by stage, the
// candidates ranked by predicted E_hull, a killed run resumed to the same
// result, and bad requests refused before any work.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "util/file_io.h"

namespace fs = std::filesystem;

namespace {

const std::string kModels = std::string(XTALDIFF_DATA_DIR) + "/../models/";

int run(const std::string& command) { return WEXITSTATUS(std::system((command + " > /dev/null 2>&1").c_str())); }

std::vector<std::vector<std::string>> csv_rows(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::vector<std::string>> rows;
  for (std::string line; std::getline(in, line);) {
    std::vector<std::string> fields;
    std::stringstream ss(line);
    for (std::string f; std::getline(ss, f, ',');) fields.push_back(f);
    rows.push_back(fields);
  }
  return rows;
}

}  // namespace

TEST(Discover, FunnelRankingAndResume) {
  const fs::path dir = fs::temp_directory_path() / ("xtd_discover_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  // 8 formulas: Li2O twice (Li4O2 reduces to it), Na2Cl fails SMACT,
  // mp20-csp never saw Ar, Li20Cl19Br (40 atoms) fits no cell of its at
  // most 20 atoms; LiCl, NaCl, MgO and Li2O pass.
  {
    std::ofstream f(dir / "formulas.csv");
    f << "formula\nLiCl\nNaCl\nMgO\nLi2O\nLi4O2\nNa2Cl\nAr\nLi20Cl19Br\n";
  }
  const std::string out = (dir / "run").string();
  const std::string cmd = std::string(XTALDIFF_BINARY) + " discover --compositions " + (dir / "formulas.csv").string() +
                          " --csp-model " + kModels + "mp20-csp.xtd --predictor " + kModels +
                          "mp20-props.xtd --hull " + XTALDIFF_DATA_DIR +
                          "/datasets/mp_20/val.csv.gz --sampler ode --steps 5 --per-composition 2 "
                          "--max-formula-units 2 --chunk 2 --threads 1 --seed 3 --out " + out;
  ASSERT_EQ(run(cmd), 0);
  const auto manifest = nlohmann::json::parse(xtaldiff::read_file(out + "/manifest.json"));
  const auto& f = manifest["funnel"];
  EXPECT_EQ(f["proposed"], 8);
  EXPECT_EQ(f["unique_formulas"], 7);
  EXPECT_EQ(f["smact_valid"], 6);
  EXPECT_EQ(f["elements_known_to_the_csp_model"], 5);
  EXPECT_EQ(f["fit_its_atom_counts"], 4);
  // 4 formulas × 2 formula-unit counts × 2 samples.
  EXPECT_EQ(f["structures"], 16);
  const auto rows = csv_rows(out + "/candidates.csv");
  ASSERT_EQ(rows.size(), f["unique_structures"].get<std::size_t>() + 1);
  EXPECT_EQ(rows[0][0], "rank");
  double previous = -1e9;
  for (std::size_t r = 1; r < rows.size(); ++r) {
    const double e = std::stod(rows[r][7]);
    EXPECT_GE(e, previous) << "row " << r;
    previous = e;
    EXPECT_TRUE(fs::exists(out + "/" + rows[r][11])) << rows[r][11];
  }
  EXPECT_TRUE(fs::exists(out + "/report.html"));

  // A run killed after two chunks continues from the third, to the same result.
  const std::string first = xtaldiff::read_file(out + "/candidates.csv");
  fs::remove(out + "/stages/csp_00001.csv");
  fs::remove(out + "/candidates.csv");
  ASSERT_EQ(run(cmd), 0);
  EXPECT_EQ(xtaldiff::read_file(out + "/candidates.csv"), first);
  EXPECT_EQ(nlohmann::json::parse(xtaldiff::read_file(out + "/manifest.json"))["chunks_resumed"], 1);

  // Other options into the same folder, and bad input, are refused.
  EXPECT_EQ(run(cmd + " --per-composition 3"), 2);
  {
    std::ofstream f(dir / "bad.csv");
    f << "formula\nLiCl\nLi(Cl\n";
  }
  const std::string bad = (dir / "bad_run").string();
  EXPECT_NE(run(std::string(XTALDIFF_BINARY) + " discover --compositions " + (dir / "bad.csv").string() +
                " --csp-model " + kModels + "mp20-csp.xtd --out " + bad),
            0);
  EXPECT_EQ(run(std::string(XTALDIFF_BINARY) + " discover --compositions " + (dir / "formulas.csv").string() +
                " --csp-model " + kModels + "mp20-props.xtd --out " + bad),
            2);
  EXPECT_FALSE(fs::exists(bad + "/candidates.csv"));
  fs::remove_all(dir);
}
