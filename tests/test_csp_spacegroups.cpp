// Space-group recovery of `eval csp` against pymatgen's SpacegroupAnalyzer
// on real, distorted model outputs (tests/fixtures/csp_spacegroups.jsonl.gz,
// written by tools/make_spacegroup_fixtures.py from raw `sample` runs of
// the shipped models), and the symmetry refinement on the same outputs.
#include <gtest/gtest.h>

#include <map>
#include <nlohmann/json.hpp>

#include "crystal/symmetrize.h"
#include "eval/csp_metrics.h"
#include "io/cif.h"
#include "util/file_io.h"

using namespace xtaldiff;

namespace {

struct Prediction {
  std::string label, id, cif_pred, cif_truth;
  int sg_pred = 0, sg_truth = 0;  // pymatgen's; 0 = none
};

std::vector<Prediction> fixture() {
  const std::string text = read_file(std::string(XTALDIFF_FIXTURES_DIR) + "/csp_spacegroups.jsonl.gz");
  std::vector<Prediction> out;
  for (std::size_t start = 0; start < text.size();) {
    std::size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    if (end > start) {
      const auto j = nlohmann::json::parse(text.begin() + static_cast<long>(start), text.begin() + static_cast<long>(end));
      Prediction p;
      p.label = j.at("label");
      p.id = j.at("id");
      p.cif_pred = j.at("cif_pred");
      p.cif_truth = j.at("cif_truth");
      p.sg_pred = j.at("sg_pred").is_null() ? 0 : j.at("sg_pred").get<int>();
      p.sg_truth = j.at("sg_truth").is_null() ? 0 : j.at("sg_truth").get<int>();
      out.push_back(std::move(p));
    }
    start = end + 1;
  }
  return out;
}

}  // namespace

TEST(CspSpacegroups, RecoveryEqualsPymatgensOnRealPredictions) {
  const auto preds = fixture();
  ASSERT_GE(preds.size(), 500u) << "tests/fixtures/csp_spacegroups.jsonl.gz is incomplete";
  // One task per prediction (k = 1), as the runs were sampled.
  std::map<std::string, std::vector<const Prediction*>> by_label;
  for (const auto& p : preds) by_label[p.label].push_back(&p);
  CifOptions co;
  co.merge_tolerance = 1e-6;  // as eval csp reads predictions
  for (const auto& [label, list] : by_label) {
    std::vector<CspTask> tasks;
    for (const auto* p : list) {
      CspTask t;
      t.id = p->id;
      t.truth = read_cif_single(p->cif_truth, label + "/" + p->id + " truth");
      t.predictions.emplace_back(read_cif_single(p->cif_pred, label + "/" + p->id + " prediction", co));
      tasks.push_back(std::move(t));
    }
    const CspResult r = evaluate_csp(tasks);
    std::size_t pymatgen_recovered = 0, differing = 0, recovered_any = 0;
    for (std::size_t i = 0; i < list.size(); ++i) {
      const auto& c = r.crystals[i];
      const auto& p = *list[i];
      pymatgen_recovered += p.sg_truth != 0 && p.sg_pred == p.sg_truth;
      recovered_any += c.spacegroup_recovered();
      if (c.truth_spacegroup != p.sg_truth || c.prediction_spacegroup != p.sg_pred) {
        ++differing;
        ADD_FAILURE() << label << "/" << p.id << ": xtaldiff " << c.truth_spacegroup << " / "
                      << c.prediction_spacegroup << ", pymatgen " << p.sg_truth << " / " << p.sg_pred;
      }
    }
    EXPECT_EQ(differing, 0u) << label;
    EXPECT_EQ(r.spacegroup_recovered, pymatgen_recovered) << label;
    EXPECT_DOUBLE_EQ(r.sg_recovered, double(pymatgen_recovered) / double(list.size())) << label;
    EXPECT_EQ(recovered_any, r.spacegroup_recovered);
  }
}

