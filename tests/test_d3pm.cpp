// Absorbing-state (D3PM) type diffusion: transition matrices and posteriors
// against hand-computed values, the forward masking rate, the hybrid loss
// by hand, and sampling with a D3PM generation model under every
// constraint, every sampler.
#include <gtest/gtest.h>

#include <filesystem>
#include <unistd.h>

#include "diffusion/type_d3pm.h"
#include "io/dataset.h"
#include "model/diffusion_model.h"
#include "model/model_file.h"
#include "sample/sampler.h"
#include "tiny_training.h"
#include "train/trainer.h"
#include "util/error.h"

using namespace xtaldiff;
namespace fs = std::filesystem;

namespace {

double max_abs(const torch::Tensor& a) { return a.abs().max().item<double>(); }

DiffusionModel tiny_d3pm_model(int steps = 10) { return test_support::tiny_model({true, "d3pm", false, steps, 6}); }

}  // namespace

TEST(D3pm, TransitionMatricesByHand) {
  // T = 4, two elements (states 0, 1) and the mask (state 2).
  const TypeD3pm d(4, 2);
  EXPECT_DOUBLE_EQ(d.beta(1), 0.25);
  EXPECT_DOUBLE_EQ(d.beta(2), 1.0 / 3);
  EXPECT_DOUBLE_EQ(d.beta(4), 1.0);
  const auto q1 = torch::tensor({0.75, 0.0, 0.25, 0.0, 0.75, 0.25, 0.0, 0.0, 1.0}, torch::kFloat64).view({3, 3});
  EXPECT_LT(max_abs(d.transition(1) - q1), 1e-15);
  const auto qbar2 = torch::tensor({0.5, 0.0, 0.5, 0.0, 0.5, 0.5, 0.0, 0.0, 1.0}, torch::kFloat64).view({3, 3});
  EXPECT_LT(max_abs(d.cumulative_transition(2) - qbar2), 1e-15);
  // Q̄_t = Q_1 ⋯ Q_t, rows are distributions, Q̄_T masks everything.
  auto product = torch::eye(3, torch::kFloat64);
  for (int t = 1; t <= 4; ++t) {
    product = torch::mm(product, d.transition(t));
    EXPECT_LT(max_abs(product - d.cumulative_transition(t)), 1e-12) << t;
    EXPECT_LT(max_abs(d.transition(t).sum(1) - 1), 1e-15);
  }
  EXPECT_DOUBLE_EQ(d.cumulative_transition(4)[0][2].item<double>(), 1.0);
}

TEST(D3pm, PosteriorsByHandAndFromTheMatrices) {
  const TypeD3pm d(4, 2);
  // x_3 = mask, x_0 = 0: unmasked at s = 1 with (ᾱ_1 − ᾱ_3)/(1 − ᾱ_3) = (0.75 − 0.25)/0.75 = 2/3.
  EXPECT_DOUBLE_EQ(d.unmask_probability(3, 1), 2.0 / 3);
  const auto post = d.posterior_from_matrices(3, 1);  // [x_t, x_0, x_s]
  EXPECT_NEAR(post[2][0][0].item<double>(), 2.0 / 3, 1e-12);
  EXPECT_NEAR(post[2][0][2].item<double>(), 1.0 / 3, 1e-12);
  EXPECT_NEAR(post[2][0][1].item<double>(), 0.0, 1e-15);
  EXPECT_NEAR(post[0][0][0].item<double>(), 1.0, 1e-12);  // unmasked atoms stay
  EXPECT_NEAR(post[1][0].sum().item<double>(), 0.0, 1e-15);  // x_t = 1 cannot come from x_0 = 0
  // The closed form the sampler uses agrees with Bayes' rule on the
  // matrices for every t > s (strided steps included).
  const TypeD3pm big(10, 3);
  for (int t = 1; t <= 10; ++t)
    for (int s = 0; s < t; ++s) {
      const auto p = big.posterior_from_matrices(t, s);
      const double r = big.unmask_probability(t, s);
      for (int x0 = 0; x0 < 3; ++x0) {
        EXPECT_NEAR(p[3][x0][x0].item<double>(), r, 1e-12) << t << " " << s;
        EXPECT_NEAR(p[3][x0][3].item<double>(), 1 - r, 1e-12);
        // An unmasked atom stays (at t = T no atom is unmasked: the row is 0).
        EXPECT_NEAR(p[x0][x0][x0].item<double>(), t < 10 ? 1.0 : 0.0, 1e-12);
      }
    }
  EXPECT_DOUBLE_EQ(big.unmask_probability(7, 0), 1.0);  // the last step unmasks everything
}

TEST(D3pm, ForwardMaskingRateAndHybridLossByHand) {
  const TypeD3pm d(1000, 100);
  torch::manual_seed(3);
  auto x0 = torch::randint(0, 100, {20000}, torch::kInt64);
  auto xt = d.noise(x0, torch::full({20000}, 300, torch::kInt64), torch::rand({20000}));
  const double masked = (xt == 100).to(torch::kFloat64).mean().item<double>();
  EXPECT_NEAR(masked, 0.3, 0.015);  // 1 − ᾱ_300
  EXPECT_TRUE(torch::equal(torch::where(xt == 100, x0, xt), x0));  // unmasked atoms keep their type
  // Two atoms at t = 2 (r_t = 1/2), the first masked: loss = mean((r + λ) CE, 0).
  const TypeD3pm small(4, 3);
  auto logits = torch::tensor({1.0f, 2.0f, 0.5f, 0.0f, 0.0f, 3.0f}).view({2, 3});
  auto target = torch::tensor({1, 2}, torch::kInt64);
  auto state = torch::tensor({3, 2}, torch::kInt64);
  const double ce = -std::log(std::exp(2.0) / (std::exp(1.0) + std::exp(2.0) + std::exp(0.5)));
  const double lambda = 0.25;
  auto loss = small.loss(logits, target, state, torch::tensor({2, 2}, torch::kInt64), lambda);
  EXPECT_NEAR(loss.item<double>(), (0.5 + lambda) * ce / 2, 1e-6);
}

