// Backend consistency harness, in the spirit of llama.cpp's test-backend-ops:
// every network and sampler op runs on each backend (device × precision)
// and is compared with the CPU float32 result.
//
//   backend_ops test   every op × {cpu, cuda when present} × {fp32, bf16}
//                      against CPU fp32; exit 1 when an error exceeds the
//                      op's stated tolerance (ctest: BackendOps)
//   backend_ops perf [--seconds S] [--sizes small,base] [--threads N]
//                    [--device cpu|cuda]
//                      denoiser speed: training crystals/s (forward +
//                      backward + Adam step), sampling crystal-evaluations/s
//                      in fp32 (dense and edge-list layouts) and bf16, and
//                      peak memory (docs/RESULTS.md quotes it)
//
// Error of an output = max |backend − reference| / max |reference| (0/0 = 0);
// the sampler's state stays float32 in bf16 runs (sample/sampler.cpp), so
// only the network runs in bf16 (its inputs: coordinates and lattice in
// float32, as the sampler gives them) and the step ops are compared in fp32.
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "diffusion/lattice_ddpm.h"
#include "diffusion/torus_flow.h"
#include "diffusion/torus_ve.h"
#include "diffusion/type_d3pm.h"
#include "diffusion/wrapped_normal.h"
#include "ml/runtime.h"
#include "model/diffusion_model.h"
#include "model/model_file.h"

using namespace xtaldiff;

