// report.html: the summary numbers are the validity checks' and spglib's,
// the page names space groups by their symbols, escapes ids and links CIFs.
#include <gtest/gtest.h>

#include "crystal/symmetry.h"
#include "report/report_data.h"
#include "report/sample_report.h"

using namespace xtaldiff;

namespace {

Structure cubic_perovskite() {  // SrTiO3, Pm-3m, valid
  return Structure(Lattice::from_parameters(3.905, 3.905, 3.905, 90, 90, 90), {38, 22, 8, 8, 8},
                   {{0, 0, 0}, {0.5, 0.5, 0.5}, {0.5, 0.5, 0}, {0.5, 0, 0.5}, {0, 0.5, 0.5}});
}

std::size_t count(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (auto p = text.find(what); p != std::string::npos; p = text.find(what, p + 1)) ++n;
  return n;
}

}  // namespace

TEST(SpacegroupSymbol, StandardShortSymbols) {
  EXPECT_EQ(spacegroup_symbol(1), "P1");
  EXPECT_EQ(spacegroup_symbol(14), "P2_1/c");
  EXPECT_EQ(spacegroup_symbol(62), "Pnma");
  EXPECT_EQ(spacegroup_symbol(194), "P6_3/mmc");
  EXPECT_EQ(spacegroup_symbol(221), "Pm-3m");
  EXPECT_EQ(spacegroup_symbol(225), "Fm-3m");
  EXPECT_EQ(spacegroup_symbol(230), "Ia-3d");
  EXPECT_EQ(spacegroup_symbol(0), "");
  EXPECT_EQ(spacegroup_symbol(231), "");
}

TEST(SampleReport, CountsValidityAndSpaceGroupsAndLinksCifs) {
  Dataset d;
  d.columns = {"sample", "spacegroup", "predicted_heat_ref"};
  d.records.push_back({"a<b>", cubic_perovskite(), {"0", "221", "1.25"}});
  Structure close = cubic_perovskite();
  close.frac[1] = {0.05, 0.0, 0.0};  // Ti 0.2 Å from Sr: structurally invalid
  d.records.push_back({"m2", close, {"3", "99", "0.5"}});
  Structure odd = cubic_perovskite();
  odd.species = {38, 38, 8, 8, 8};  // Sr2O3 is not charge neutral with SMACT's states
  d.records.push_back({"m3", odd, {"0", "221", "2"}});
  SampleReportInput in;
  in.structures = &d;
  in.manifest = {{"command", "xtaldiff sample --formula \"SrTiO3\""},
                 {"sampler", "ode"},
                 {"seconds", 2.0},
                 {"crystals", 3},
                 {"spacegroup_condition", {{"requested", 221}, {"guidance", 2.0}, {"hits", 2}, {"hit_rate", 2.0 / 3}}}};
  SampleReportSummary sum;
  const nlohmann::json j = report_data(in, &sum);
  EXPECT_EQ(sum.structures, 3u);
  EXPECT_EQ(sum.structurally_valid, 2u);
  EXPECT_EQ(sum.compositionally_valid, 2u);
  EXPECT_EQ(sum.valid, 1u);
  EXPECT_EQ(sum.distinct_formulas, 2u);     // SrTiO3 twice, Sr2O3
  EXPECT_EQ(sum.distinct_spacegroups, 2u);  // from the column: 221 and 99
  const auto& s = j["structures"];
  ASSERT_EQ(s.size(), 3u);
  EXPECT_EQ(s[0]["id"], "a<b>_0");  // the id as sample names files
  EXPECT_EQ(s[0]["sgs"], "Pm-3m (221)");
  EXPECT_EQ(s[1]["sgs"], "P4mm (99)");
  EXPECT_EQ(s[0]["cif"], "cifs/a_b__0.cif");
  EXPECT_EQ(s[1]["cif"], "cifs/m2_3.cif");
  EXPECT_EQ(s[0]["ok"], 2);  // valid
  EXPECT_EQ(s[1]["ok"], 0);  // no: distance
  EXPECT_EQ(s[2]["ok"], 1);  // no: composition
  EXPECT_NEAR(s[1]["d"].get<double>(), 0.05 * 3.905, 1e-4);
  EXPECT_NEAR(s[0]["rho"].get<double>(), cubic_perovskite().density(), 1e-4);
  EXPECT_EQ(s[0]["abc"][0], 3.905);
  EXPECT_EQ(s[0]["s"], "3.90500 0.00000 0.00000 0.00000 3.90500 0.00000 0.00000 0.00000 3.90500|38 22 8 8 8|"
                       "0.00000 0.00000 0.00000 0.50000 0.50000 0.50000 0.50000 0.50000 0.00000 0.50000 0.00000 "
                       "0.50000 0.00000 0.50000 0.50000");
  EXPECT_EQ(j["columns"], nlohmann::json({"predicted_heat_ref"}));  // sample and spacegroup are not extra columns
  EXPECT_EQ(j["numeric_columns"], nlohmann::json::parse(R"([[0, "predicted_heat_ref"]])"));
  EXPECT_EQ(j["elements"]["38"][0], "Sr");
  EXPECT_EQ(j["elements"]["8"][1], 0.66);  // Cordero's covalent radius of O
  EXPECT_EQ(j["targets"][0]["hit_rate"], 2.0 / 3);
  EXPECT_EQ(j["run"][1], nlohmann::json({"sampler", "ode"}));
  EXPECT_EQ(j["run"].back(), nlohmann::json({"sampling time", "2.0 s (1.50 crystals/s)"}));
  EXPECT_TRUE(j["csp"].is_null());
  EXPECT_TRUE(j["reference"].is_null());

  // The page: everything inline, nothing fetched, no raw "<" from the data.
  const std::string html = sample_report_html(in);
  EXPECT_EQ(html.find("a<b>"), std::string::npos);
  EXPECT_NE(html.find("a\\u003cb>_0"), std::string::npos);
  EXPECT_NE(html.find("Content-Security-Policy\" content=\"default-src 'none'"), std::string::npos);
  EXPECT_NE(html.find("3Dmol.js 2.5.5"), std::string::npos);
  EXPECT_EQ(html.find("src=\"http"), std::string::npos);
  EXPECT_EQ(count(html, "<script"), 5u);  // error log, data, 3Dmol.js, Chart.js, the page's script
  EXPECT_EQ(html.rfind("</html>\n"), html.size() - 8);
}

