// The property predictor: target parsing and penalties, training on a
// learnable label with a held-out error, the file round trip, and guidance
// (weight 0 is unguided sampling; the gradient lowers the penalty).
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "io/dataset.h"
#include "model/property_model.h"
#include "train/property_trainer.h"
#include "sample/sampler.h"
#include "util/error.h"
#include "util/file_io.h"

using namespace xtaldiff;
namespace fs = std::filesystem;

namespace {

struct Dir {
  fs::path path = fs::temp_directory_path() / ("xtd_prop_" + std::to_string(::getpid()));
  Dir() { fs::create_directories(path); }
  ~Dir() { fs::remove_all(path); }
  std::string operator/(const std::string& n) const { return (path / n).string(); }
};

// Perov-5 crystals labelled with their number of oxygen atoms (0..3), a
// property a small network learns from the types in a few epochs.
std::string write_oxygen_dataset(const Dir& d, std::size_t n) {
  Dataset all = read_cdvae_csv(std::string(XTALDIFF_DATA_DIR) + "/datasets/perov_5/val.csv.gz");
  Dataset out;
  out.columns = {"n_oxygen"};
  for (std::size_t i = 0; i < n && i < all.size(); ++i) {
    int count = 0;
    for (int z : all.records[i].structure.species) count += z == 8;
    out.records.push_back({all.records[i].id, all.records[i].structure, {std::to_string(count)}});
  }
  const std::string path = d / "oxygen.csv";
  write_cdvae_csv(out, path);
  return path;
}

}  // namespace

TEST(PropertyTarget, ParsesValuesAndRanges) {
  auto t = PropertyTarget::parse("band_gap=3.0");
  EXPECT_EQ(t.column, "band_gap");
  EXPECT_EQ(t.kind, PropertyTarget::Kind::kEqual);
  EXPECT_DOUBLE_EQ(t.value, 3.0);
  t = PropertyTarget::parse("formation_energy_per_atom<-1.0");
  EXPECT_EQ(t.kind, PropertyTarget::Kind::kBelow);
  EXPECT_DOUBLE_EQ(t.value, -1.0);
  EXPECT_TRUE(t.met(-1.5, 0));
  EXPECT_FALSE(t.met(-0.5, 0));
  t = PropertyTarget::parse(" heat_ref > 0.25 ");
  EXPECT_EQ(t.column, "heat_ref");
  EXPECT_EQ(t.kind, PropertyTarget::Kind::kAbove);
  for (const char* bad : {"band_gap", "=3", "band_gap=x", "band_gap=3eV", "band_gap=nan"})
    EXPECT_THROW(PropertyTarget::parse(bad), Error) << bad;
  // Penalties: squared distance, one-sided for ranges, in units of the scale.
  auto y = torch::tensor({1.0, 2.0, 4.0});
  auto eq = PropertyTarget::parse("p=2").penalty(y, 0.5);
  EXPECT_NEAR(eq[0].item<double>(), 0.25, 1e-12);
  EXPECT_NEAR(eq[2].item<double>(), 1.0, 1e-12);
  auto below = PropertyTarget::parse("p<2").penalty(y, 1.0);
  EXPECT_DOUBLE_EQ(below[0].item<double>(), 0.0);
  EXPECT_DOUBLE_EQ(below[2].item<double>(), 4.0);
  auto above = PropertyTarget::parse("p>2").penalty(y, 1.0);
  EXPECT_DOUBLE_EQ(above[0].item<double>(), 1.0);
  EXPECT_DOUBLE_EQ(above[2].item<double>(), 0.0);
}