namespace {

struct Backend {
  torch::Device device;
  torch::ScalarType dtype;
  std::string name() const {
    return std::string(device.is_cuda() ? "cuda" : "cpu") + "/" + (dtype == torch::kBFloat16 ? "bf16" : "fp32");
  }
};

// Random crystals of the given atom counts (the seeded generator makes
// every backend see the same inputs).
CrystalBatch random_batch(const std::vector<int>& atom_counts, uint64_t seed) {
  std::vector<Structure> s(atom_counts.size());
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(0, 1);
  for (std::size_t c = 0; c < s.size(); ++c) {
    s[c].lattice = Lattice::from_parameters(4 + u(rng), 4 + u(rng), 4 + u(rng), 80 + 20 * u(rng), 80 + 20 * u(rng),
                                            80 + 20 * u(rng));
    for (int i = 0; i < atom_counts[c]; ++i) {
      s[c].species.push_back(1 + static_cast<int>(u(rng) * 80));
      s[c].frac.push_back({u(rng), u(rng), u(rng)});
    }
  }
  std::vector<const Structure*> p;
  for (auto& c : s) p.push_back(&c);
  return make_batch(p);
}

double relative_error(const torch::Tensor& got, const torch::Tensor& ref) {
  const auto a = got.to(torch::kCPU, torch::kFloat64), b = ref.to(torch::kCPU, torch::kFloat64);
  const double scale = b.abs().max().item<double>();
  const double diff = (a - b).abs().max().item<double>();
  if (!std::isfinite(diff)) return INFINITY;
  return scale > 0 ? diff / scale : diff;
}

// One op: builds its inputs on a backend and returns its outputs. The
// tolerances are per precision: fp32 on another device (reduction order,
// fused kernels), and bf16 (8 bits of mantissa through 4-6 layers).
struct Op {
  std::string name;
  bool network;  // runs in bf16 too (the sampler's only bf16 part)
  double tol_fp32, tol_bf16;
  std::function<std::vector<torch::Tensor>(const Backend&)> run;
};

struct NetworkCase {
  DiffusionModel model;
  CrystalBatch batch;
  torch::Tensor atoms;  // Z (CSP) or type vectors (generation)
};

NetworkCase make_network_case(const std::string& type_diffusion, bool generative, const std::vector<int>& counts) {
  CspNetOptions net = CspNetOptions::preset("small");
  net.diffuse_types = generative;
  net.type_diffusion = type_diffusion;
  torch::manual_seed(7);
  DiffusionModel model(net, DiffusionOptions{});
  CrystalBatch batch = random_batch(counts, 11);
  torch::Tensor atoms = batch.atom_types;
  if (generative) {
    const int64_t width = net.d3pm() ? net.vocab + 1 : net.vocab;
    atoms = torch::randn({batch.total_atoms(), width}, torch::TensorOptions().dtype(torch::kFloat32));
  }
  return {std::move(model), std::move(batch), atoms};
}

// A shipped model's trained weights on 5-atom crystals: trained weights,
// not only random ones, must survive bf16.
NetworkCase make_shipped_case(const std::string& path) {
  LoadedModel loaded = load_model_file(path);
  CrystalBatch batch = random_batch(std::vector<int>(16, 5), 13);
  torch::Tensor atoms = batch.atom_types;
  return {loaded.for_sampling().deep_copy(), std::move(batch), atoms};
}

Op network_op(const std::string& name, std::shared_ptr<NetworkCase> cache) {
  return {name, true, 1e-4, 6e-2, [cache](const Backend& be) {
            c10::InferenceMode guard;
            DiffusionModel model = cache->model.deep_copy();
            model.net()->to(be.device, be.dtype);
            const CrystalBatch b = cache->batch.to(be.device);
            const auto cast = [&](const torch::Tensor& v) { return v.is_floating_point() ? v.to(be.dtype) : v; };
            const EdgeIndex edges = EdgeIndex::fully_connected(b.counts, be.device);
            const auto t = torch::full({b.num_crystals()}, 500.0f, torch::TensorOptions().device(be.device));
            const DenoiserOutput out =
                model.denoise(t, cast(cache->atoms.to(be.device)), b, b.frac, b.lattice, edges);
            std::vector<torch::Tensor> outs{out.lattice, out.coords};
            if (out.types.defined()) outs.push_back(out.types);
            return outs;
          }};
}

// Step ops: fixed float32 inputs from a seeded CPU generator, moved to the
// backend's device.
torch::Tensor seeded(std::vector<int64_t> shape, uint64_t seed, bool uniform = false) {
  auto gen = at::detail::createCPUGenerator(seed);
  return uniform ? torch::rand(shape, gen) : torch::randn(shape, gen);
}

Op network_op(const std::string& name, const std::string& type_diffusion, bool generative,
              const std::vector<int>& counts) {
  return network_op(name, std::make_shared<NetworkCase>(make_network_case(type_diffusion, generative, counts)));
}

std::vector<Op> all_ops() {
  std::vector<Op> ops;
  ops.push_back(network_op("denoise csp, 16 × 5 atoms (dense edges)", "ddpm", false, std::vector<int>(16, 5)));
  ops.push_back(network_op("denoise csp, 3-12 atoms (edge list)", "ddpm", false, {3, 5, 7, 12, 4, 9, 6, 8}));
  ops.push_back(network_op("denoise gen one-hot ddpm types", "ddpm", true, {4, 6, 8, 10}));
  ops.push_back(network_op("denoise gen d3pm types", "d3pm", true, {4, 6, 8, 10}));
  ops.push_back(network_op("denoise models/perov5-csp-flow.xtd", std::make_shared<NetworkCase>(make_shipped_case(
                                                                       XTALDIFF_MODELS_DIR "/perov5-csp-flow.xtd"))));

  const int T = 1000;
  ops.push_back({"flow Euler step (anti-annealed)", false, 1e-6, 0, [](const Backend& be) {
                   TorusFlow flow(T);
                   auto x = seeded({64, 3}, 1, true).to(be.device), pred = seeded({64, 3}, 2).to(be.device);
                   return std::vector<torch::Tensor>{flow.step(x, pred, 600, 550, 10.0)};
                 }});
  ops.push_back({"VE predictor + corrector steps", false, 1e-6, 0, [](const Backend& be) {
                   TorusVe ve(T, 0.005, 0.5);
                   auto x = seeded({64, 3}, 3, true).to(be.device), pred = seeded({64, 3}, 4).to(be.device);
                   auto z = seeded({64, 3}, 5).to(be.device);
                   return std::vector<torch::Tensor>{ve.step_predictor(x, pred, 600, 599, z),
                                                     ve.step_corrector(x, pred, 600, 1e-5, z), ve.step_ode(x, pred, 600, 580)};
                 }});
  ops.push_back({"lattice DDPM ancestral + clipped DDIM steps", false, 1e-5, 0, [](const Backend& be) {
                   LatticeDdpm ddpm(T);
                   auto l = seeded({8, 3, 3}, 6).to(be.device), eps = seeded({8, 3, 3}, 7).to(be.device);
                   auto z = seeded({8, 3, 3}, 8).to(be.device);
                   return std::vector<torch::Tensor>{ddpm.step_ancestral(l, eps, 600, 599, z),
                                                     ddpm.step_ddim(l, eps, 990, 900, 30.0)};
                 }});
  ops.push_back({"wrapped-normal score", false, 1e-5, 0, [](const Backend& be) {
                   auto x = (seeded({256}, 9, true) - 0.5).to(be.device);
                   auto sigma = (seeded({256}, 10, true) * 0.5 + 0.005).to(be.device);
                   return std::vector<torch::Tensor>{wrapped_normal_neg_score(x, sigma)};
                 }});
  ops.push_back({"D3PM unmasking step", false, 0, 0, [](const Backend& be) {
                   TypeD3pm d3pm(T, kMaxAtomicNumber);
                   auto gen = at::detail::createCPUGenerator(12);
                   auto xt = torch::randint(0, kMaxAtomicNumber + 1, {256}, gen, torch::kInt64).to(be.device);
                   auto draw = torch::randint(0, kMaxAtomicNumber, {256}, gen, torch::kInt64).to(be.device);
                   auto u = seeded({256}, 13, true).to(be.device);
                   return std::vector<torch::Tensor>{d3pm.step(xt, draw, 600, 550, u).to(torch::kFloat64)};
                 }});
  return ops;
}

std::vector<Backend> backends() {
  std::vector<Backend> b{{torch::kCPU, torch::kFloat32}, {torch::kCPU, torch::kBFloat16}};
  if (torch::cuda::is_available()) {
    b.push_back({torch::Device(torch::kCUDA, 0), torch::kFloat32});
    b.push_back({torch::Device(torch::kCUDA, 0), torch::kBFloat16});
  }
  return b;
}

int run_tests() {
  const auto bes = backends();
  int failures = 0, checks = 0;
  std::printf("%-46s %-10s %12s %10s  %s\n", "op", "backend", "error", "tolerance", "");
  for (const Op& op : all_ops()) {
    const std::vector<torch::Tensor> ref = op.run(bes[0]);
    for (std::size_t k = 1; k < bes.size(); ++k) {
      const Backend& be = bes[k];
      const bool bf16 = be.dtype == torch::kBFloat16;
      if (bf16 && !op.network) continue;  // the sampler's state stays fp32
      const double tol = bf16 ? op.tol_bf16 : op.tol_fp32;
      const std::vector<torch::Tensor> got = op.run(be);
      double err = 0;
      bool shapes_equal = got.size() == ref.size();
      for (std::size_t i = 0; shapes_equal && i < got.size(); ++i) {
        shapes_equal = got[i].sizes() == ref[i].sizes();
        if (shapes_equal) {
          const double e = relative_error(got[i], ref[i]);
          if (std::getenv("BACKEND_OPS_VERBOSE")) std::printf("  output %zu: %.3e\n", i, e);
          err = std::max(err, e);
        }
      }
      const bool ok = shapes_equal && err <= tol;
      failures += !ok;
      ++checks;
      std::printf("%-46s %-10s %12.3e %10.1e  %s\n", op.name.c_str(), be.name().c_str(), err, tol,
                  ok ? "ok" : (shapes_equal ? "FAIL" : "FAIL (shapes differ)"));
    }
  }
  if (bes.size() == 2) std::printf("(no CUDA device: cpu/bf16 only; the step ops have no second backend here)\n");
  std::printf("%d checks, %d failed\n", checks, failures);
  return failures ? 1 : 0;
}

double time_for(double seconds, const std::function<void()>& f) {
  using Clock = std::chrono::steady_clock;
  f();  // warm-up
  const auto start = Clock::now();
  int n = 0;
  do {
    f();
    ++n;
  } while (std::chrono::duration<double>(Clock::now() - start).count() < seconds);
  if (torch::cuda::is_available()) torch::cuda::synchronize();
  return std::chrono::duration<double>(Clock::now() - start).count() / n;
}

int run_perf(double seconds, const std::string& sizes, const torch::Device& device) {
  std::printf("%-6s %-22s %12s %16s %12s %14s %16s\n", "size", "workload", "train cr/s", "sample cr-NFE/s",
              "list train", "list sample", "bf16 cr-NFE/s");
  for (const std::string size : {"small", "base"}) {
    if (sizes.find(size) == std::string::npos) continue;
    DiffusionModel model(CspNetOptions::preset(size), DiffusionOptions{});
    model.to(device);
    torch::optim::Adam opt(model.net()->parameters(), torch::optim::AdamOptions(1e-3));
    for (auto [atoms, batch] : std::vector<std::pair<int, int>>{{5, 256}, {20, 64}}) {
      const CrystalBatch b = random_batch(std::vector<int>(batch, atoms), 1).to(device);
      auto gen = device.is_cuda() ? at::globalContext().defaultGenerator(device) : at::detail::createCPUGenerator(3);
      auto train_step = [&] {
        BatchNoise noise(gen, b);
        auto parts = model.loss(b, noise);
        opt.zero_grad();
        parts.total.backward();
        opt.step();
      };
      const double t_train = time_for(seconds, train_step);
      model.set_dense_edges(false);
      const double t_train_list = time_for(seconds, train_step);
      model.set_dense_edges(true);
      const EdgeIndex edges = EdgeIndex::fully_connected(b.counts, device);
      const EdgeIndex list_edges = EdgeIndex::fully_connected(b.counts, device, false);
      const auto times = torch::full({batch}, 500.0f, torch::TensorOptions().device(device));
      double t_sample = 0, t_sample_list = 0, t_bf16 = 0;
      {
        c10::InferenceMode guard;
        t_sample = time_for(seconds, [&] { model.denoise(times, b.atom_types, b, b.frac, b.lattice, edges); });
        t_sample_list = time_for(seconds, [&] { model.denoise(times, b.atom_types, b, b.frac, b.lattice, list_edges); });
        DiffusionModel half = model.deep_copy();
        half.net()->to(torch::kBFloat16);
        t_bf16 = time_for(seconds, [&] { half.denoise(times, b.atom_types, b, b.frac, b.lattice, edges); });
      }
      std::printf("%-6s %2d atoms, batch %-4d     %12.1f %16.1f %12.1f %14.1f %16.1f\n", size.c_str(), atoms, batch,
                  batch / t_train, batch / t_sample, batch / t_train_list, batch / t_sample_list, batch / t_bf16);
      std::fflush(stdout);
    }
  }
  struct rusage ru {};
  getrusage(RUSAGE_SELF, &ru);
  std::printf("peak memory %.0f MiB (host)\n", ru.ru_maxrss / 1024.0);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  if (mode != "test" && mode != "perf") {
    std::fprintf(stderr,
                 "usage: %s test | perf [--seconds S] [--sizes small,base] [--threads N] [--device cpu|cuda]\n",
                 argv[0]);
    return 2;
  }
  int threads = 0;
  double seconds = 10;
  std::string sizes = "small,base", device = "cpu";
  for (int i = 2; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--threads")) threads = std::atoi(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--seconds")) seconds = std::atof(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--sizes")) sizes = argv[i + 1];
    else if (!std::strcmp(argv[i], "--device")) device = argv[i + 1];
  }
  try {
    std::printf("threads %d\n", configure_threads(threads));
    return mode == "test" ? run_tests() : run_perf(seconds, sizes, parse_device(device));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "backend_ops: %s\n", e.what());
    return 1;
  }
}
