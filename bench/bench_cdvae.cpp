// Cost of CDVAE (configs/cdvae-small.json: the small GNN as score decoder,
// a lighter encoder, latent 128) against a DiffCSP generation model (the
// small GNN, one-hot DDPM types), per crystal, on 64 real crystals of each
// benchmark (the first rows of its test split):
//  - train_step: one loss + backward (CDVAE: encoder, heads and decoder);
//  - network_eval: one evaluation of the network a sampler calls (the
//    decoder at a middle noise level; the denoiser at t = 500);
//  - decode: a whole CDVAE reconstruction of the 64 crystals at the default
//    5 Langevin steps per level (250 decoder evaluations per crystal).
// Run: build/bench/bench_cdvae [--benchmark_filter=Perov]
// items_per_second = crystals per second.
#include <benchmark/benchmark.h>

#include <map>
#include <string>

#include "io/formats.h"
#include "ml/runtime.h"
#include "model/cdvae_model.h"
#include "model/diffusion_model.h"
#include "sample/cdvae_sampler.h"
#include "util/file_io.h"

using namespace xtaldiff;

namespace {

const std::vector<Structure>& crystals(const std::string& set) {
  static std::map<std::string, std::vector<Structure>> cache;
  auto& c = cache[set];
  if (c.empty()) {
    const Dataset d = read_structures(std::string(XTALDIFF_DATA_DIR) + "/datasets/" + set + "/test.csv.gz");
    for (std::size_t i = 0; i < 64 && i < d.size(); ++i) c.push_back(canonical_structure(d.records[i].structure));
  }
  return c;
}

CrystalBatch batch_of(const std::vector<Structure>& c) {
  std::vector<const Structure*> ptrs;
  for (const auto& s : c) ptrs.push_back(&s);
  return make_batch(ptrs);
}

// The shipped configuration's networks (configs/cdvae-small.json).
CdvaeModel make_cdvae(int max_atoms) {
  const auto j = nlohmann::json::parse(read_file(std::string(XTALDIFF_CONFIG_DIR) + "/cdvae-small.json"));
  nlohmann::json dec = CspNetOptions::preset("small").to_json(), enc;
  dec.update(j["network"]);
  enc = dec;
  enc.update(j["encoder"]);
  nlohmann::json co = CdvaeOptions{}.to_json();
  co.update(j["cdvae"]);
  CdvaeOptions o = CdvaeOptions::from_json(co);
  o.max_atoms = max_atoms;
  CspNetOptions decoder = CspNetOptions::from_json(dec);
  decoder.diffuse_types = true;
  decoder.latent_dim = o.latent_dim;
  torch::manual_seed(0);
  return CdvaeModel(CspNetOptions::from_json(enc), decoder, o);
}

DiffusionModel make_diffcsp_gen() {
  CspNetOptions net = CspNetOptions::preset("small");
  net.diffuse_types = true;
  torch::manual_seed(0);
  return DiffusionModel(net, DiffusionOptions{});
}

void params_counter(benchmark::State& state, const torch::nn::Module& m) {
  int64_t n = 0;
  for (const auto& p : m.parameters()) n += p.numel();
  state.counters["parameters"] = static_cast<double>(n);
}

void train_step(benchmark::State& state, const std::string& set, bool cdvae) {
  configure_threads(static_cast<int>(state.range(0)));
  const auto& c = crystals(set);
  const CrystalBatch batch = batch_of(c);
  CdvaeModel vae = make_cdvae(20);
  DiffusionModel diff = make_diffcsp_gen();
  Model& model = cdvae ? static_cast<Model&>(vae) : static_cast<Model&>(diff);
  auto gen = at::detail::createCPUGenerator(1);
  for (auto _ : state) {
    BatchNoise noise(gen, batch);
    auto parts = model.loss(batch, noise);
    model.zero_grad();
    parts.total.backward();
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(c.size()));
  params_counter(state, model);
}

void network_eval(benchmark::State& state, const std::string& set, bool cdvae) {
  configure_threads(static_cast<int>(state.range(0)));
  const auto& c = crystals(set);
  const CrystalBatch b = batch_of(c);
  const EdgeIndex edges = EdgeIndex::fully_connected(b.counts, torch::kCPU);
  torch::InferenceMode inference;
  if (cdvae) {
    CdvaeModel model = make_cdvae(20);
    model.eval();
    const auto z = torch::randn({b.num_crystals(), model.options().latent_dim});
    const auto level = torch::full({b.num_crystals()}, 25, torch::kInt64);
    for (auto _ : state)
      benchmark::DoNotOptimize(model.decode(z, level, b.atom_types, b.frac, b.lattice, edges, b.crystal_of_atom));
  } else {
    DiffusionModel model = make_diffcsp_gen();
    model.eval();
    const auto t = torch::full({b.num_crystals()}, 500.0f);
    const auto types = torch::one_hot(b.atom_types - 1, kMaxAtomicNumber).to(torch::kFloat32);
    for (auto _ : state) benchmark::DoNotOptimize(model.denoise(t, types, b, b.frac, b.lattice, edges));
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(c.size()));
}

void decode(benchmark::State& state, const std::string& set) {
  configure_threads(static_cast<int>(state.range(0)));
  const auto& c = crystals(set);
  CdvaeModel model = make_cdvae(20);
  CdvaeSampleOptions o;
  o.steps_per_level = 5;
  o.batch = 64;
  for (auto _ : state) benchmark::DoNotOptimize(cdvae_reconstruct(model, c, o));
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(c.size()));
  state.counters["network_evaluations"] = 5.0 * model.options().noise_levels;
}

}  // namespace

#define XTD_CASES(name, set)                                                                       \
  BENCHMARK_CAPTURE(train_step, name##_CDVAE, set, true)->Arg(1)->Arg(2)->UseRealTime();           \
  BENCHMARK_CAPTURE(train_step, name##_DiffCSPgen, set, false)->Arg(1)->Arg(2)->UseRealTime();     \
  BENCHMARK_CAPTURE(network_eval, name##_CDVAEdecoder, set, true)->Arg(1)->Arg(2)->UseRealTime();  \
  BENCHMARK_CAPTURE(network_eval, name##_DiffCSPgen, set, false)->Arg(1)->Arg(2)->UseRealTime();   \
  BENCHMARK_CAPTURE(decode, name##_CDVAE_250evals, set)->Arg(1)->Arg(2)->UseRealTime()->Iterations(1);

XTD_CASES(Perov5, "perov_5")
XTD_CASES(MP20, "mp_20")

BENCHMARK_MAIN();
