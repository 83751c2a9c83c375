// De novo generation: the type diffusion's algebra, the constraint
// projection, every constraint on every sample of every sampler, inpainting
// of known types, and the gen model file.
#include <gtest/gtest.h>

#include <filesystem>
#include <set>

#include "chem/composition.h"
#include "diffusion/lattice_ddpm.h"
#include "diffusion/type_ddpm.h"
#include "io/dataset.h"
#include "model/diffusion_model.h"
#include "model/model_file.h"
#include "sample/sampler.h"
#include "sample/type_constraints.h"
#include "tiny_training.h"
#include "train/trainer.h"
#include "util/error.h"

using namespace xtaldiff;
namespace fs = std::filesystem;

namespace {

double max_abs(const torch::Tensor& a) { return a.abs().max().item<double>(); }

DiffusionModel tiny_gen_model(int steps = 20) { return test_support::tiny_model({true, "ddpm", false, steps, 5}); }

bool satisfies(const Structure& s, const TypeConstraints& c) {
  const Composition comp = s.composition();
  if (comp.num_elements() == 0) return false;
  if (c.max_elements > 0 && comp.num_elements() > c.max_elements) return false;
  for (const auto& [z, amount] : comp.amounts())
    if (!c.allows(z)) return false;
  for (int z : c.required)
    if (comp.amount(z) <= 0) return false;
  return true;
}

}  // namespace

TEST(TypeDdpm, CleanEstimateFromTheTrueNoiseIsExact) {
  const TypeDdpm p(1000);
  torch::manual_seed(0);
  auto a0 = TypeDdpm::one_hot(torch::tensor({8, 22, 38}, torch::kInt64), 100);
  EXPECT_EQ(a0.size(1), 100);
  EXPECT_EQ(a0[1][21].item<float>(), 1.0f);
  EXPECT_EQ(a0.sum().item<float>(), 3.0f);
  auto eps = torch::randn({3, 100});
  for (int t : {1, 250, 500, 999}) {
    auto at = p.noise(a0, torch::full({3}, t, torch::kInt64), eps);
    EXPECT_LT(max_abs(at - p.noise_at(a0, t, eps)), 1e-5);
    EXPECT_LT(max_abs(p.predict_clean(at, eps, t) - a0), 2e-4 / std::sqrt(p.schedule().alpha_bar[t]));
    EXPECT_LT(max_abs(p.implied_noise(at, a0, t) - eps), 1e-3);
  }
}

TEST(TypeDdpm, PosteriorStepFromTheCleanEstimateIsDiffCspsEpsilonStep) {
  // DiffCSP: a_{t−1} = (a_t − β_t/sqrt(1−ᾱ_t) ε̂)/sqrt(α_t) + σ_t z. Written
  // through â_0 = (a_t − sqrt(1−ᾱ_t) ε̂)/sqrt(ᾱ_t) the posterior step must give
  // the same numbers (the lattice DDPM's step is DiffCSP's form).
  const TypeDdpm p(1000);
  const LatticeDdpm lattice(1000);
  torch::manual_seed(1);
  auto at = torch::randn({4, 3, 3}), eps = torch::randn({4, 3, 3}), z = torch::randn({4, 3, 3});
  for (int t : {2, 100, 500, 1000}) {
    auto a0 = p.predict_clean(at, eps, t);
    EXPECT_LT(max_abs(p.step_ancestral(at, a0, t, t - 1, z) - lattice.step_ancestral(at, eps, t, t - 1, z)), 2e-4)
        << "t=" << t;
    EXPECT_LT(max_abs(p.step_ddim(at, a0, t, t / 2) - lattice.step_ddim(at, eps, t, t / 2)), 2e-4) << "t=" << t;
  }
  // The last step returns the clean estimate itself.
  auto a0 = torch::rand({2, 5});
  EXPECT_TRUE(torch::equal(p.step_ancestral(torch::randn({2, 5}), a0, 1, 0, torch::Tensor()), a0));
}

