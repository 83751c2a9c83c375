// report.html: the summary numbers are the validity checks' and spglib's,
// the page names space groups by their symbols, escapes ids and links CIFs.
#include <gtest/gtest.h>

#include "crystal/symmetry.h"
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
  const std::string html = sample_report_html(in, &sum);
  EXPECT_EQ(sum.structures, 3u);
  EXPECT_EQ(sum.structurally_valid, 2u);
  EXPECT_EQ(sum.compositionally_valid, 2u);
  EXPECT_EQ(sum.valid, 1u);
  EXPECT_EQ(sum.distinct_formulas, 2u);     // SrTiO3 twice, Sr2O3
  EXPECT_EQ(sum.distinct_spacegroups, 2u);  // from the column: 221 and 99
  EXPECT_NE(html.find("Pm-3m (221)"), std::string::npos);
  EXPECT_NE(html.find("P4mm (99)"), std::string::npos);
  EXPECT_NE(html.find("66.7 %"), std::string::npos);  // the hit rate
  EXPECT_NE(html.find("1.50 crystals/s"), std::string::npos);
  EXPECT_EQ(html.find("a<b>"), std::string::npos);  // ids are escaped...
  EXPECT_NE(html.find("a&lt;b&gt;_0"), std::string::npos);
  EXPECT_NE(html.find("&quot;SrTiO3&quot;"), std::string::npos);
  EXPECT_NE(html.find("href=\"cifs/m2_3.cif\""), std::string::npos);  // ...and CIFs linked as sample names them
  EXPECT_EQ(count(html, ">CIF</a>"), 3u);
  EXPECT_NE(html.find("<th>predicted_heat_ref</th>"), std::string::npos);
  EXPECT_EQ(count(html, "no: distance or volume"), 1u);
  EXPECT_EQ(count(html, "no: composition"), 1u);
  EXPECT_EQ(html.rfind("</html>\n"), html.size() - 8);
}

TEST(SampleReport, FindsSpaceGroupsWithoutAColumnAndCapsRows) {
  Dataset d;
  for (int i = 0; i < 5; ++i) d.records.push_back({"s" + std::to_string(i), cubic_perovskite(), {}});
  SampleReportInput in;
  in.structures = &d;
  in.cif_folder.clear();
  in.max_rows = 2;
  SampleReportSummary sum;
  const std::string html = sample_report_html(in, &sum);
  EXPECT_EQ(sum.valid, 5u);
  EXPECT_EQ(sum.distinct_spacegroups, 1u);
  EXPECT_NE(html.find("Pm-3m (221)"), std::string::npos);  // spglib's, at symprec 0.1
  EXPECT_NE(html.find("The first 2 of 5 structures."), std::string::npos);
  EXPECT_EQ(count(html, "<tr><td class=n>"), 2u);
  EXPECT_EQ(html.find("CIF</a>"), std::string::npos);
}
