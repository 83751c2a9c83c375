#include "sample/unimat_sampler.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>
#include <optional>

#include "crystal/linalg.h"
#include "crystal/unimat_tensor.h"
#include "ml/runtime.h"
#include "util/error.h"

namespace xtaldiff {
namespace {

// A cap on the number of elements: the elements with the most atoms stay
// (ties: the lighter element), the others' atoms are removed.
void cap_elements(Structure& s, int max_elements) {
  std::map<int, int> count;
  for (int z : s.species) ++count[z];
  if (max_elements <= 0 || static_cast<int>(count.size()) <= max_elements) return;
  std::vector<std::pair<int, int>> by_count(count.begin(), count.end());
  std::stable_sort(by_count.begin(), by_count.end(), [](auto a, auto b) { return a.second > b.second; });
  std::vector<int> keep;
  for (int i = 0; i < max_elements; ++i) keep.push_back(by_count[i].first);
  Structure kept;
  kept.lattice = s.lattice;
  for (std::size_t i = 0; i < s.size(); ++i)
    if (std::find(keep.begin(), keep.end(), s.species[i]) != keep.end())
      kept.species.push_back(s.species[i]), kept.frac.push_back(s.frac[i]);
  s = std::move(kept);
}

// Whether a decoded crystal can be returned: atoms, a finite cell of
// non-vanishing volume, every required element.
bool acceptable(const Structure& s, const TypeConstraints& c) {
  if (s.species.empty()) return false;
  const Mat3& m = s.lattice.matrix();
  for (const auto& row : m)
    for (double v : row)
      if (!std::isfinite(v)) return false;
  if (std::abs(det(m)) < 1e-3) return false;
  for (int z : c.required)
    if (std::find(s.species.begin(), s.species.end(), z) == s.species.end()) return false;
  return true;
}

// The crystals of a batch's final tensors [n, 3, L, rows, groups] and
// lattices [n, 3, 3].
std::vector<Structure> decode(const torch::Tensor& grid, const torch::Tensor& lattice, int slots) {
  const auto values = grid.to(torch::kCPU, torch::kFloat64).permute({0, 2, 3, 4, 1}).contiguous();
  const auto lat = lattice.to(torch::kCPU, torch::kFloat64).contiguous();
  const int64_t n = grid.size(0), per = values.numel() / n;
  const double* v = values.data_ptr<double>();
  auto la = lat.accessor<double, 3>();
  std::vector<Structure> out;
  for (int64_t i = 0; i < n; ++i) {
    UniMatTensor t;
    t.slots = slots;
    t.values.assign(v + i * per, v + (i + 1) * per);
    Mat3 m{};
    for (int r = 0; r < 3; ++r)
      for (int c = 0; c < 3; ++c) m[r][c] = la[i][r][c];
    t.lattice = Lattice(m);
    // Non-finite values decode as empty slots; the caller re-draws.
    for (double& x : t.values)
      if (!std::isfinite(x)) x = kUniMatNull;
    out.push_back(from_unimat_tensor(t));
  }
  return out;
}

}  // namespace

void check_unimat_tensor_request(const DiffusionModel& model, const std::vector<CrystalTask>& tasks,
                                 const SampleOptions& o) {
  const int T = model.diffusion_options().steps;
  const int steps = o.steps > 0 ? o.steps : T;
  if (steps > T) throw Error(fmt::format("--steps {} exceeds the model's {}", steps, T), ErrorKind::kUsage);
  for (std::size_t i = 0; i < tasks.size(); ++i) {
    if (!tasks[i].species.empty())
      throw Error(fmt::format("task {}: a UniMat generation model makes whole crystals; it does not fill in a given "
                              "composition (use a UniMat CSP model, `train --arch unimat --task csp`)",
                              i + 1),
                  ErrorKind::kUsage);
    if (!tasks[i].properties.empty())
      throw Error("a UniMat model takes no property condition", ErrorKind::kUsage);
  }
  if (o.kind != SamplerKind::kOde && o.kind != SamplerKind::kAncestral)
    throw Error(fmt::format("--sampler {}: a UniMat generation model samples with ode (DDIM) or ancestral (DDPM)",
                            sampler_name(o.kind)),
                ErrorKind::kUsage);
  if (o.spacegroup != 0) throw Error("a UniMat model takes no space-group condition", ErrorKind::kUsage);
  if (o.guidance) throw Error("property guidance (--guide) needs a DiffCSP generation model", ErrorKind::kUsage);
  if (o.anneal != 0 || o.polish != 0)
    throw Error("--anneal and --polish act on flow-matching coordinates; a UniMat generation model has none",
                ErrorKind::kUsage);
  if (o.precision != "fp32" && o.precision != "bf16")
    throw Error("--precision " + o.precision + ": fp32 or bf16", ErrorKind::kUsage);
  if (o.dist) throw Error("data-parallel sampling is not built for UniMat generation models", ErrorKind::kUsage);
}

std::vector<Structure> sample_unimat_tensors(DiffusionModel& model, const std::vector<CrystalTask>& tasks,
                                             const TypeConstraints& constraints, const SampleOptions& o,
                                             SampleReport* report, const SampleProgress& progress) {
  if (!model.unimat_options() || !model.generative())
    throw Error("internal: sample_unimat_tensors needs a UniMat generation model", ErrorKind::kInternal);
  const auto start = std::chrono::steady_clock::now();
  check_sample_request(model, tasks, constraints, o);
  const int vocab = model.net_options().vocab;
  const torch::Device dev = parse_device(o.device);
  model.to(dev);
  model.eval();
  std::optional<DiffusionModel> half;
  if (o.precision == "bf16") {
    half.emplace(model.deep_copy());
    half->to(torch::kBFloat16);
    half->eval();
  }
  UniMatNet& net = half ? half->unimat() : model.unimat();
  const int T = model.diffusion_options().steps;
  const std::vector<int> grid = time_grid(T, o.steps > 0 ? o.steps : T);
  const LatticeDdpm& ddpm = model.lattice_process();
  const auto& abar = ddpm.schedule().alpha_bar;
  const int L = model.unimat_options()->slots;
  const auto cells = unimat_element_cells(vocab, [&](int z) { return constraints.allows(z); })
                         .to(dev)
                         .view({1, 1, 1, kTableRows, kTableGroups});
  const bool ode = o.kind == SamplerKind::kOde;

  torch::NoGradGuard no_grad;
  c10::InferenceMode inference;
  SampleReport rep;
  rep.crystals = tasks.size();
  rep.retry_reason = "no atom, a non-finite or flat cell, or a required element missing";
  rep.network_evaluations = static_cast<long>(grid.size()) - 1;
  // Batches of whole tensors: about as many voxels as batch_atoms atoms
  // take memory in the GNN (each voxel is a few channels, not a graph).
  const std::size_t per_batch =
      std::max<std::size_t>(1, static_cast<std::size_t>(o.batch_atoms) * 4 / (L * kTableRows * kTableGroups));
  std::vector<Structure> out(tasks.size());
  std::size_t done = 0;
  const auto fp32 = torch::TensorOptions(torch::kFloat32);
  for (std::size_t first = 0, k = 0; first < tasks.size(); first += per_batch, ++k) {
    std::vector<std::size_t> pending;
    for (std::size_t i = first; i < std::min(tasks.size(), first + per_batch); ++i) pending.push_back(i);
    for (int attempt = 0; attempt <= o.max_retries && !pending.empty(); ++attempt) {
      auto gen = at::detail::createCPUGenerator(batch_seed(o.seed, k, attempt));
      const int64_t n = static_cast<int64_t>(pending.size());
      auto x = torch::randn({n, 3, L, kTableRows, kTableGroups}, gen, fp32).to(dev);
      auto lat = torch::randn({n, 3, 3}, gen, fp32).to(dev);
      for (std::size_t i = 0; i + 1 < grid.size(); ++i) {
        const int t = grid[i], s = grid[i + 1];
        const auto times = torch::full({n}, static_cast<float>(t), fp32.device(dev));
        const auto pred = net->forward_dense(times, x, lat);
        const auto eps_l = pred.lattice.to(torch::kFloat32);
        const double a_t = abar[t], a_s = abar[s];
        auto x0 = pred.coords.to(torch::kFloat32).clamp(-1.0, 1.0);
        x0 = torch::where(cells, x0, torch::full_like(x0, kUniMatNull));
        const auto eps_hat = (x - std::sqrt(a_t) * x0) / std::sqrt(1 - a_t);
        if (ode || s == 0) {
          x = std::sqrt(a_s) * x0 + std::sqrt(1 - a_s) * eps_hat;
          lat = ddpm.step_ddim(lat, eps_l, t, s, o.lattice_clip);
        } else {
          // DDPM's posterior q(x_s | x_t, x̂_0) for a (possibly strided) step.
          const double a_ts = a_t / a_s, b_ts = 1 - a_ts;
          const auto z = torch::randn(x.sizes(), gen, fp32).to(dev);
          x = (std::sqrt(a_s) * b_ts / (1 - a_t)) * x0 + (std::sqrt(a_ts) * (1 - a_s) / (1 - a_t)) * x +
              std::sqrt((1 - a_s) / (1 - a_t) * b_ts) * z;
          const auto zl = torch::randn({n, 3, 3}, gen, fp32).to(dev);
          lat = ddpm.step_ancestral(lat, eps_l, t, s, zl, o.lattice_clip);
        }
        if (progress) progress(done + double(i + 1) / (grid.size() - 1) * n, tasks.size());
      }
      auto structures = decode(x, lat, L);
      std::vector<std::size_t> again;
      for (std::size_t j = 0; j < pending.size(); ++j) {
        cap_elements(structures[j], constraints.max_elements);
        if (!acceptable(structures[j], constraints)) {
          again.push_back(pending[j]);
          continue;
        }
        out[pending[j]] = std::move(structures[j]);
        ++done;
      }
      if (progress) progress(done, tasks.size());
      if (attempt < o.max_retries) rep.retried += again.size();
      else rep.failed += again.size();
      pending = std::move(again);
    }
  }
  rep.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (report) *report = rep;
  return out;
}

}  // namespace xtaldiff
