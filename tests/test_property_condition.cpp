// Classifier-free guidance on property values: the "no value" vector, weight
// 0 = unconditional sampling, conditioned training (label statistics from
// the dataset), and the values range targets are conditioned on.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "io/dataset.h"
#include "model/diffusion_model.h"
#include "model/model_file.h"
#include "sample/property_condition.h"
#include "sample/sampler.h"
#include "tiny_training.h"
#include "train/trainer.h"
#include "util/error.h"

using namespace xtaldiff;

namespace {

// A tiny generation network conditioned on two columns (mean 1, sd 2 and
// mean −1, sd 0.5).
DiffusionModel tiny_property_model() {
  CspNetOptions net = CspNetOptions::preset("tiny");
  net.diffuse_types = true;
  net.condition_properties = {"band_gap", "formation_energy_per_atom"};
  net.property_mean = {1.0, -1.0};
  net.property_stddev = {2.0, 0.5};
  DiffusionOptions d;
  d.steps = 10;
  torch::manual_seed(13);
  DiffusionModel m(net, d);
  // Untrained "no value" vectors are zero: give them values so the test
  // tells them from a zero embedding.
  torch::NoGradGuard ng;
  m.net()->property_null.normal_();
  return m;
}

std::vector<double> uniform_quantiles() {  // of U(0, 1)
  std::vector<double> q;
  for (int i = 0; i <= 100; ++i) q.push_back(i / 100.0);
  return q;
}

}  // namespace

TEST(PropertyCondition, NoValueIsTheUnconditionalPredictionAndValuesMatter) {
  DiffusionModel model = tiny_property_model();
  model.net()->eval();
  const CrystalBatch b = test_support::srtio3_pair_batch();
  const EdgeIndex edges = EdgeIndex::fully_connected(b.counts, torch::kCPU);
  torch::NoGradGuard no_grad;
  auto t = torch::full({2}, 5.0f);
  auto a = TypeDdpm::one_hot(b.atom_types, model.net_options().vocab);
  auto none = model.denoise(t, a, b, b.frac, b.lattice, edges);
  Condition nan_values;
  nan_values.properties = torch::full({2, 2}, NAN);
  auto nan_out = model.denoise(t, a, b, b.frac, b.lattice, edges, nan_values);
  EXPECT_TRUE(torch::equal(none.lattice, nan_out.lattice));
  EXPECT_TRUE(torch::equal(none.coords, nan_out.coords));
  EXPECT_TRUE(torch::isfinite(nan_out.types).all().item<bool>());
  // Two identical crystals, one asked for band gap 3 and the other for 0.
  Condition values;
  values.properties = torch::tensor({3.0f, NAN, 0.0f, NAN}).view({2, 2});
  auto out = model.denoise(t, a, b, b.frac, b.lattice, edges, values);
  EXPECT_GT((out.coords - none.coords).abs().max().item<double>(), 1e-5);
  EXPECT_GT((out.lattice[0] - out.lattice[1]).abs().max().item<double>(), 1e-6);
  // A network without property conditioning refuses values.
  DiffusionOptions d;
  d.steps = 10;
  CspNetOptions plain_net = CspNetOptions::preset("tiny");
  plain_net.diffuse_types = true;
  DiffusionModel plain(plain_net, d);
  EXPECT_THROW(plain.denoise(t, a, b, b.frac, b.lattice, edges, values), Error);
}

TEST(PropertyCondition, GuidanceWeightZeroIsUnconditionalSamplingForTheSameSeed) {
  DiffusionModel model = tiny_property_model();
  std::vector<CrystalTask> plain_tasks = {{{}, 5}, {{}, 7}};
  std::vector<CrystalTask> tasks = plain_tasks;
  tasks[0].properties = {3.0, NAN};
  tasks[1].properties = {0.5, -2.0};
  for (SamplerKind kind : {SamplerKind::kAncestral, SamplerKind::kHeun}) {
    SampleOptions w0;
    w0.kind = kind;
    w0.seed = 8;
    w0.cfg_weight = 0.0;
    SampleOptions w2 = w0;
    w2.cfg_weight = 2.0;
    SampleReport r0, r2;
    const auto a = sample_crystals(model, plain_tasks, TypeConstraints{}, w0);
    const auto b = sample_crystals(model, tasks, TypeConstraints{}, w0, &r0);
    const auto c = sample_crystals(model, tasks, TypeConstraints{}, w2, &r2);
    test_support::expect_weight_zero_is_unconditional(a, b, c, r0, r2);
  }
  // Refusals before any work: values for a model without the condition,
  // the wrong number of columns, a negative weight.
  SampleOptions o;
  std::vector<CrystalTask> wrong = {{{}, 5}};
  wrong[0].properties = {1.0};
  EXPECT_THROW(sample_crystals(model, wrong, TypeConstraints{}, o), Error);
  o.cfg_weight = -1;
  EXPECT_THROW(sample_crystals(model, tasks, TypeConstraints{}, o), Error);
  DiffusionModel sg_only = test_support::tiny_model({true, "ddpm", true, 10, 9});
  EXPECT_THROW(sample_crystals(sg_only, tasks, TypeConstraints{}, SampleOptions{}), Error);
}