TEST(D3pm, ReverseStepUnmasksWithThePosteriorProbability) {
  const TypeD3pm d(10, 4);
  auto state = torch::tensor({4, 4, 1, 4}, torch::kInt64);
  auto draw = torch::tensor({0, 2, 3, 3}, torch::kInt64);
  // r(6 → 3) = (0.7 − 0.4) / 0.6 = 0.5
  auto u = torch::tensor({0.49f, 0.51f, 0.0f, 0.2f});
  EXPECT_TRUE(torch::equal(d.step(state, draw, 6, 3, u), torch::tensor({0, 4, 1, 3}, torch::kInt64)));
  EXPECT_TRUE(torch::equal(d.step(state, draw, 6, 3, u, true), torch::tensor({0, 4, 3, 3}, torch::kInt64)));
  EXPECT_TRUE(torch::equal(d.step(state, draw, 6, 0, torch::full({4}, 0.999f)), torch::tensor({0, 2, 1, 3}, torch::kInt64)));
}

TEST(D3pm, EveryConstraintHoldsOnEverySampleOfEverySampler) {
  DiffusionModel model = tiny_d3pm_model();
  std::vector<TypeConstraints> requests(3);
  requests[0].allowed = {3, 15, 16, 17};
  requests[1].allowed = {3, 15, 16, 17};
  requests[1].required = {3, 16};
  requests[1].max_elements = 3;
  requests[2].allowed = requests[2].required = {56, 22, 8};  // prompt "Ba Ti O"
  std::vector<CrystalTask> tasks;
  for (int n : {3, 4, 5, 8, 12}) tasks.push_back({{}, n});
  tasks.push_back({{38, 22, 8, 8, 8}, 0});  // inpainted
  for (const char* name : {"pc", "ancestral", "ode", "heun"}) {
    for (const auto& c : requests) {
      SampleOptions o;
      o.kind = parse_sampler(name);
      o.seed = 2;
      o.steps = 6;
      const auto out = sample_crystals(model, tasks, c, o);
      ASSERT_EQ(out.size(), tasks.size());
      for (std::size_t i = 0; i + 1 < out.size(); ++i) {
        ASSERT_EQ(static_cast<int>(out[i].size()), tasks[i].num_atoms);
        const Composition comp = out[i].composition();
        for (const auto& [z, amount] : comp.amounts()) EXPECT_TRUE(c.allows(z)) << name << " Z=" << z;
        for (int z : c.required) EXPECT_GT(comp.amount(z), 0) << name << " " << c.describe();
        if (c.max_elements) {
          EXPECT_LE(comp.num_elements(), c.max_elements);
        }
      }
      EXPECT_EQ(out.back().species, (std::vector<int>{38, 22, 8, 8, 8}));
    }
  }
}

TEST(D3pm, TrainsRoundTripsAndRefusesPropertyGuidance) {
  test_support::TinyTrainingSet set("d3pm", 12, 6);
  TrainOptions& o = set.options;
  // Warm-started from a one-hot DDPM model: the geometry layers are copied,
  // the type input (one more class, the mask) and output start fresh.
  const std::string d3pm_out = o.out;
  o.out = (set.dir / "ddpm.xtd").string();
  o.epochs = 1;
  train_model(o);
  o.init = o.out;
  o.out = d3pm_out;
  o.epochs = 2;
  o.net.type_diffusion = "d3pm";
  const TrainSummary s = train_model(o);
  {
    LoadedModel ddpm = load_model_file(o.init);
    LoadedModel d3pm = load_model_file(o.out);
    EXPECT_EQ(d3pm.state.metadata["init"]["new_parameters"], 4);  // type_in and type_out, weight and bias
    EXPECT_EQ(d3pm.state.metadata["init"]["copied_parameters"].get<std::size_t>() + 4,
              ddpm.for_sampling().net()->parameters().size());
  }
  // A property predictor is no start for a generation model (a CSP model
  // is: Training.InitFromACspModelCarriesItsElementEmbeddingIntoTheTypeInput).
  o.init = std::string(XTALDIFF_DATA_DIR) + "/../models/perov5-heat_ref.xtd";
  o.out = (set.dir / "refused.xtd").string();
  EXPECT_THROW(train_model(o), Error);
  o.out = d3pm_out;
  EXPECT_TRUE(std::isfinite(s.train_loss));
  LoadedModel m = load_model_file(o.out);
  EXPECT_TRUE(m.for_sampling().d3pm());
  PropertyGuidance g;
  SampleOptions so;
  so.guidance = &g;
  EXPECT_THROW(sample_crystals(m.for_sampling(), {{{}, 5}}, TypeConstraints{}, so), Error);
}