TEST(SampleReport, FindsSpaceGroupsWithoutAColumn) {
  Dataset d;
  for (int i = 0; i < 5; ++i) d.records.push_back({"s" + std::to_string(i), cubic_perovskite(), {}});
  SampleReportInput in;
  in.structures = &d;
  in.cif_folder.clear();
  SampleReportSummary sum;
  const nlohmann::json j = report_data(in, &sum);
  EXPECT_EQ(sum.valid, 5u);
  EXPECT_EQ(sum.distinct_spacegroups, 1u);
  EXPECT_EQ(j["structures"][4]["sgs"], "Pm-3m (221)");  // spglib's, at symprec 0.1
  EXPECT_FALSE(j["structures"][0].contains("cif"));
}

// A CSP run: predictions named <id>_<k> against their ground truth; the
// match, RMS and space-group recovery as `eval csp --only-predicted`.
TEST(SampleReport, PairsPredictionsWithTheirGroundTruth) {
  Dataset gt;
  gt.records.push_back({"t1", cubic_perovskite(), {}});
  Structure tetragonal = cubic_perovskite();
  tetragonal.frac[1] = {0.5, 0.5, 0.56};  // Ti off centre: P4mm
  gt.records.push_back({"t2", tetragonal, {}});
  gt.records.push_back({"t3", cubic_perovskite(), {}});  // no prediction: not counted
  Dataset pred;
  pred.columns = {"sample"};
  Structure near = cubic_perovskite();
  near.frac[2] = {0.52, 0.5, 0.0};  // a small displacement: matched, space group lost
  pred.records.push_back({"t1", near, {"0"}});
  pred.records.push_back({"t1", cubic_perovskite(), {"1"}});  // exact: the best of t1's two
  Structure wrong(Lattice::from_parameters(3, 3, 14, 90, 90, 90), {38, 22, 8, 8, 8},  // a chain, P1
                  {{0, 0, 0}, {0.1, 0, 0.2}, {0.3, 0.1, 0.4}, {0.2, 0.4, 0.6}, {0.7, 0.2, 0.8}});
  pred.records.push_back({"t2", wrong, {"0"}});
  pred.records.push_back({"zz", cubic_perovskite(), {"0"}});  // names no ground truth
  SampleReportInput in;
  in.structures = &pred;
  in.ground_truth = &gt;
  in.reference = &gt;
  const nlohmann::json j = report_data(in);
  const auto& csp = j["csp"];
  EXPECT_EQ(csp["pairs"], 2);
  EXPECT_EQ(csp["matched"], 1);
  EXPECT_EQ(csp["rmse"], 0.0);
  EXPECT_EQ(csp["sg_recovered"], 1);  // t1's best match keeps Pm-3m; t2 loses P4mm
  EXPECT_EQ(csp["unpaired"], 1);
  const auto& s = j["structures"];
  EXPECT_EQ(s[0]["m"], 1);
  EXPECT_GT(s[0]["rms"].get<double>(), 0.0);
  EXPECT_EQ(s[1]["rms"], 0.0);
  EXPECT_EQ(s[2]["m"], 0);
  EXPECT_TRUE(s[2]["rms"].is_null());
  EXPECT_EQ(s[3]["gt"], -1);
  ASSERT_EQ(j["gt"].size(), 2u);  // only the ground truth that is predicted
  EXPECT_EQ(j["gt"][s[0]["gt"].get<int>()]["id"], "t1");
  EXPECT_EQ(j["gt"][s[2]["gt"].get<int>()]["sgs"], "P4mm (99)");
  EXPECT_EQ(j["reference"]["atoms"], nlohmann::json({5, 5, 5}));
  EXPECT_EQ(j["reference"]["spacegroups"], nlohmann::json({221, 99, 221}));
}
