// The composition language model (model/composition_model.h) and its
// sampler (sample/composition_sampler.h): every constraint on every sample
// of an untrained model, a chemical system inpainted exactly, guidance at
// weight 0 equal to unconditional sampling, an overfit on four formulas,
// and the command line (train, sample, bad requests refused before any work).
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>

#include "model/composition_model.h"
#include "model/model_file.h"
#include "sample/composition_run.h"
#include "sample/composition_sampler.h"
#include "tiny_training.h"
#include "util/error.h"

using namespace xtaldiff;
namespace fs = std::filesystem;

namespace {

CompositionOptions tiny_options(std::vector<std::string> conditions = {}) {
  CompositionOptions o;
  o.max_elements = 4;
  o.max_count = 8;
  o.dim = 32;
  o.layers = 2;
  o.heads = 2;
  o.feedforward = 64;
  o.steps = 50;
  o.conditions = std::move(conditions);
  o.mean.assign(o.conditions.size(), 0.0);
  o.stddev.assign(o.conditions.size(), 1.0);
  return o;
}

std::set<int> elements_of(const Composition& c) {
  std::set<int> out;
  for (const auto& [z, n] : c.amounts()) out.insert(z);
  return out;
}

Structure cell_of(const std::vector<int>& species) {
  Structure s;
  s.lattice = Lattice::from_parameters(5, 5, 5, 90, 90, 90);
  s.species = species;
  for (std::size_t i = 0; i < species.size(); ++i) s.frac.push_back({0.1 * i, 0.05 * i, 0.02 * i});
  return s;
}

int run(const std::string& command) { return WEXITSTATUS(std::system((command + " > /dev/null 2>&1").c_str())); }

}  // namespace

TEST(CompositionModel, EveryConstraintOnEverySampleOfAnUntrainedModel) {
  torch::manual_seed(3);
  CompositionModel model(tiny_options());
  CompositionSampleOptions o;
  o.n = 150;
  o.steps = 20;
  o.seed = 11;
  CompositionConstraints c;
  c.allowed = {3, 8, 15, 16, 17};  // Li O P S Cl
  c.required = {3};
  c.max_elements = 3;
  c.max_atoms = 12;
  c.min_atoms = 3;
  const auto r = sample_compositions(model, c, o);
  ASSERT_EQ(r.compositions.size(), 150u);
  EXPECT_EQ(r.draws, 150 + r.malformed + r.rejected);
  EXPECT_EQ(r.network_evaluations, 20);
  for (const auto& comp : r.compositions) {
    const auto els = elements_of(comp);
    EXPECT_TRUE(els.count(3)) << comp.formula();
    EXPECT_LE(els.size(), 3u) << comp.formula();
    for (int z : els) EXPECT_TRUE(std::count(c.allowed.begin(), c.allowed.end(), z)) << comp.formula();
    EXPECT_GE(comp.num_atoms(), 3) << comp.formula();
    EXPECT_LE(comp.num_atoms(), 12) << comp.formula();
  }
  // The same seed gives the same formulas.
  const auto again = sample_compositions(model, c, o);
  ASSERT_EQ(again.compositions.size(), r.compositions.size());
  for (std::size_t i = 0; i < r.compositions.size(); ++i) EXPECT_EQ(again.compositions[i], r.compositions[i]);
}

TEST(CompositionModel, ChemicalSystemIsInpaintedExactly) {
  torch::manual_seed(4);
  CompositionModel model(tiny_options());
  CompositionSampleOptions o;
  o.n = 60;
  o.steps = 10;
  CompositionConstraints c;
  c.system = {16, 3, 15};  // S Li P, any order
  const auto r = sample_compositions(model, c, o);
  ASSERT_EQ(r.compositions.size(), 60u);
  EXPECT_EQ(r.malformed, 0);  // every element slot is fixed, every count slot holds a count
  for (const auto& comp : r.compositions) EXPECT_EQ(elements_of(comp), (std::set<int>{3, 15, 16})) << comp.formula();
}

TEST(CompositionModel, ImpossibleRequestsAreRefusedBeforeSampling) {
  const FormulaVocabulary v(4, 8);
  CompositionConstraints c;
  c.system = {3, 8, 15, 16, 17};  // 5 elements, the vocabulary writes 4
  EXPECT_THROW(c.check(v), Error);
  c = {};
  c.allowed = {3, 8};
  c.required = {15};  // P is not allowed
  EXPECT_THROW(c.check(v), Error);
  c = {};
  c.min_atoms = 40;  // 4 elements × 8 at most
  EXPECT_THROW(c.check(v), Error);
  c = {};
  c.system = {3, 8};
  c.required = {16};
  EXPECT_THROW(c.check(v), Error);
}

