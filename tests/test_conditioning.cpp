// Space-group conditioning with classifier-free guidance: the crystal
// system table, the "no condition" token, weight 0 = unconditional
// sampling, refusals, and conditioned training (labels by spglib).
#include <gtest/gtest.h>

#include <filesystem>
#include <unistd.h>

#include "crystal/symmetry.h"
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

DiffusionModel tiny_conditioned_model(bool generative, int steps = 10) {
  return test_support::tiny_model({generative, "ddpm", true, steps, 9});
}

}  // namespace

TEST(Conditioning, CrystalSystemsOfSpaceGroupNumbers) {
  // International Tables: the first and last group of each system.
  const std::vector<std::pair<int, int>> edges = {{0, 0},   {1, 1},   {2, 1},   {3, 2},   {15, 2},
                                                  {16, 3},  {74, 3},  {75, 4},  {142, 4}, {143, 5},
                                                  {167, 5}, {168, 6}, {194, 6}, {195, 7}, {230, 7}};
  for (const auto& [sg, system] : edges) EXPECT_EQ(crystal_system_index(sg), system) << sg;
  EXPECT_EQ(crystal_system(225), "cubic");
  EXPECT_THROW(crystal_system_index(231), Error);
}

TEST(Conditioning, LabelZeroIsTheUnconditionalPredictionAndLabelsMatter) {
  DiffusionModel model = tiny_conditioned_model(false);
  model.net()->eval();
  const CrystalBatch b = test_support::srtio3_pair_batch();
  const EdgeIndex edges = EdgeIndex::fully_connected(b.counts, torch::kCPU);
  torch::NoGradGuard no_grad;
  auto t = torch::full({2}, 5.0f);
  auto none = model.denoise(t, b.atom_types, b, b.frac, b.lattice, edges);
  auto zero = model.denoise(t, b.atom_types, b, b.frac, b.lattice, edges, torch::zeros({2}, torch::kInt64));
  auto cubic = model.denoise(t, b.atom_types, b, b.frac, b.lattice, edges, torch::tensor({221, 62}, torch::kInt64));
  EXPECT_TRUE(torch::equal(none.lattice, zero.lattice));
  EXPECT_TRUE(torch::equal(none.coords, zero.coords));
  EXPECT_GT((cubic.coords - none.coords).abs().max().item<double>(), 1e-4);
  // The two crystals are identical; only their labels differ.
  EXPECT_GT((cubic.lattice[0] - cubic.lattice[1]).abs().max().item<double>(), 1e-5);
  // A network without conditioning refuses labels.
  DiffusionOptions d;
  d.steps = 10;
  DiffusionModel plain(CspNetOptions::preset("tiny"), d);
  EXPECT_THROW(plain.denoise(t, b.atom_types, b, b.frac, b.lattice, edges, torch::tensor({221, 221})), Error);
}

TEST(Conditioning, GuidanceWeightZeroIsUnconditionalSamplingForTheSameSeed) {
  DiffusionModel model = tiny_conditioned_model(true);
  const std::vector<CrystalTask> tasks = {{{}, 5}, {{}, 8}, {{38, 22, 8, 8, 8}, 0}};
  for (SamplerKind kind : {SamplerKind::kPc, SamplerKind::kAncestral, SamplerKind::kHeun}) {
    SampleOptions plain;
    plain.kind = kind;
    plain.seed = 4;
    SampleOptions w0 = plain;
    w0.spacegroup = 225;
    w0.cfg_weight = 0.0;
    SampleOptions w2 = w0;
    w2.cfg_weight = 2.0;
    SampleReport r0, r2;
    const auto a = sample_crystals(model, tasks, TypeConstraints{}, plain);
    const auto b = sample_crystals(model, tasks, TypeConstraints{}, w0, &r0);
    const auto c = sample_crystals(model, tasks, TypeConstraints{}, w2, &r2);
    test_support::expect_weight_zero_is_unconditional(a, b, c, r0, r2);
  }
}

TEST(Conditioning, RefusedBeforeAnyWork) {
  DiffusionOptions d;
  d.steps = 10;
  DiffusionModel plain(CspNetOptions::preset("tiny"), d);
  SampleOptions o;
  o.spacegroup = 225;
  EXPECT_THROW(sample_csp(plain, {{11, 17}}, o), Error);  // not trained with conditioning
  DiffusionModel model = tiny_conditioned_model(false);
  o.spacegroup = 231;
  EXPECT_THROW(sample_csp(model, {{11, 17}}, o), Error);
  o.spacegroup = 225;
  o.cfg_weight = -1;
  EXPECT_THROW(sample_csp(model, {{11, 17}}, o), Error);
}

TEST(Conditioning, TrainingLabelsAreSpglibsGroupsAndTheFileKeepsTheCondition) {
  test_support::TinyTrainingSet set("sg", 16, 8);
  TrainOptions& o = set.options;
  o.net.condition_spacegroup = true;
  const TrainSummary s = train_model(o);
  EXPECT_TRUE(std::isfinite(s.train_loss));
  LoadedModel m = load_model_file(o.out);
  EXPECT_TRUE(m.for_sampling().conditioned());
  // The label histogram is spglib's (symprec 0.1) on the canonical cells.
  std::map<std::string, int> expected;
  for (const auto& r : set.rows.records) ++expected[std::to_string(analyze_symmetry(canonical_structure(r.structure), 0.1).number)];
  const auto& hist = m.state.metadata["dataset_stats"]["spacegroups"];
  ASSERT_EQ(hist.size(), expected.size());
  for (const auto& [sg, n] : expected) EXPECT_EQ(hist.value(sg, 0), n) << sg;
  SampleOptions so;
  so.spacegroup = 221;
  so.steps = 5;
  so.cfg_weight = 1.5;
  const auto out = sample_crystals(m.for_sampling(), {{{}, 5}}, TypeConstraints{}, so);
  EXPECT_EQ(out[0].size(), 5u);
}