TEST(PropertyModel, ResumeContinuesTheSameRun) {
  Dir d;
  PropertyTrainOptions o;
  o.data = write_oxygen_dataset(d, 60);
  o.columns = {"n_oxygen"};
  o.encoder = CspNetOptions::preset("tiny");
  o.steps = 50;
  o.batch = 16;
  o.threads = 1;
  o.quiet = true;
  // Four epochs at once, and two plus two resumed: the same weights.
  o.epochs = 4;
  o.out = d / "straight.xtd";
  const auto straight = train_property_model(o);
  o.out = d / "split.xtd";
  o.epochs = 2;
  train_property_model(o);
  EXPECT_TRUE(fs::exists(o.out + ".ckpt"));
  o.epochs = 4;
  o.resume = true;
  const auto split = train_property_model(o);
  EXPECT_EQ(split.resumed_at_epoch, 2);
  EXPECT_EQ(split.epochs, 4);
  EXPECT_DOUBLE_EQ(split.holdout_mae[0], straight.holdout_mae[0]);
  auto a = load_property_model(d / "straight.xtd").model->parameters();
  auto b = load_property_model(d / "split.xtd").model->parameters();
  ASSERT_EQ(a.size(), b.size());
  for (std::size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(torch::equal(a[i], b[i])) << i;
  EXPECT_EQ(load_property_model(o.out).metadata["resumed_at_epoch"], 2);
  // Another split (seed) is another run: refused, the checkpoint kept.
  o.seed = 43;
  EXPECT_THROW(train_property_model(o), Error);
  EXPECT_TRUE(fs::exists(o.out + ".ckpt"));
}

TEST(PropertyModel, LearnsALabelAndKeepsItsHeldOutErrorInTheFile) {
  Dir d;
  PropertyTrainOptions o;
  o.data = write_oxygen_dataset(d, 240);
  o.out = d / "p.xtd";
  o.columns = {"n_oxygen"};
  o.encoder = CspNetOptions::preset("tiny");
  o.steps = 50;
  o.epochs = 12;
  o.batch = 32;
  o.lr = 3e-3;
  o.threads = 1;
  o.quiet = true;
  const auto s = train_property_model(o);
  EXPECT_EQ(s.holdout_rows, 24);
  ASSERT_EQ(s.holdout_mae.size(), 1u);
  LoadedPropertyModel m = load_property_model(o.out);
  const double sd = m.model->options().stddev[0];
  // Better than predicting the mean (whose MAE is about 0.8 sd here).
  EXPECT_LT(s.holdout_mae[0], 0.5 * sd) << "sd " << sd;
  EXPECT_DOUBLE_EQ(m.metadata["holdout_mae"]["n_oxygen"].get<double>(), s.holdout_mae[0]);
  EXPECT_EQ(m.model->column_index("n_oxygen"), 0);
  EXPECT_THROW(m.model->column_index("band_gap"), Error);
  // Unknown column, damaged file.
  o.columns = {"band_gap"};
  EXPECT_THROW(train_property_model(o), Error);
  write_file_atomic(d / "bad.xtd", "not a model");
  EXPECT_THROW(load_property_model(d / "bad.xtd"), Error);
}

TEST(PropertyGuidance, WeightZeroIsUnguidedAndTheGradientLowersThePenalty) {
  CspNetOptions net = CspNetOptions::preset("tiny");
  net.diffuse_types = true;
  DiffusionOptions dopt;
  dopt.steps = 20;
  torch::manual_seed(2);
  DiffusionModel gen(net, dopt);
  PropertyOptions po;
  po.columns = {"p"};
  po.mean = {0.0};
  po.stddev = {1.0};
  po.steps = 20;
  PropertyModel prop(net, po);
  PropertyGuidance g;
  g.model = &prop;
  g.targets = {PropertyTarget::parse("p=1.5")};
  g.target_columns = {0};
  g.scale = 0.0;
  SampleOptions o;
  o.steps = 10;
  o.kind = SamplerKind::kAncestral;
  o.seed = 9;
  const std::vector<CrystalTask> tasks = {{{}, 4}, {{38, 22, 8, 8, 8}, 0}};
  const auto plain = sample_crystals(gen, tasks, TypeConstraints{}, o);
  o.guidance = &g;
  const auto zero = sample_crystals(gen, tasks, TypeConstraints{}, o);
  for (std::size_t i = 0; i < tasks.size(); ++i) {
    EXPECT_EQ(plain[i].species, zero[i].species);
    for (std::size_t a = 0; a < plain[i].size(); ++a)
      for (int k = 0; k < 3; ++k) EXPECT_NEAR(plain[i].frac[a][k], zero[i].frac[a][k], 1e-5);
  }
  // A step against the penalty's gradient lowers it (the signal guidance adds).
  torch::manual_seed(4);
  auto types = torch::randn({5, net.vocab}).requires_grad_(true);
  auto frac = torch::rand({5, 3}).requires_grad_(true);
  auto lattice = (4 * torch::eye(3).unsqueeze(0) + 0.1 * torch::randn({1, 3, 3})).requires_grad_(true);
  const auto edges = EdgeIndex::fully_connected({5}, torch::kCPU);
  const auto owner = torch::zeros({5}, torch::kInt64);
  const auto t = torch::full({1}, 10.0f);
  auto energy = [&](const torch::Tensor& a, const torch::Tensor& x, const torch::Tensor& l) {
    return g.targets[0].penalty(prop.predict(t, a, x, l, edges, owner, 1).select(1, 0), 1.0).sum();
  };
  auto e0 = energy(types, frac, lattice);
  auto grads = torch::autograd::grad({e0}, {types, frac, lattice});
  torch::NoGradGuard ng;
  const double step = 1e-3;
  auto e1 = energy(types - step * grads[0], frac - step * grads[1], lattice - step * grads[2]);
  EXPECT_LT(e1.item<double>(), e0.item<double>());
}
