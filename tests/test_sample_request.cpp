// A sample request is planned and checked once (sample/request.h): tasks
// from each composition source, the sampler "auto" resolves to, and the
// refusals that come before any work, on the shipped Perov-5 models.
#include <gtest/gtest.h>

#include <functional>
#include <string>

#include "chem/composition.h"
#include "model/model_file.h"
#include "model/dataset_stats.h"
#include "sample/request.h"
#include "util/error.h"

using namespace xtaldiff;

namespace {

std::string shipped(const std::string& name) { return std::string(XTALDIFF_DATA_DIR) + "/../models/" + name; }

ErrorKind kind_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.kind();
  }
  return ErrorKind::kInternal;  // nothing thrown: never the expected kind in these tests
}

}  // namespace

TEST(SamplerDefault, BuiltInUnlessTheModelRecordsOne) {
  const nlohmann::json none = nlohmann::json::object();
  SamplerDefault csp = default_sampler(none, false), gen = default_sampler(none, true);
  EXPECT_EQ(csp.kind, SamplerKind::kOde);
  EXPECT_EQ(csp.steps, 20);
  EXPECT_EQ(csp.source, "built-in");
  EXPECT_EQ(gen.kind, SamplerKind::kAncestral);
  EXPECT_EQ(gen.steps, 200);
  nlohmann::json meta = {{"sampler_defaults", {{"csp", parse_sampler_default("heun:50:4")}}}};
  csp = default_sampler(meta, false);
  EXPECT_EQ(csp.kind, SamplerKind::kHeun);
  EXPECT_EQ(csp.steps, 50);
  EXPECT_DOUBLE_EQ(csp.anneal, 4.0);
  EXPECT_EQ(csp.source, "model");
  EXPECT_EQ(default_sampler(meta, true).source, "built-in");  // only CSP recorded
  meta["sampler_defaults"]["csp"] = {{"sampler", "ode"}};     // damaged: no steps
  EXPECT_EQ(kind_of([&] { default_sampler(meta, false); }), ErrorKind::kInput);
}

TEST(SamplerDefault, ParsesSamplerStepsAndAnneal) {
  const auto d = parse_sampler_default("ode:100");
  EXPECT_EQ(d["sampler"], "ode");
  EXPECT_EQ(d["steps"], 100);
  EXPECT_FALSE(d.contains("anneal"));
  for (const char* bad : {"ode", "ode:", "ode:0", "ode:2.5", "ode:100:-1", "euler:20", "ode:20:1:2", "ode:1e9"})
    EXPECT_EQ(kind_of([&] { parse_sampler_default(bad); }), ErrorKind::kUsage) << bad;
}

TEST(SampleRequest, AtomRangesAndElementLists) {
  EXPECT_EQ(parse_atom_range("10"), std::make_pair(10, 10));
  EXPECT_EQ(parse_atom_range("4-12"), std::make_pair(4, 12));
  for (const char* bad : {"0", "12-4", "x", "4-", "-3"})
    EXPECT_EQ(kind_of([&] { parse_atom_range(bad); }), ErrorKind::kUsage) << bad;
  EXPECT_EQ(parse_element_list("Li-P-S-Cl", "--elements"), (std::vector<int>{3, 15, 16, 17}));
  EXPECT_EQ(parse_element_list("Li, Li P", "--elements"), (std::vector<int>{3, 15}));
  EXPECT_EQ(kind_of([&] { parse_element_list("Li,Xx", "--elements"); }), ErrorKind::kUsage);
}

TEST(SampleRequest, AtomCountOfACompositionFollowsTheTrainingHistogram) {
  DatasetStats stats;
  stats.num_atoms = {{5, 10}, {10, 40}, {20, 5}};
  EXPECT_EQ(atoms_for_composition(Composition::parse("SrTiO3"), stats), 10);  // the most frequent multiple of 5
  EXPECT_EQ(atoms_for_composition(Composition::parse("Fe2O3"), stats), 10);
  // No multiple of 7 was seen: the smallest one inside the trained range.
  EXPECT_EQ(atoms_for_composition(Composition::parse("LiFePO4"), stats), 7);
  EXPECT_EQ(atoms_for_composition(Composition::parse("Li7La3Zr2O12"), stats), 0);  // 24 atoms > 20
}