TEST(CompositionModel, GuidanceWeightZeroIsUnconditional) {
  torch::manual_seed(5);
  CompositionModel model(tiny_options({"num_elements"}));
  CompositionSampleOptions plain;
  plain.n = 40;
  plain.steps = 10;
  plain.seed = 2;
  const auto a = sample_compositions(model, {}, plain);
  CompositionSampleOptions w0 = plain;
  w0.conditions = {{0, 2.0}};
  w0.cfg_weight = 0.0;
  const auto b = sample_compositions(model, {}, w0);
  ASSERT_EQ(a.compositions.size(), b.compositions.size());
  for (std::size_t i = 0; i < a.compositions.size(); ++i) EXPECT_EQ(a.compositions[i], b.compositions[i]);
  CompositionSampleOptions w2 = w0;
  w2.cfg_weight = 2.0;
  EXPECT_EQ(sample_compositions(model, {}, w2).network_evaluations, 2 * a.network_evaluations);
}

// Four cell compositions learnt by heart: the loss falls and the samples
// are those formulas.
TEST(CompositionModel, OverfitsFourFormulas) {
  torch::manual_seed(7);
  CompositionOptions opts = tiny_options();
  opts.dim = 64;
  opts.feedforward = 128;
  opts.dropout = 0.0;
  CompositionModel model(opts);
  const std::vector<Structure> cells = {cell_of({38, 22, 8, 8, 8}), cell_of({3, 3, 8}), cell_of({11, 17}),
                                        cell_of({3, 3, 3, 15, 16, 16, 16, 16})};
  std::vector<const Structure*> ptrs;
  for (int copy = 0; copy < 8; ++copy)
    for (const auto& s : cells) ptrs.push_back(&s);
  const CrystalBatch batch = make_batch(ptrs);
  torch::optim::Adam adam(model.parameters(), torch::optim::AdamOptions(3e-3));
  auto gen = at::detail::createCPUGenerator(1);
  double first = 0, last = 0;
  for (int step = 0; step < 400; ++step) {
    BatchNoise noise(gen, batch);
    const auto loss = model.loss(batch, noise).total;
    adam.zero_grad();
    loss.backward();
    adam.step();
    (step == 0 ? first : last) = loss.item<double>();
  }
  EXPECT_LT(last, 0.2 * first);
  CompositionSampleOptions o;
  o.n = 100;
  o.steps = 50;
  const auto r = sample_compositions(model, {}, o);
  std::set<std::string> known;
  for (const auto& s : cells) known.insert(s.composition().formula());
  int hits = 0;
  for (const auto& c : r.compositions) hits += known.count(c.formula());
  EXPECT_GE(hits, 90) << "of 100 samples";
}

TEST(CompositionModel, TrainAndSampleFromTheCommandLine) {
  test_support::TinyTrainingSet set("composition_cli", 40, 16);
  const std::string x = XTALDIFF_BINARY;
  const std::string model = (set.dir / "comp.xtd").string();
  ASSERT_EQ(run(x + " train --task composition --config tiny --data " + set.options.data + " --out " + model +
                " --epochs 2 --threads 1 --condition num_elements -q"),
            0);
  const LoadedArchive a = read_model_file(model);
  EXPECT_EQ(a.task, "composition");
  EXPECT_EQ(a.arch, "composition-d3pm");
  EXPECT_EQ(a.state.metadata["training_formulas"].size(), [&] {
    std::set<std::string> f;
    for (const auto& r : set.rows.records) f.insert(r.structure.composition().reduced_formula());
    return f.size();
  }());
  const std::string out = (set.dir / "formulas").string();
  ASSERT_EQ(run(x + " sample --model " + model + " -n 25 --target num_elements=3 --guidance 2 --seed 4 --threads 1 --out " + out), 0);
  std::ifstream csv(out + "/compositions.csv");
  std::string header, line;
  std::getline(csv, header);
  EXPECT_EQ(header, "formula,reduced_formula,num_atoms,num_elements,smact_valid,novel,num_elements");
  int rows = 0;
  while (std::getline(csv, line)) rows += !line.empty();
  EXPECT_EQ(rows, 25);
  EXPECT_TRUE(fs::exists(out + "/manifest.json"));

  // Refused before any work: nothing is written.
  const std::string bad = (set.dir / "refused").string();
  for (const std::string& args : {std::string(" --elements Li,Xx"), std::string(" --formula SrTiO3"),
                                  std::string(" --target band_gap=1"), std::string(" --system Li-Na-K-Rb-Cs-Fr-O"),
                                  std::string(" --target 'num_elements<2'")}) {
    EXPECT_EQ(run(x + " sample --model " + model + " -n 5 --threads 1 --out " + bad + args), 2) << args;
    EXPECT_FALSE(fs::exists(bad)) << args;
  }
}
