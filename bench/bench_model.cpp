// Denoiser speed: training crystals/s (forward + backward + Adam step) and
// sampling crystal-NFE/s (inference-mode forward), at the shipped ("small")
// and reference ("base", DiffCSP's 512/6/128) sizes, for 5-atom crystals
// (Perov-5, batch 256) and 20-atom crystals (batch 64). Prints one table.
// Usage: bench_model [--threads N] [--seconds S] [--sizes small,base]
#include <chrono>
#include <functional>
#include <random>
#include <cstdio>
#include <cstring>
#include <string>
#include <sys/resource.h>
#include <vector>

#include "ml/runtime.h"
#include "model/csp_model.h"

using namespace xtaldiff;
using Clock = std::chrono::steady_clock;

namespace {

CrystalBatch random_batch(int crystals, int atoms, uint64_t seed) {
  std::vector<Structure> s(crystals);
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(0, 1);
  for (auto& c : s) {
    c.lattice = Lattice::from_parameters(4 + u(rng), 4 + u(rng), 4 + u(rng), 80 + 20 * u(rng), 80 + 20 * u(rng), 80 + 20 * u(rng));
    for (int i = 0; i < atoms; ++i) {
      c.species.push_back(1 + static_cast<int>(u(rng) * 80));
      c.frac.push_back({u(rng), u(rng), u(rng)});
    }
  }
  std::vector<const Structure*> p;
  for (auto& c : s) p.push_back(&c);
  return make_batch(p);
}

double time_for(double seconds, const std::function<void()>& f, int* iters) {
  f();  // warm-up
  const auto start = Clock::now();
  int n = 0;
  do {
    f();
    ++n;
  } while (std::chrono::duration<double>(Clock::now() - start).count() < seconds);
  *iters = n;
  return std::chrono::duration<double>(Clock::now() - start).count() / n;
}

}  // namespace

int main(int argc, char** argv) {
  int threads = 0;
  double seconds = 10;
  std::string sizes = "small,base";
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--threads")) threads = std::stoi(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--seconds")) seconds = std::stod(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--sizes")) sizes = argv[i + 1];
  }
  const int nt = configure_threads(threads);
  std::printf("threads %d\n", nt);
  // "list" columns: the same work through the gathered edge list instead
  // of the dense layout equal atom counts get (see EdgeIndex).
  std::printf("%-6s %-22s %12s %16s %12s %14s %16s %12s\n", "size", "workload", "train cr/s", "sample cr-NFE/s",
              "list train", "list sample", "bf16 cr-NFE/s", "bf16 rel.err");
  for (const std::string size : {"small", "base"}) {
    if (sizes.find(size) == std::string::npos) continue;
    DiffusionOptions d;
    CspModel model(CspNetOptions::preset(size), d);
    torch::optim::Adam opt(model.net()->parameters(), torch::optim::AdamOptions(1e-3));
    for (auto [atoms, batch] : std::vector<std::pair<int, int>>{{5, 256}, {20, 64}}) {
      const CrystalBatch b = random_batch(batch, atoms, 1);
      auto gen = at::detail::createCPUGenerator(3);
      int n_train = 0, n_sample = 0;
      auto train_step = [&] {
        auto parts = model.loss(b, gen);
        opt.zero_grad();
        parts.total.backward();
        opt.step();
      };
      const double t_train = time_for(seconds, train_step, &n_train);
      model.set_dense_edges(false);
      const double t_train_list = time_for(seconds, train_step, &n_train);
      model.set_dense_edges(true);
      const EdgeIndex edges = EdgeIndex::fully_connected(b.counts, torch::kCPU);
      const EdgeIndex list_edges = EdgeIndex::fully_connected(b.counts, torch::kCPU, false);
      const auto times = torch::full({batch}, 500.0f);
      double t_sample = 0, t_sample_list = 0;
      {
        c10::InferenceMode guard;
        t_sample = time_for(seconds, [&] { model.denoise(times, b.atom_types, b, b.frac, b.lattice, edges); }, &n_sample);
        t_sample_list = time_for(seconds, [&] {
          model.denoise(times, b.atom_types, b, b.frac, b.lattice, list_edges);
        }, &n_sample);
      }
      // The same evaluation in bfloat16 (weights and activations), and how
      // far its outputs move from float32's (max |Δ| / max |float32|).
      double t_bf16 = 0, rel = 0;
      {
        c10::InferenceMode guard;
        CspModel half = model.clone();
        half.net()->to(torch::kBFloat16);
        auto frac = b.frac.to(torch::kBFloat16), lattice = b.lattice.to(torch::kBFloat16);
        t_bf16 = time_for(seconds, [&] { half.denoise(times, b.atom_types, b, frac, lattice, edges); }, &n_sample);
        auto ref = model.denoise(times, b.atom_types, b, b.frac, b.lattice, edges);
        auto low = half.denoise(times, b.atom_types, b, frac, lattice, edges);
        rel = ((low.coords.to(torch::kFloat32) - ref.coords).abs().max() / ref.coords.abs().max()).item<double>();
      }
      std::printf("%-6s %2d atoms, batch %-4d     %12.1f %16.1f %12.1f %14.1f %16.1f %12.2e\n", size.c_str(), atoms,
                  batch, batch / t_train, batch / t_sample, batch / t_train_list, batch / t_sample_list,
                  batch / t_bf16, rel);
      std::fflush(stdout);
    }
  }
  struct rusage ru {};
  getrusage(RUSAGE_SELF, &ru);
  std::printf("peak memory %.0f MiB\n", ru.ru_maxrss / 1024.0);
  return 0;
}
