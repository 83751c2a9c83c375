// Training-step and sampling-step cost of UniMat's U-Net against DiffCSP's
// GNN, per crystal, on 64 real crystals of each benchmark (the first rows
// of its test split), both at their "small" presets with the flow
// objective. UniMat's grid (L slots × 9 × 18) costs the same for any
// number of atoms, so its cost follows L: 3 (Perov-5), 20 (MP-20),
// 50 (MPTS-52); the GNN's follows the atoms (pairs of atoms).
// Run: build/bench/bench_unimat [--benchmark_filter=Perov]
// items_per_second = crystals per second.
#include <benchmark/benchmark.h>

#include <map>
#include <string>

#include "crystal/unimat_tensor.h"
#include "io/formats.h"
#include "ml/runtime.h"
#include "model/diffusion_model.h"

using namespace xtaldiff;

namespace {

struct Case {
  std::vector<Structure> crystals;
  int slots = 0;  // the dataset's L (train split)
};

const Case& data(const std::string& set, int slots) {
  static std::map<std::string, Case> cache;
  auto& c = cache[set];
  if (c.crystals.empty()) {
    const Dataset d = read_structures(std::string(XTALDIFF_DATA_DIR) + "/datasets/" + set + "/test.csv.gz");
    for (std::size_t i = 0; i < 64 && i < d.size(); ++i) c.crystals.push_back(canonical_structure(d.records[i].structure));
    c.slots = slots;
  }
  return c;
}

DiffusionModel make_model(bool unimat, int slots, const std::string& preset = "small") {
  DiffusionOptions d;
  d.coord_objective = "flow";
  std::optional<UniMatOptions> u;
  if (unimat) {
    u = UniMatOptions::preset(preset);
    u->slots = slots;
  }
  torch::manual_seed(0);
  return DiffusionModel(CspNetOptions::preset(preset), d, u);
}

CrystalBatch batch_of(const Case& c) {
  std::vector<const Structure*> ptrs;
  for (const auto& s : c.crystals) ptrs.push_back(&s);
  return make_batch(ptrs);
}

void train_step(benchmark::State& state, const std::string& set, int slots, bool unimat) {
  configure_threads(static_cast<int>(state.range(0)));
  const Case& c = data(set, slots);
  DiffusionModel model = make_model(unimat, c.slots);
  const CrystalBatch batch = batch_of(c);
  auto gen = at::detail::createCPUGenerator(1);
  for (auto _ : state) {
    BatchNoise noise(gen, batch);
    auto parts = model.loss(batch, noise);
    model.zero_grad();
    parts.total.backward();
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(c.crystals.size()));
  int64_t params = 0;
  for (const auto& p : model.parameters()) params += p.numel();
  state.counters["parameters"] = static_cast<double>(params);
}

// The "tiny" presets the tests train.
void train_step_tiny(benchmark::State& state, bool unimat) {
  configure_threads(1);
  const Case& c = data("perov_5", 3);
  DiffusionModel model = make_model(unimat, c.slots, "tiny");
  const CrystalBatch batch = batch_of(c);
  auto gen = at::detail::createCPUGenerator(1);
  for (auto _ : state) {
    BatchNoise noise(gen, batch);
    auto parts = model.loss(batch, noise);
    model.zero_grad();
    parts.total.backward();
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(c.crystals.size()));
}
BENCHMARK_CAPTURE(train_step_tiny, UniMat, true)->UseRealTime();
BENCHMARK_CAPTURE(train_step_tiny, DiffCSP, false)->UseRealTime();

void sample_step(benchmark::State& state, const std::string& set, int slots, bool unimat) {
  configure_threads(static_cast<int>(state.range(0)));
  const Case& c = data(set, slots);
  DiffusionModel model = make_model(unimat, c.slots);
  model.eval();
  const CrystalBatch batch = batch_of(c);
  const EdgeIndex edges = unimat ? EdgeIndex{} : EdgeIndex::fully_connected(batch.counts, torch::kCPU);
  torch::InferenceMode inference;
  const auto t = torch::full({batch.num_crystals()}, 500.0f);
  for (auto _ : state) benchmark::DoNotOptimize(model.denoise(t, batch.atom_types, batch, batch.frac, batch.lattice, edges));
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(c.crystals.size()));
}

}  // namespace

#define XTD_CASES(name, set, slots)                                                                 \
  BENCHMARK_CAPTURE(train_step, name##_UniMat, set, slots, true)->Arg(1)->Arg(2)->UseRealTime();    \
  BENCHMARK_CAPTURE(train_step, name##_DiffCSP, set, slots, false)->Arg(1)->Arg(2)->UseRealTime();  \
  BENCHMARK_CAPTURE(sample_step, name##_UniMat, set, slots, true)->Arg(1)->Arg(2)->UseRealTime();   \
  BENCHMARK_CAPTURE(sample_step, name##_DiffCSP, set, slots, false)->Arg(1)->Arg(2)->UseRealTime();

XTD_CASES(Perov5_L3, "perov_5", 3)
XTD_CASES(MP20_L20, "mp_20", 20)
XTD_CASES(MPTS52_L50, "mpts_52", 50)

BENCHMARK_MAIN();