TEST(CspSpacegroups, RecoveryCountsTheMatchedPredictionAndSkipsWhenAsked) {
  // A perfect prediction recovers the group; symprec 0 skips the analysis.
  const auto preds = fixture();
  ASSERT_FALSE(preds.empty());
  CspTask t;
  t.id = preds[0].id;
  t.truth = read_cif_single(preds[0].cif_truth, "truth");
  t.predictions.emplace_back(t.truth);
  const CspResult r = evaluate_csp({t});
  EXPECT_TRUE(r.crystals[0].matched);
  EXPECT_EQ(r.crystals[0].prediction_spacegroup, preds[0].sg_truth);
  EXPECT_DOUBLE_EQ(r.sg_recovered, 1.0);
  ASSERT_TRUE(r.sg_recovered_matched);
  EXPECT_DOUBLE_EQ(*r.sg_recovered_matched, 1.0);
  CspEvalOptions off;
  off.symprec = 0;
  const CspResult none = evaluate_csp({t}, off);
  EXPECT_EQ(none.crystals[0].truth_spacegroup, 0);
  EXPECT_DOUBLE_EQ(none.sg_recovered, 0.0);
}

TEST(Symmetrize, RealPredictionsGetTheirGroupExactly) {
  // Every raw prediction of the fixture whose group spglib finds at 0.1 Å,
  // refined at that tolerance, has the same group at 1e-5 Å, keeps its
  // atoms and order, and moves no atom by more than the tolerance allows.
  const auto preds = fixture();
  CifOptions co;
  co.merge_tolerance = 1e-6;
  int refined = 0, raw_exact = 0;
  for (const auto& p : preds) {
    if (p.sg_pred == 0) continue;
    const Structure s = read_cif_single(p.cif_pred, p.label + "/" + p.id, co);
    raw_exact += analyze_symmetry(s, 1e-5).number == p.sg_pred;
    const auto r = symmetrize(s, 0.1);
    ASSERT_TRUE(r) << p.label << "/" << p.id;
    EXPECT_EQ(r->spacegroup, p.sg_pred) << p.label << "/" << p.id;
    EXPECT_EQ(r->structure.species, s.species);
    EXPECT_EQ(analyze_symmetry(r->structure, 1e-5).number, p.sg_pred) << p.label << "/" << p.id;
    EXPECT_LT(r->max_shift, 0.2) << p.label << "/" << p.id;  // within about twice symprec
    ++refined;
  }
  EXPECT_GT(refined, 600);
  EXPECT_LT(raw_exact, refined / 2) << "the raw outputs should be visibly imprecise";
}

TEST(Symmetrize, PerturbedPerovskiteReturnsToItsSpecialPositions) {
  Structure s;
  s.lattice = Lattice::from_parameters(4.02, 3.98, 4.0, 90.3, 89.8, 90.1);
  s.species = {38, 22, 8, 8, 8};
  s.frac = {{0.003, 0.998, 0.001}, {0.502, 0.497, 0.503}, {0.498, 0.501, 0.004}, {0.497, 0.002, 0.499},
            {0.001, 0.503, 0.498}};
  const auto r = symmetrize(s, 0.1);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->spacegroup, 221);
  const Vec3 a = r->structure.lattice.lengths(), ang = r->structure.lattice.angles();
  EXPECT_NEAR(a[0], a[1], 1e-9);
  EXPECT_NEAR(a[1], a[2], 1e-9);
  for (int k = 0; k < 3; ++k) EXPECT_NEAR(ang[k], 90.0, 1e-9);
  // Relative to atom 0 every coordinate is 0 or ½ exactly.
  for (std::size_t i = 1; i < 5; ++i)
    for (int k = 0; k < 3; ++k) {
      const double d = r->structure.frac[i][k] - r->structure.frac[0][k];
      const double twice = 2 * (d - std::floor(d));
      EXPECT_NEAR(twice, std::round(twice), 1e-9) << i << "," << k;
    }
  // At a tight tolerance it is P1, and P1 leaves the atoms where they are.
  const auto tight = symmetrize(s, 1e-6);
  ASSERT_TRUE(tight);
  EXPECT_EQ(tight->spacegroup, 1);
  EXPECT_LT(tight->max_shift, 1e-9);
}