TEST(SampleRequest, PlansCspOfAFormulaWithTheBuiltInSampler) {
  LoadedModel model = load_model_file(shipped("perov5-csp.xtd"));
  SampleRequest r;
  r.model_path = "perov5-csp.xtd";
  r.formula = "Ba2Ti2O6";
  r.n = 3;
  const SamplePlan plan = plan_sample(r, model);
  EXPECT_FALSE(plan.denovo);
  ASSERT_EQ(plan.tasks.size(), 3u);
  EXPECT_EQ(plan.tasks[2].id, "BaTiO3");
  EXPECT_EQ(plan.tasks[2].sample_index, 2);
  EXPECT_EQ(plan.tasks[0].species.size(), 10u);  // Z = 2 as written
  EXPECT_EQ(plan.options.kind, SamplerKind::kOde);
  EXPECT_EQ(plan.options.steps, 20);
  EXPECT_EQ(plan.sampler_source, "built-in");
  EXPECT_DOUBLE_EQ(plan.options.anneal, 0.0);  // a score model
  // 10 atoms exceed Perov-5's 5: planned, and listed as an extrapolation.
  ASSERT_EQ(plan.extrapolations.size(), 1u);
  EXPECT_EQ(plan.extrapolations[0]["id"], "BaTiO3");
}

TEST(SampleRequest, RefusesImpossibleRequestsBeforeAnyWork) {
  LoadedModel csp = load_model_file(shipped("perov5-csp.xtd"));
  SampleRequest r;
  r.model_path = "perov5-csp.xtd";
  r.n = 2;  // de novo with a CSP model
  EXPECT_EQ(kind_of([&] { plan_sample(r, csp); }), ErrorKind::kUsage);
  r.formula = "SrTiO3";
  r.system = "Sr-Ti-O";  // two sources
  EXPECT_EQ(kind_of([&] { plan_sample(r, csp); }), ErrorKind::kUsage);
  r.system.clear();
  r.elements = "Sr";  // a de novo constraint on a fixed composition
  EXPECT_EQ(kind_of([&] { plan_sample(r, csp); }), ErrorKind::kUsage);
  r.elements.clear();
  r.sampler = "ode";
  r.steps = 5000;  // beyond T = 1000: the sampler's own check, run at planning time
  EXPECT_EQ(kind_of([&] { plan_sample(r, csp); }), ErrorKind::kUsage);
  r.steps = 10;
  r.anneal = 2;  // a flow-only option on a score model
  EXPECT_EQ(kind_of([&] { plan_sample(r, csp); }), ErrorKind::kUsage);

  LoadedModel gen = load_model_file(shipped("perov5-gen.xtd"));
  SampleRequest d;
  d.model_path = "perov5-gen.xtd";
  d.n = 4;
  d.require = "Pu";  // never seen in Perov-5
  EXPECT_EQ(kind_of([&] { plan_sample(d, gen); }), ErrorKind::kUsage);
  d.require = "Sr,Ti,O";
  d.max_elements = 2;  // three required elements cannot fit in two
  EXPECT_EQ(kind_of([&] { plan_sample(d, gen); }), ErrorKind::kUsage);
  d.max_elements = 0;
  d.targets = {"heat_ref=1"};  // the model is not conditioned on it and nothing steers it
  EXPECT_EQ(kind_of([&] { plan_sample(d, gen); }), ErrorKind::kUsage);
  d.targets.clear();
  const SamplePlan plan = plan_sample(d, gen);
  ASSERT_EQ(plan.tasks.size(), 4u);
  for (const auto& t : plan.tasks) {
    EXPECT_TRUE(t.species.empty());
    EXPECT_EQ(t.num_atoms, 5);  // every Perov-5 cell has 5 atoms
  }
  EXPECT_EQ(plan.options.kind, SamplerKind::kAncestral);
  EXPECT_EQ(plan.options.steps, 200);
}
