#include "sample/sampler.h"

#include <chrono>
#include <cmath>

#include "ml/runtime.h"
#include "util/error.h"

namespace xtaldiff {

SamplerKind parse_sampler(const std::string& name) {
  if (name == "pc") return SamplerKind::kPc;
  if (name == "ancestral") return SamplerKind::kAncestral;
  if (name == "ode") return SamplerKind::kOde;
  if (name == "heun") return SamplerKind::kHeun;
  throw Error("unknown sampler '" + name + "' (pc, ancestral, ode or heun)", ErrorKind::kUsage);
}

const char* sampler_name(SamplerKind k) {
  switch (k) {
    case SamplerKind::kPc: return "pc";
    case SamplerKind::kAncestral: return "ancestral";
    case SamplerKind::kOde: return "ode";
    case SamplerKind::kHeun: return "heun";
  }
  return "?";
}

long evaluations_per_crystal(SamplerKind kind, int steps) {
  switch (kind) {
    case SamplerKind::kPc: return 2L * steps;
    case SamplerKind::kHeun: return 2L * steps - 1;
    default: return steps;
  }
}

namespace {

// Descending time grid T = t_0 > t_1 > ... > t_n = 0 with n = steps.
std::vector<int> time_grid(int T, int steps) {
  std::vector<int> g;
  for (int i = steps; i >= 0; --i) {
    const int t = static_cast<int>(std::lround(double(T) * i / steps));
    if (g.empty() || t < g.back()) g.push_back(t);
  }
  return g;
}

struct BatchResult {
  torch::Tensor frac, lattice;
};

BatchResult run_batch(CspModel& model, const CrystalBatch& b, const std::vector<int>& grid, SamplerKind kind,
                      double step_lr, torch::Generator& gen, const torch::Device& dev) {
  const int64_t nb = b.num_crystals(), na = b.total_atoms();
  auto randn = [&](std::vector<int64_t> shape) {
    return torch::randn(shape, gen, torch::TensorOptions(torch::kFloat32)).to(dev);
  };
  auto x = torch::rand({na, 3}, gen, torch::TensorOptions(torch::kFloat32)).to(dev);
  auto l = randn({nb, 3, 3});
  const EdgeIndex edges = EdgeIndex::fully_connected(b.counts, dev);
  const auto& lat = model.lattice_process();
  const auto& crd = model.coord_process();
  for (std::size_t k = 0; k + 1 < grid.size(); ++k) {
    const int t = grid[k], s = grid[k + 1];
    auto times = torch::full({nb}, static_cast<float>(t), torch::TensorOptions(torch::kFloat32).device(dev));
    if (kind == SamplerKind::kPc) {
      auto z = t > 1 ? randn({na, 3}) : torch::zeros({na, 3}, x.options());
      auto pred = model.denoise(times, b, x, l, edges);
      x = crd.step_corrector(x, pred.coords, t, step_lr, z);
    }
    auto pred = model.denoise(times, b, x, l, edges);
    if (kind == SamplerKind::kHeun) {
      auto slope_x = crd.ode_slope(pred.coords, t);
      auto x_euler = crd.step_with_slope(x, slope_x, t, s);
      auto l_euler = lat.step_ddim(l, pred.lattice, t, s);
      if (s == 0) {  // the last step stays first-order (σ_0 = 0 is outside the network's range)
        x = x_euler;
        l = l_euler;
        continue;
      }
      auto times_s = torch::full({nb}, static_cast<float>(s), times.options());
      auto pred_s = model.denoise(times_s, b, x_euler, l_euler, edges);
      // Slopes are tangent vectors of the torus: they average as they are,
      // whatever image of the Euler point the network saw.
      x = crd.step_with_slope(x, 0.5 * (slope_x + crd.ode_slope(pred_s.coords, s)), t, s);
      l = lat.step_ddim(l, 0.5 * (pred.lattice + pred_s.lattice), t, s);
    } else if (kind == SamplerKind::kOde) {
      x = crd.step_ode(x, pred.coords, t, s);
      l = lat.step_ddim(l, pred.lattice, t, s);
    } else {
      auto zx = s > 0 ? randn({na, 3}) : torch::zeros({na, 3}, x.options());
      auto zl = s > 0 ? randn({nb, 3, 3}) : torch::zeros({nb, 3, 3}, l.options());
      x = crd.step_predictor(x, pred.coords, t, s, zx);
      l = lat.step_ancestral(l, pred.lattice, t, s, zl);
    }
  }
  return {x, l};
}

// Crystals with a non-finite coordinate or lattice entry, or a cell of
// (nearly) zero volume.
std::vector<bool> bad_crystals(const torch::Tensor& frac, const torch::Tensor& lattice, const CrystalBatch& b) {
  auto lat_ok = torch::isfinite(lattice).all(2).all(1);
  auto det = torch::linalg_det(lattice.to(torch::kFloat64)).abs();
  lat_ok = lat_ok.logical_and(det > 1e-3);
  auto atom_ok = torch::isfinite(frac).all(1).to(torch::kFloat32);
  auto per_crystal = torch::zeros({b.num_crystals()}, atom_ok.options())
                         .index_add_(0, b.crystal_of_atom, atom_ok);
  auto ok = lat_ok.logical_and(per_crystal == b.num_atoms.to(per_crystal.dtype())).cpu();
  std::vector<bool> bad(b.num_crystals());
  auto a = ok.accessor<bool, 1>();
  for (int64_t i = 0; i < b.num_crystals(); ++i) bad[i] = !a[i];
  return bad;
}

}  // namespace

std::vector<Structure> sample_csp(CspModel& model, const std::vector<std::vector<int>>& tasks,
                                  const SampleOptions& o, SampleReport* report,
                                  const std::function<void(std::size_t, std::size_t)>& progress) {
  const auto start = std::chrono::steady_clock::now();
  const torch::Device dev = parse_device(o.device);
  model.to(dev);
  model.net()->eval();
  const int T = model.diffusion_options().steps;
  const int steps = o.steps > 0 ? o.steps : T;
  if (steps > T) throw Error("--steps " + std::to_string(steps) + " exceeds the model's " + std::to_string(T), ErrorKind::kUsage);
  const double step_lr = o.step_lr >= 0 ? o.step_lr : model.diffusion_options().step_lr;
  const std::vector<int> grid = time_grid(T, steps);
  for (std::size_t i = 0; i < tasks.size(); ++i) {
    if (tasks[i].empty()) throw Error("task " + std::to_string(i + 1) + ": no atoms", ErrorKind::kUsage);
    for (int z : tasks[i])
      if (z < 1 || z > model.net_options().vocab)
        throw Error("task " + std::to_string(i + 1) + ": element Z=" + std::to_string(z) +
                        " is outside the model's vocabulary", ErrorKind::kUsage);
  }
  torch::NoGradGuard no_grad;
  c10::InferenceMode inference;
  auto gen = at::detail::createCPUGenerator(o.seed);
  std::vector<Structure> out(tasks.size());
  SampleReport rep;
  rep.crystals = tasks.size();
  rep.network_evaluations = evaluations_per_crystal(o.kind, static_cast<int>(grid.size() - 1));
  std::vector<std::size_t> pending(tasks.size());
  for (std::size_t i = 0; i < tasks.size(); ++i) pending[i] = i;
  std::size_t done = 0;
  for (int attempt = 0; attempt <= o.max_retries && !pending.empty(); ++attempt) {
    std::vector<std::size_t> again;
    for (std::size_t start_i = 0; start_i < pending.size();) {
      // Fill a batch up to batch_atoms atoms.
      std::vector<std::size_t> ids;
      std::vector<Structure> shells;
      int64_t atoms = 0;
      while (start_i < pending.size() &&
             (ids.empty() || atoms + static_cast<int64_t>(tasks[pending[start_i]].size()) <= o.batch_atoms)) {
        const auto id = pending[start_i++];
        ids.push_back(id);
        atoms += static_cast<int64_t>(tasks[id].size());
        Structure shell;
        shell.species = tasks[id];
        shell.frac.assign(tasks[id].size(), Vec3{0, 0, 0});
        shells.push_back(std::move(shell));
      }
      std::vector<const Structure*> ptrs;
      for (const auto& s : shells) ptrs.push_back(&s);
      const CrystalBatch b = make_batch(ptrs).to(dev);
      const BatchResult r = run_batch(model, b, grid, o.kind, step_lr, gen, dev);
      const auto bad = bad_crystals(r.frac, r.lattice, b);
      auto structures = batch_to_structures(b.atom_types, r.frac.nan_to_num(0.0), r.lattice.nan_to_num(0.0), b.counts);
      for (std::size_t k = 0; k < ids.size(); ++k) {
        if (bad[k]) {
          again.push_back(ids[k]);
          continue;
        }
        out[ids[k]] = std::move(structures[k]);
        ++done;
      }
      if (progress) progress(done, tasks.size());
    }
    if (attempt < o.max_retries) rep.retried += again.size();
    else rep.failed = again.size();
    pending = again;
  }
  rep.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (report) *report = rep;
  return out;
}

}  // namespace xtaldiff