TEST(PropertyCondition, QuantileDrawsStayInTheRangeAndFollowTheLabels) {
  const auto q = uniform_quantiles();
  EXPECT_NEAR(quantile_mass(q, 0.2, 0.5), 0.3, 1e-12);
  EXPECT_NEAR(quantile_mass(q, -5, 0.25), 0.25, 1e-12);
  EXPECT_NEAR(quantile_draw(q, 0.2, 0.5, 0.5), 0.35, 1e-12);
  EXPECT_NEAR(quantile_draw(q, -std::numeric_limits<double>::infinity(), 0.5, 0.0), 0.0, 1e-12);
  // No training label in the range: its bound nearest to the labels.
  EXPECT_EQ(quantile_draw(q, 2.0, 3.0, 0.7), 2.0);
  EXPECT_EQ(quantile_draw(q, -3.0, -1.0, 0.7), -1.0);
  // Skewed labels: half of them below 0.1.
  std::vector<double> skew;
  for (int i = 0; i <= 100; ++i) skew.push_back(i <= 50 ? i * 0.002 : 0.1 + (i - 50) * 0.018);
  EXPECT_NEAR(quantile_draw(skew, 0.0, 1.0, 0.5), 0.1, 1e-12);
}

TEST(PropertyCondition, PlansValuesRangesAndRefusesContradictions) {
  CspNetOptions net = CspNetOptions::preset("tiny");
  net.condition_properties = {"band_gap", "formation_energy_per_atom"};
  net.property_mean = {0.5, 0.5};
  net.property_stddev = {0.3, 0.3};
  std::map<std::string, LabelStats> stats;
  stats["band_gap"].quantiles = uniform_quantiles();
  stats["formation_energy_per_atom"].quantiles = uniform_quantiles();
  auto parse = [](std::vector<std::string> texts) {
    std::vector<PropertyTarget> t;
    for (const auto& s : texts) t.push_back(PropertyTarget::parse(s));
    return t;
  };
  const auto plan = plan_property_conditions(net, stats, parse({"band_gap=3.0", "formation_energy_per_atom<0.4",
                                                                "formation_energy_per_atom>0.1", "heat_ref<0"}),
                                             200, 1);
  ASSERT_EQ(plan.values.size(), 200u);
  double lo = 1, hi = 0;
  for (const auto& v : plan.values) {
    EXPECT_EQ(v[0], 3.0);
    EXPECT_GE(v[1], 0.1);
    EXPECT_LE(v[1], 0.4);
    lo = std::min(lo, v[1]), hi = std::max(hi, v[1]);
  }
  EXPECT_LT(lo, 0.15);  // spread over the range, not one value
  EXPECT_GT(hi, 0.35);
  EXPECT_NEAR(plan.report[1]["training_share_in_range"].get<double>(), 0.3, 1e-12);
  // Columns the network is not conditioned on are left to classifier guidance.
  EXPECT_TRUE(plan_property_conditions(net, stats, parse({"heat_ref=1"}), 3, 1).values.empty());
  EXPECT_THROW(plan_property_conditions(net, stats, parse({"band_gap<0", "band_gap>1"}), 3, 1), Error);
  EXPECT_THROW(plan_property_conditions(net, stats, parse({"band_gap=2", "band_gap<1"}), 3, 1), Error);
  EXPECT_THROW(plan_property_conditions(net, stats, parse({"band_gap=2", "band_gap=1"}), 3, 1), Error);
}

TEST(PropertyCondition, TrainingStandardisesWithTheLabelsAndKeepsTheirQuantiles) {
  test_support::TinyTrainingSet set("propcond", 16, 8);
  TrainOptions& o = set.options;
  // A plain generation model first; the conditioned run starts from its weights.
  const std::string plain_out = o.out;
  o.out = (set.dir / "plain.xtd").string();
  train_model(o);
  const std::size_t plain_params = load_model_file(o.out).for_sampling().net()->parameters().size();
  o.init = o.out;
  o.out = plain_out;
  o.net.condition_properties = {"heat_ref"};
  const TrainSummary s = train_model(o);
  EXPECT_TRUE(std::isfinite(s.train_loss));
  LoadedModel m = load_model_file(o.out);
  EXPECT_EQ(m.state.metadata["init"]["copied_parameters"].get<std::size_t>(), plain_params);
  EXPECT_EQ(m.state.metadata["init"]["new_parameters"], 5);  // the column's two Linear layers and the null vector
  const auto& net = m.for_sampling().net_options();
  ASSERT_EQ(net.condition_properties, std::vector<std::string>{"heat_ref"});
  const auto col = *set.rows.column("heat_ref");
  double sum = 0, sq = 0, mn = 1e9, mx = -1e9;
  for (std::size_t r = 0; r < set.rows.size(); ++r) {
    const double v = *set.rows.number(r, col);
    sum += v, sq += v * v, mn = std::min(mn, v), mx = std::max(mx, v);
  }
  const double mean = sum / 16, sd = std::sqrt(sq / 16 - mean * mean);
  EXPECT_NEAR(net.property_mean[0], mean, 1e-6);
  EXPECT_NEAR(net.property_stddev[0], sd, 1e-6);
  const auto q = m.state.metadata["dataset_stats"]["properties"]["heat_ref"]["quantiles"].get<std::vector<double>>();
  ASSERT_EQ(q.size(), 101u);
  EXPECT_NEAR(q.front(), mn, 1e-6);  // labels are held as float32
  EXPECT_NEAR(q.back(), mx, 1e-6);
  // Sampling with a value and with a range, then resuming the same run.
  std::vector<CrystalTask> tasks = {{{}, 5}};
  tasks[0].properties = {mean};
  SampleOptions so;
  so.steps = 5;
  so.cfg_weight = 2.0;
  EXPECT_EQ(sample_crystals(m.for_sampling(), tasks, TypeConstraints{}, so)[0].size(), 5u);
  o.resume = true;
  o.epochs = 3;
  EXPECT_EQ(train_model(o).epochs_done, 3);
  // A column the training set lacks is named with the ones it has.
  o.resume = false;
  o.out = (set.dir / "bad.xtd").string();
  o.net.condition_properties = {"band_gap"};
  try {
    train_model(o);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("no column 'band_gap'"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("heat_ref"), std::string::npos) << e.what();
  }
}