TEST(TypeConstraints, ImpossibleRequestsAreRefused) {
  TypeConstraints c;
  c.allowed = {2};   // He
  c.required = {3};  // Li
  EXPECT_THROW(check_feasible(c, 5, 100), Error);
  c = {};
  c.required = {3, 8, 16};
  c.max_elements = 2;
  EXPECT_THROW(check_feasible(c, 5, 100), Error);
  c.max_elements = 0;
  EXPECT_THROW(check_feasible(c, 2, 100), Error);  // three required elements, two atoms
  EXPECT_NO_THROW(check_feasible(c, 3, 100));
  c = {};
  c.allowed = {101};
  EXPECT_THROW(check_feasible(c, 3, 100), Error);
}

TEST(TypeConstraints, FeasibleAssignmentByHand) {
  // Vocabulary of 4 (Z 1..4), three atoms. Scores favour Z=1 everywhere.
  const int V = 4;
  const float scores[3 * V] = {
      0.9f, 0.1f, 0.05f, 0.0f,  // atom 0: 1 ≫ 2 > 3
      0.8f, 0.6f, 0.0f, 0.1f,  // atom 1: switching to 2 costs 0.2
      0.7f, 0.0f, 0.0f, 0.5f,  // atom 2: switching to 4 costs 0.2
  };
  TypeConstraints c;
  EXPECT_EQ(feasible_assignment(scores, 3, V, c), (std::vector<int>{1, 1, 1}));
  c.required = {2};  // the cheapest switch is atom 1
  EXPECT_EQ(feasible_assignment(scores, 3, V, c), (std::vector<int>{1, 2, 1}));
  c.required = {2, 4};
  EXPECT_EQ(feasible_assignment(scores, 3, V, c), (std::vector<int>{1, 2, 4}));
  c.max_elements = 2;  // 2 and 4 required, so 1 must go: each atom takes its best of {2, 4}
  EXPECT_EQ(feasible_assignment(scores, 3, V, c), (std::vector<int>{2, 2, 4}));
  c = {};
  c.allowed = {3, 4};  // the argmax among allowed elements only
  EXPECT_EQ(feasible_assignment(scores, 3, V, c), (std::vector<int>{3, 4, 4}));
  // A required element's only atom is never taken by another required one.
  const float two[2 * V] = {0.0f, 1.0f, 0.0f, 0.0f, 0.0f, 1.0f, 0.0f, 0.9f};
  c = {};
  c.required = {2, 3};
  const auto out = feasible_assignment(two, 2, V, c);
  EXPECT_EQ(std::set<int>(out.begin(), out.end()), (std::set<int>{2, 3}));
}

TEST(Generation, EveryConstraintHoldsOnEverySampleOfEverySampler) {
  DiffusionModel model = tiny_gen_model();
  std::vector<TypeConstraints> requests(4);
  requests[0].allowed = {3, 15, 16, 17};  // Li-P-S-Cl
  requests[1].allowed = {3, 15, 16, 17};
  requests[1].required = {3};
  requests[1].max_elements = 3;
  requests[2].allowed = requests[2].required = {56, 22, 8};  // prompt "Ba Ti O"
  requests[3].required = {26};  // anything with Fe, at most two elements
  requests[3].max_elements = 2;
  std::vector<CrystalTask> tasks;
  for (int n : {3, 4, 5, 6, 8, 12, 3, 7}) tasks.push_back({{}, n});
  for (const char* name : {"pc", "ancestral", "ode", "heun"}) {
    for (const auto& c : requests) {
      SampleOptions o;
      o.kind = parse_sampler(name);
      o.seed = 11;
      o.steps = 10;
      const auto out = sample_crystals(model, tasks, c, o);
      ASSERT_EQ(out.size(), tasks.size());
      for (std::size_t i = 0; i < out.size(); ++i) {
        EXPECT_EQ(static_cast<int>(out[i].size()), tasks[i].num_atoms);
        EXPECT_TRUE(satisfies(out[i], c)) << name << " " << c.describe() << ": "
                                          << out[i].composition().reduced_formula();
      }
    }
  }
}

TEST(Generation, KnownTypesAreInpaintedExactly) {
  DiffusionModel model = tiny_gen_model();
  SampleOptions o;
  o.steps = 10;
  for (SamplerKind k : {SamplerKind::kAncestral, SamplerKind::kHeun}) {
    o.kind = k;
    const auto out = sample_crystals(model, {{{38, 22, 8, 8, 8}, 0}, {{}, 4}}, TypeConstraints{}, o);
    EXPECT_EQ(out[0].species, (std::vector<int>{38, 22, 8, 8, 8}));
    EXPECT_EQ(out[1].size(), 4u);
  }
}

TEST(Generation, CspModelRefusesDeNovoAndSameSeedRepeats) {
  DiffusionOptions d;
  d.steps = 10;
  DiffusionModel csp(CspNetOptions::preset("tiny"), d);
  EXPECT_THROW(sample_crystals(csp, {{{}, 5}}, TypeConstraints{}, SampleOptions{}), Error);
  DiffusionModel gen = tiny_gen_model(10);
  SampleOptions o;
  o.seed = 3;
  const auto a = sample_crystals(gen, {{{}, 5}, {{}, 6}}, TypeConstraints{}, o);
  const auto b = sample_crystals(gen, {{{}, 5}, {{}, 6}}, TypeConstraints{}, o);
  EXPECT_EQ(a[1].species, b[1].species);
  EXPECT_EQ(a[1].frac, b[1].frac);
}

TEST(Generation, TrainingKeepsDatasetStatisticsAndTheTask) {
  test_support::TinyTrainingSet set("gen", 12, 6);
  const TrainOptions& o = set.options;
  const Dataset& all = set.rows;
  const TrainSummary s = train_model(o);
  EXPECT_TRUE(std::isfinite(s.train_loss));
  LoadedModel m = load_model_file(o.out);
  EXPECT_EQ(m.task, "gen");
  EXPECT_TRUE(m.for_sampling().generative());
  const auto& stats = m.state.metadata["dataset_stats"];
  EXPECT_EQ(stats["crystals"], 12);
  EXPECT_EQ(stats["num_atoms"]["5"], 12);  // every Perov-5 cell has 5 atoms
  std::set<int> elements;
  for (const auto& r : all.records)
    for (int z : r.structure.species) elements.insert(z);
  EXPECT_EQ(stats["elements"].size(), elements.size());
  EXPECT_EQ(stats["elements"]["8"].get<int>() > 0, elements.count(8) > 0);
}

TEST(Generation, Bf16SamplingKeepsConstraintsAndStaysCloseToFloat32) {
  DiffusionModel model = tiny_gen_model();
  TypeConstraints c;
  c.allowed = {3, 15, 16, 17};
  c.required = {3};
  const std::vector<CrystalTask> tasks = {{{}, 4}, {{}, 6}, {{38, 22, 8, 8, 8}, 0}};
  for (SamplerKind kind : {SamplerKind::kPc, SamplerKind::kHeun}) {
    SampleOptions o;
    o.kind = kind;
    o.steps = 5;
    o.seed = 8;
    o.lattice_clip = 10;
    SampleOptions h = o;
    h.precision = "bf16";
    SampleReport rep;
    const auto a = sample_crystals(model, tasks, c, o);
    const auto b = sample_crystals(model, tasks, c, h, &rep);
    EXPECT_EQ(rep.failed, 0u);
    for (std::size_t i = 0; i < tasks.size(); ++i) {
      ASSERT_EQ(b[i].size(), a[i].size());
      if (tasks[i].species.empty()) {
        EXPECT_TRUE(satisfies(b[i], c)) << b[i].composition().reduced_formula();
      }
      // Same noise, lower-precision network: the cells stay near float32's.
      for (int r = 0; r < 3; ++r)
        for (int k = 0; k < 3; ++k)
          EXPECT_NEAR(b[i].lattice.matrix()[r][k], a[i].lattice.matrix()[r][k], 0.5) << sampler_name(kind);
    }
  }
  SampleOptions bad;
  bad.precision = "fp8";
  EXPECT_THROW(sample_crystals(model, tasks, c, bad), Error);
}
