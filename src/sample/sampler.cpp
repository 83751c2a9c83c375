#include "sample/sampler.h"
#include "sample/unimat_sampler.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <limits>
#include <map>
#include <optional>
#include <cmath>

#include "chem/element.h"
#include "dist/distributed.h"
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

std::vector<int> time_grid(int T, int steps) {
  std::vector<int> g;
  for (int i = steps; i >= 0; --i) {
    const int t = static_cast<int>(std::lround(double(T) * i / steps));
    if (g.empty() || t < g.back()) g.push_back(t);
  }
  return g;
}

// The first batch's first attempt uses the seed itself (a run of one batch
// draws what it always drew); the others a SplitMix64 mix of it.
uint64_t batch_seed(uint64_t seed, std::size_t batch, int attempt) {
  if (batch == 0 && attempt == 0) return seed;
  uint64_t z = seed + 0x9E3779B97F4A7C15ULL * (1 + batch * 64 + static_cast<uint64_t>(attempt));
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

torch::Tensor lattice_clip_bounds(const SampleOptions& o, const torch::Tensor& num_atoms) {
  if (o.lattice_clip <= 0 && o.lattice_clip_per_atom <= 0) return {};
  const double inf = std::numeric_limits<double>::infinity();
  auto bound = torch::full({num_atoms.size(0)}, o.lattice_clip > 0 ? o.lattice_clip : inf,
                           torch::TensorOptions(torch::kFloat64).device(num_atoms.device()));
  if (o.lattice_clip_per_atom > 0)
    bound = torch::min(bound, o.lattice_clip_per_atom * num_atoms.to(torch::kFloat64).pow(1.0 / 3.0));
  return bound.to(torch::kFloat32);
}

namespace {

struct BatchResult {
  torch::Tensor frac, lattice, types;  // types: [N] atomic numbers
};

// The type side of a batch for a generation model: which atoms have known
// types (inpainted), the allowed-element mask, and the constraint handling
// of the predicted clean types.
struct TypeState {
  bool active = false;              // generation model
  bool any_known = false;           // some atom's type is given (inpainting)
  torch::Tensor known;              // [N, 1] bool: type given by the task
  torch::Tensor known_onehot;       // [N, V]
  torch::Tensor mask;               // [1, V] float: 1 = allowed
  const TypeConstraints* constraints = nullptr;
  std::vector<int64_t> counts;      // atoms per crystal
  std::vector<bool> denovo;         // per crystal

  // Network input at time t: known atoms noised to level t, the rest as they are.
  torch::Tensor input(const TypeDdpm& p, const torch::Tensor& a, int t, torch::Generator& gen) const {
    if (!any_known) return a;
    auto z = torch::randn(a.sizes(), gen, torch::TensorOptions(torch::kFloat32)).to(a.device());
    return torch::where(known, p.noise_at(known_onehot, t, z), a);
  }
  // Predicted clean types under the constraints: clipped to [0, 1] (where a
  // one-hot vector lies; unclipped strided steps can overshoot and blow up
  // the lattice), forbidden elements zeroed, and in the late steps
  // (`project`) each de novo crystal's rows replaced by a feasible one-hot
  // assignment.
  torch::Tensor clean(const TypeDdpm& p, const torch::Tensor& a_in, const torch::Tensor& eps, int t,
                      bool project) const {
    auto a0 = p.predict_clean(a_in, eps, t).clamp(0.0, 1.0) * mask;
    if (project) a0 = projected(a0);
    return torch::where(known, known_onehot, a0);
  }
  torch::Tensor projected(const torch::Tensor& a0) const {
    const int vocab = static_cast<int>(a0.size(1));
    auto host = a0.to(torch::kCPU).contiguous();
    auto out = torch::zeros_like(host);
    const float* s = host.data_ptr<float>();
    float* o = out.data_ptr<float>();
    int64_t offset = 0;
    for (std::size_t c = 0; c < counts.size(); ++c) {
      const int n = static_cast<int>(counts[c]);
      if (denovo[c]) {
        const auto zs = feasible_assignment(s + offset * vocab, n, vocab, *constraints);
        for (int i = 0; i < n; ++i) o[(offset + i) * vocab + zs[i] - 1] = 1.0f;
      }
      offset += n;
    }
    return out.to(a0.device());
  }
  // D3PM reverse step t → s of the states [N] from the clean-type logits:
  // a clean type is drawn for every atom (Gumbel-max among the allowed
  // elements), masked atoms take it with the unmasking probability. In the
  // late steps (`project`) the drawn assignment is first replaced by the
  // nearest feasible one, which may also move unmasked atoms.
  torch::Tensor d3pm_step(const TypeD3pm& d, const torch::Tensor& logits, const torch::Tensor& state,
                          const torch::Tensor& atomic_numbers, int t, int s, bool project,
                          torch::Generator& gen) const {
    const int64_t n = logits.size(0), vocab = logits.size(1);
    auto allowed = logits.masked_fill(mask == 0, -INFINITY);
    auto u = torch::rand({n, vocab}, gen, torch::TensorOptions(torch::kFloat32)).to(logits.device());
    auto gumbel = -torch::log(-torch::log(u.clamp(1e-20, 1.0 - 1e-7)));
    auto draw = (allowed + gumbel).argmax(1);
    if (project) {
      auto masked = state == d.mask_state();
      auto current = torch::where(masked, draw, state.clamp_max(vocab - 1));
      // One-hot of the current assignment, ties broken by the probabilities.
      auto scores = torch::one_hot(current, vocab).to(torch::kFloat32) + 1e-3 * torch::softmax(allowed, 1);
      draw = projected(scores * mask).argmax(1);
    }
    auto v = torch::rand({n}, gen, torch::TensorOptions(torch::kFloat32)).to(logits.device());
    auto next = d.step(state, draw, t, s, v, project);
    return torch::where(known.squeeze(1), atomic_numbers - 1, next);
  }
  // Final atomic numbers: the argmax among allowed elements (or the feasible
  // assignment), known types as given.
  torch::Tensor final_types(const torch::Tensor& a0) const {
    auto scores = a0.masked_fill(mask == 0, -1e9);
    if (constraints->needs_projection()) scores = projected(a0.clamp(0.0, 1.0) * mask);
    return (scores.argmax(1) + 1).to(torch::kInt64);
  }
};

// Shifts the denoiser's outputs by the gradient of the guidance penalty at
// the current noisy crystal (lattice l, coordinates x, type vectors a_in).
void guide(DenoiserOutput& pred, const PropertyGuidance& g, DiffusionModel& model, const CrystalBatch& b,
           const EdgeIndex& edges, const torch::Tensor& times, const torch::Tensor& a_in, const torch::Tensor& x,
           const torch::Tensor& l, int t) {
  const int vocab = g.model->encoder_options().vocab;
  torch::Tensor gl, gx, ga;
  {
    torch::AutoGradMode grad(true);
    auto lq = l.detach().clone().requires_grad_(true);
    auto xq = x.detach().clone().requires_grad_(true);
    const bool types_free = a_in.is_floating_point();
    auto aq = (types_free ? a_in : TypeDdpm::one_hot(a_in, vocab)).detach().clone().requires_grad_(types_free);
    auto y = g.model->predict(times, aq, xq, lq, edges, b.crystal_of_atom, b.num_crystals());
    torch::Tensor energy = torch::zeros({}, y.options());
    for (std::size_t k = 0; k < g.targets.size(); ++k) {
      const int col = g.target_columns[k];
      energy = energy + g.targets[k].penalty(y.select(1, col), 1.0 / g.model->options().stddev[col]).sum();
    }
    std::vector<torch::Tensor> inputs = {lq, xq};
    if (types_free) inputs.push_back(aq);
    auto grads = torch::autograd::grad({energy}, inputs);
    gl = grads[0];
    gx = grads[1];
    if (types_free) ga = grads[2];
  }
  const double abar = model.lattice_process().schedule().alpha_bar[t];
  const double lambda = model.coord_process().schedule().lambda[t];
  pred.lattice = pred.lattice + g.scale * std::sqrt(1 - abar) * gl.nan_to_num(0.0);
  pred.coords = pred.coords + g.scale / std::sqrt(lambda) * gx.nan_to_num(0.0);
  if (ga.defined()) pred.types = pred.types + g.scale * std::sqrt(1 - abar) * ga.nan_to_num(0.0);
}

// Classifier-free guidance on a space group and / or property values: the
// labels of the batch and the weight (see SampleOptions).
struct Conditioning {
  Condition labels;  // empty = unconditional
  double weight = 1.0;
};

DenoiserOutput conditioned_denoise(DiffusionModel& model, const Conditioning& c, const torch::Tensor& times,
                              const torch::Tensor& a_in, const CrystalBatch& b, const torch::Tensor& x,
                              const torch::Tensor& l, const EdgeIndex& edges) {
  if (!c.labels.any() || c.weight == 0.0) return model.denoise(times, a_in, b, x, l, edges);
  auto cond = model.denoise(times, a_in, b, x, l, edges, c.labels);
  if (c.weight == 1.0) return cond;
  auto uncond = model.denoise(times, a_in, b, x, l, edges);
  auto mix = [&](const torch::Tensor& u, const torch::Tensor& k) { return u + c.weight * (k - u); };
  DenoiserOutput out;
  out.lattice = mix(uncond.lattice, cond.lattice);
  out.coords = mix(uncond.coords, cond.coords);
  if (cond.types.defined()) out.types = mix(uncond.types, cond.types);
  return out;
}

// One batch through the reverse process. `o` gives the sampler and its
// settings; `step_lr` is o.step_lr resolved against the model, `clip` the
// batch's lattice clamp bounds (lattice_clip_bounds), `half` the optional
// bfloat16 copy of the network.
BatchResult run_batch(DiffusionModel& model, const CrystalBatch& b, const TypeState& ts, const std::vector<int>& grid,
                      const SampleOptions& o, double step_lr, torch::Generator& gen, const torch::Device& dev,
                      const Conditioning& conditioning, const torch::Tensor& clip, DiffusionModel* half,
                      const std::function<void(double)>& step_done) {
  const SamplerKind kind = o.kind;
  const PropertyGuidance* guidance = o.guidance;
  const int start_time = o.start_time, polish = o.polish, polish_time = o.polish_time;
  const bool first_lattice_zero = o.first_lattice_step_zero;
  const int64_t nb = b.num_crystals(), na = b.total_atoms();
  const int T = model.diffusion_options().steps;
  auto randn = [&](std::vector<int64_t> shape) {
    return torch::randn(shape, gen, torch::TensorOptions(torch::kFloat32)).to(dev);
  };
  auto x = torch::rand({na, 3}, gen, torch::TensorOptions(torch::kFloat32)).to(dev);
  auto l = randn({nb, 3, 3});
  if (start_time > 0) {
    // The batch holds the start structures: onto the model's forward path
    // at t_0, with the noise drawn above.
    auto t_atoms = torch::full({na}, start_time, torch::TensorOptions(torch::kInt64).device(dev));
    auto t_cryst = torch::full({nb}, start_time, torch::TensorOptions(torch::kInt64).device(dev));
    x = model.flow() ? model.coord_flow().noise_and_target(b.frac, t_atoms, x, b.crystal_of_atom, nb).first
                     : model.coord_process().noise_and_target(b.frac, t_atoms, randn({na, 3})).first;
    l = model.lattice_process().noise(b.lattice, t_cryst, l);
  }
  const int vocab = model.net_options().vocab;
  // Types: DDPM vectors `a` [N, V], or D3PM states `state` [N] (all masked
  // at T except the known atoms).
  const bool d3pm_types = ts.active && model.d3pm();
  const bool ddpm_types = ts.active && !d3pm_types;
  const auto& d3pm = model.type_d3pm();
  torch::Tensor a = ddpm_types ? randn({na, vocab}) : torch::Tensor();
  torch::Tensor state = d3pm_types ? torch::where(ts.known.squeeze(1), b.atom_types - 1,
                                                  torch::full_like(b.atom_types, d3pm.mask_state()))
                                   : torch::Tensor();
  torch::Tensor a0_last;
  // UniMat's grid needs no edges (a property model guiding it does).
  const EdgeIndex edges =
      model.unimat_options() && !guidance ? EdgeIndex{} : EdgeIndex::fully_connected(b.counts, dev);
  const auto& lat = model.lattice_process();
  // The lattice's clean estimate at t = T is the network's error times
  // 1/sqrt(ᾱ_T) ≈ 7e4 (the cosine schedule): with first_lattice_step_zero
  // the first deterministic (ode / heun) step drops it (L̂_0 := 0, the step
  // then only rescales the noise) instead of clamping it, since even a
  // clamped estimate throws the next lattice state far outside what the
  // network saw at that time. An ancestral step weights L̂_0 by
  // sqrt(ᾱ_s) ≈ 0.008 there and keeps the clamped estimate (measured:
  // docs/RESULTS.md "The first lattice step").
  const torch::Tensor clip_zero =
      first_lattice_zero ? torch::zeros({nb}, torch::TensorOptions(torch::kFloat32).device(dev)) : torch::Tensor();
  auto clip_at = [&](int t) { return first_lattice_zero && t == T ? clip_zero : clip; };
  const auto& crd = model.coord_process();
  const auto& flw = model.coord_flow();
  const bool flow = model.flow();
  // The coordinates' deterministic step: dx per unit of the process's
  // clock (σ for the VE ODE, τ for the flow), and the step along it.
  // `t` is where the network was evaluated, within the step from → to.
  auto coord_slope = [&](const torch::Tensor& pred, int t, int from, int to) {
    return flow ? flw.slope(pred, flw.anneal_factor(t, from, to, o.anneal, o.anneal_onset)) : crd.ode_slope(pred, t);
  };
  auto coord_step = [&](const torch::Tensor& x, const torch::Tensor& slope, int t, int s) {
    return flow ? flw.step_with_slope(x, slope, t, s) : crd.step_with_slope(x, slope, t, s);
  };
  const auto& typ = model.type_process();
  const bool projecting = ts.active && ts.constraints->needs_projection();
  auto denoise = [&](const torch::Tensor& times, const torch::Tensor& a_in, const torch::Tensor& x,
                     const torch::Tensor& l, int t) {
    DenoiserOutput out;
    if (half) {
      auto low = [](const torch::Tensor& v) { return v.is_floating_point() ? v.to(torch::kBFloat16) : v; };
      // Coordinates and lattice stay float32: the network forms its Fourier
      // features from them (model/cspnet.cpp).
      out = conditioned_denoise(*half, conditioning, times, low(a_in), b, x, l, edges);
      for (torch::Tensor* v : {&out.lattice, &out.coords, &out.types})
        if (v->defined()) *v = v->to(torch::kFloat32);
    } else {
      out = conditioned_denoise(model, conditioning, times, a_in, b, x, l, edges);
    }
    if (guidance) guide(out, *guidance, model, b, edges, times, a_in, x, l, t);
    return out;
  };
  for (std::size_t k = 0; k + 1 < grid.size(); ++k) {
    const int t = grid[k], s = grid[k + 1];
    const bool project = projecting && 2 * t <= T;
    auto times = torch::full({nb}, static_cast<float>(t), torch::TensorOptions(torch::kFloat32).device(dev));
    torch::Tensor a_in = d3pm_types ? d3pm.input(state) : ddpm_types ? ts.input(typ, a, t, gen) : b.atom_types;
    if (kind == SamplerKind::kPc) {
      auto z = t > 1 ? randn({na, 3}) : torch::zeros({na, 3}, x.options());
      auto pred = denoise(times, a_in, x, l, t);
      x = crd.step_corrector(x, pred.coords, t, step_lr, z);
    }
    auto pred = denoise(times, a_in, x, l, t);
    torch::Tensor a0 = ddpm_types ? ts.clean(typ, a_in, pred.types, t, project) : torch::Tensor();
    // D3PM types take their (discrete) step from this first evaluation
    // whatever the sampler; Heun's second evaluation sees the new states.
    if (d3pm_types) state = ts.d3pm_step(d3pm, pred.types, state, b.atom_types, t, s, project, gen);
    if (kind == SamplerKind::kHeun) {
      auto slope_x = coord_slope(pred.coords, t, t, s);
      auto x_euler = coord_step(x, slope_x, t, s);
      auto l_euler = lat.step_ddim(l, pred.lattice, t, s, clip_at(t));
      auto a_euler = ddpm_types ? typ.step_ddim(a_in, a0, t, s) : torch::Tensor();
      if (s == 0) {  // the last step stays first-order (σ_0 = 0 is outside the network's range)
        x = x_euler;
        l = l_euler;
        a = a_euler;
        a0_last = a0;
        if (step_done) step_done(double(k + 1) / (grid.size() - 1));
        continue;
      }
      auto times_s = torch::full({nb}, static_cast<float>(s), times.options());
      auto a_in_s = d3pm_types   ? d3pm.input(state)
                    : ddpm_types ? ts.input(typ, a_euler, s, gen)
                                 : b.atom_types;
      auto pred_s = denoise(times_s, a_in_s, x_euler, l_euler, s);
      // Slopes are tangent vectors of the torus: they average as they are,
      // whatever image of the Euler point the network saw.
      x = coord_step(x, 0.5 * (slope_x + coord_slope(pred_s.coords, s, t, s)), t, s);
      l = lat.step_ddim(l, 0.5 * (pred.lattice + pred_s.lattice), t, s, clip_at(t));
      if (ddpm_types) {  // Heun in the clean-type parametrisation
        a0 = 0.5 * (a0 + ts.clean(typ, a_in_s, pred_s.types, s, project));
        a = typ.step_ddim(a_in, a0, t, s);
      }
    } else if (kind == SamplerKind::kOde) {
      x = coord_step(x, coord_slope(pred.coords, t, t, s), t, s);
      l = lat.step_ddim(l, pred.lattice, t, s, clip_at(t));
      if (ddpm_types) a = typ.step_ddim(a_in, a0, t, s);
    } else {
      auto zx = s > 0 ? randn({na, 3}) : torch::zeros({na, 3}, x.options());
      auto zl = s > 0 ? randn({nb, 3, 3}) : torch::zeros({nb, 3, 3}, l.options());
      // A flow model's coordinates have no stochastic step: they take the
      // Euler step while lattice and types take the ancestral one.
      x = flow ? coord_step(x, coord_slope(pred.coords, t, t, s), t, s) : crd.step_predictor(x, pred.coords, t, s, zx);
      l = lat.step_ancestral(l, pred.lattice, t, s, zl, clip);
      if (ddpm_types) a = typ.step_ancestral(a_in, a0, t, s, s > 0 ? randn({na, vocab}) : torch::Tensor());
    }
    a0_last = a0;
    if (step_done) step_done(double(k + 1) / (grid.size() - 1));
  }
  if (polish > 0) {
    // The types are final: the network sees them clean (a0 as its input).
    torch::Tensor a_in = d3pm_types   ? d3pm.input(state)
                         : ddpm_types ? a
                                      : b.atom_types;
    auto times = torch::full({nb}, static_cast<float>(polish_time), torch::TensorOptions(torch::kFloat32).device(dev));
    auto t_atoms = torch::full({na}, polish_time, torch::TensorOptions(torch::kInt64).device(dev));
    auto t_cryst = torch::full({nb}, polish_time, torch::TensorOptions(torch::kInt64).device(dev));
    for (int i = 0; i < polish; ++i) {
      // Back onto the path at τ_p with fresh noise, as in training, so that
      // an atom left at the midpoint of two mirror-image sites (where the
      // averaged velocity vanishes) is pushed towards one of them.
      auto u = torch::rand({na, 3}, gen, torch::TensorOptions(torch::kFloat32)).to(dev);
      x = flw.noise_and_target(x, t_atoms, u, b.crystal_of_atom, nb).first;
      l = lat.noise(l, t_cryst, randn({nb, 3, 3}));
      auto pred = denoise(times, a_in, x, l, polish_time);
      x = flw.step(x, pred.coords, polish_time, 0);
      l = lat.clean_estimate(l, pred.lattice, polish_time, clip);
    }
  }
  BatchResult r{x, l, b.atom_types};
  if (d3pm_types) a0_last = torch::one_hot(state.clamp_max(vocab - 1), vocab).to(torch::kFloat32);
  if (ts.active) r.types = torch::where(ts.known.squeeze(1), b.atom_types, ts.final_types(a0_last));
  return r;
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

// Tasks in order, cut into batches of at most `batch_atoms` atoms (a task
// larger than that gets a batch of its own).
std::vector<std::vector<std::size_t>> plan_sample_batches(const std::vector<CrystalTask>& tasks, int batch_atoms) {
  std::vector<std::vector<std::size_t>> batches;
  int64_t atoms = 0;
  for (std::size_t i = 0; i < tasks.size(); ++i) {
    if (batches.empty() || atoms + tasks[i].size() > batch_atoms) {
      batches.emplace_back();
      atoms = 0;
    }
    batches.back().push_back(i);
    atoms += tasks[i].size();
  }
  return batches;
}


template <typename T>
void put(std::string& buf, const T& v) {
  buf.append(reinterpret_cast<const char*>(&v), sizeof v);
}
template <typename T>
T take(const std::string& buf, std::size_t& at) {
  if (at + sizeof(T) > buf.size()) throw Error("internal: a rank's samples arrived truncated", ErrorKind::kInternal);
  T v;
  std::memcpy(&v, buf.data() + at, sizeof v);
  at += sizeof v;
  return v;
}

// Every rank's structures (bit for bit) and counts into rank 0's `out` and `rep`.
void gather_samples(Distributed& dist, const std::vector<std::vector<std::size_t>>& batches, std::vector<Structure>& out,
                    SampleReport& rep) {
  std::string mine;
  put<uint64_t>(mine, rep.retried);
  put<uint64_t>(mine, rep.failed);
  for (std::size_t k = dist.rank(); k < batches.size(); k += dist.world_size())
    for (auto id : batches[k]) {
      const Structure& s = out[id];
      put<uint32_t>(mine, static_cast<uint32_t>(s.size()));
      for (const auto& row : s.lattice.matrix())
        for (double x : row) put(mine, x);
      for (std::size_t a = 0; a < s.size(); ++a) {
        put<int32_t>(mine, s.species[a]);
        for (double x : s.frac[a]) put(mine, x);
      }
    }
  const auto all = dist.gather_to_root(mine, "samples");
  if (!dist.is_root()) {
    for (auto& s : out) s = Structure();
    return;
  }
  rep.retried = rep.failed = 0;
  for (int r = 0; r < dist.world_size(); ++r) {
    const std::string& buf = all[r];
    std::size_t at = 0;
    rep.retried += take<uint64_t>(buf, at);
    rep.failed += take<uint64_t>(buf, at);
    for (std::size_t k = r; k < batches.size(); k += dist.world_size())
      for (auto id : batches[k]) {
        const uint32_t n = take<uint32_t>(buf, at);
        Mat3 m;
        for (auto& row : m)
          for (double& x : row) x = take<double>(buf, at);
        Structure s;
        s.lattice = Lattice(m);
        for (uint32_t a = 0; a < n; ++a) {
          s.species.push_back(take<int32_t>(buf, at));
          Vec3 f;
          for (double& x : f) x = take<double>(buf, at);
          s.frac.push_back(f);
        }
        out[id] = std::move(s);
      }
  }
}

}  // namespace

void check_sample_request(DiffusionModel& model, const std::vector<CrystalTask>& tasks, const TypeConstraints& constraints,
                          const SampleOptions& o) {
  if (model.unimat_options() && model.generative()) {
    check_unimat_tensor_request(model, tasks, o);
    // The tensor decides the atom count: any number up to every slot.
    check_feasible(constraints, model.unimat_options()->slots * kMaxZ, model.net_options().vocab);
    return;
  }
  const int T = model.diffusion_options().steps;
  const int steps = o.steps > 0 ? o.steps : T;
  if (steps > T) throw Error("--steps " + std::to_string(steps) + " exceeds the model's " + std::to_string(T), ErrorKind::kUsage);
  const int vocab = model.net_options().vocab;
  for (std::size_t i = 0; i < tasks.size(); ++i) {
    if (tasks[i].size() <= 0) throw Error("task " + std::to_string(i + 1) + ": no atoms", ErrorKind::kUsage);
    if (tasks[i].species.empty()) {
      if (!model.generative())
        throw Error("this is a CSP model (trained with given atom types): de novo generation needs a model trained "
                    "with --task gen; give a composition instead",
                    ErrorKind::kUsage);
      check_feasible(constraints, tasks[i].num_atoms, vocab);
    }
    for (int z : tasks[i].species)
      if (z < 1 || z > vocab)
        throw Error("task " + std::to_string(i + 1) + ": element Z=" + std::to_string(z) +
                        " is outside the model's vocabulary", ErrorKind::kUsage);
    // UniMat's tensor has a fixed number of slots per element.
    if (const auto& unimat = model.unimat_options(); unimat && !tasks[i].species.empty()) {
      std::map<int, int> count;
      for (int z : tasks[i].species)
        if (++count[z] > unimat->slots)
          throw Error(fmt::format("task {}: more than {} atoms of {}, the most the UniMat model's tensor holds per "
                                  "element (its training set's largest count)",
                                  i + 1, unimat->slots, element(z).symbol),
                      ErrorKind::kUsage);
    }
  }
  if (o.spacegroup != 0) {
    if (o.spacegroup < 1 || o.spacegroup > 230)
      throw Error("--spacegroup " + std::to_string(o.spacegroup) + ": space groups are numbered 1..230",
                  ErrorKind::kUsage);
    if (!model.conditioned_on_spacegroup())
      throw Error("this model was not trained with space-group conditioning (train with --condition spacegroup)",
                  ErrorKind::kUsage);
  }
  const std::size_t num_properties = model.net_options().condition_properties.size();
  bool property_conditioned = false;
  for (std::size_t i = 0; i < tasks.size(); ++i) {
    if (tasks[i].properties.empty()) continue;
    if (num_properties == 0)
      throw Error("this model was not trained with property conditioning (train with --condition COLUMN)",
                  ErrorKind::kUsage);
    if (tasks[i].properties.size() != num_properties)
      throw Error("task " + std::to_string(i + 1) + ": " + std::to_string(tasks[i].properties.size()) +
                  " property values for a model conditioned on " + std::to_string(num_properties) + " columns");
    for (double v : tasks[i].properties) property_conditioned |= std::isfinite(v);
  }
  if ((o.spacegroup != 0 || property_conditioned) && (!std::isfinite(o.cfg_weight) || o.cfg_weight < 0))
    throw Error("--guidance must be a finite weight >= 0", ErrorKind::kUsage);
  if (o.guidance) {
    if (model.d3pm())
      throw Error("property guidance needs a generation model with DDPM type diffusion (this one uses D3PM)",
                  ErrorKind::kUsage);
    if (model.flow())
      throw Error("property guidance (--guide) needs a score model; this one learned its coordinates by flow matching "
                  "(use a property-conditioned model with --target instead)",
                  ErrorKind::kUsage);
    if (!o.guidance->model) throw Error("guidance without a property model", ErrorKind::kUsage);
    if (o.guidance->model->options().steps != T)
      throw Error("the property model was trained for T = " + std::to_string(o.guidance->model->options().steps) +
                      " steps, the generator has T = " + std::to_string(T),
                  ErrorKind::kUsage);
    if (o.guidance->model->encoder_options().vocab != vocab)
      throw Error("the property model's vocabulary differs from the generator's", ErrorKind::kUsage);
  }
  if (model.flow() && o.kind == SamplerKind::kPc)
    throw Error("the pc sampler's Langevin corrector needs a score model; this model learned its coordinates by flow "
                "matching: use --sampler ode, heun or ancestral",
                ErrorKind::kUsage);
  if (!std::isfinite(o.anneal) || o.anneal < 0)
    throw Error("--anneal must be a finite number >= 0", ErrorKind::kUsage);
  if (!(o.anneal_onset > 0 && o.anneal_onset <= 1))
    throw Error("--anneal-onset must lie in (0, 1]", ErrorKind::kUsage);
  if (o.polish < 0) throw Error("--polish must be >= 0", ErrorKind::kUsage);
  if (o.polish > 0 && !model.flow())
    throw Error("--polish takes the clean estimate of a flow model's velocity; this model learned a score "
                "(train with --objective flow)",
                ErrorKind::kUsage);
  if (o.polish > 0 && (o.polish_time < 1 || o.polish_time > model.diffusion_options().steps))
    throw Error("--polish-time must lie in 1.." + std::to_string(model.diffusion_options().steps), ErrorKind::kUsage);
  if (o.anneal != 0 && !model.flow())
    throw Error("--anneal scales a flow model's velocity; this model learned a score (train with --objective flow)",
                ErrorKind::kUsage);
  if (o.precision != "fp32" && o.precision != "bf16")
    throw Error("--precision " + o.precision + ": fp32 or bf16", ErrorKind::kUsage);
  if (o.start_time < 0 || o.start_time > T)
    throw Error("--start-time must lie in 1.." + std::to_string(T) + " (0: from noise)", ErrorKind::kUsage);
  if (o.start_time > 0) {
    if (o.steps > o.start_time)
      throw Error(fmt::format("--steps {} exceeds --start-time {} (at most one network evaluation per time step)",
                              o.steps, o.start_time),
                  ErrorKind::kUsage);
    for (std::size_t i = 0; i < tasks.size(); ++i) {
      const auto& start = tasks[i].start;
      if (!start || tasks[i].species.empty())
        throw Error("task " + std::to_string(i + 1) + ": --start-time needs a structure to start from (CSP tasks only)",
                    ErrorKind::kUsage);
      if (start->species != tasks[i].species || start->frac.size() != start->species.size())
        throw Error("task " + std::to_string(i + 1) + ": the start structure's atoms differ from the task's",
                    ErrorKind::kUsage);
    }
  } else {
    for (std::size_t i = 0; i < tasks.size(); ++i)
      if (tasks[i].start)
        throw Error("task " + std::to_string(i + 1) + ": a start structure without --start-time", ErrorKind::kUsage);
  }
}

std::vector<Structure> sample_crystals(DiffusionModel& model, const std::vector<CrystalTask>& tasks,
                                       const TypeConstraints& constraints, const SampleOptions& o,
                                       SampleReport* report, const SampleProgress& progress) {
  if (model.unimat_options() && model.generative())
    return sample_unimat_tensors(model, tasks, constraints, o, report, progress);
  const auto start = std::chrono::steady_clock::now();
  const torch::Device dev = parse_device(o.device);
  model.to(dev);
  model.eval();
  check_sample_request(model, tasks, constraints, o);
  const int T = model.diffusion_options().steps;
  const int steps = o.steps > 0 ? o.steps : T;
  const double step_lr = o.step_lr >= 0 ? o.step_lr : model.diffusion_options().step_lr;
  const std::vector<int> grid = time_grid(o.start_time > 0 ? o.start_time : T, steps);
  const int vocab = model.net_options().vocab;
  const std::size_t num_properties = model.net_options().condition_properties.size();
  bool property_conditioned = false;
  for (const auto& t : tasks)
    for (double v : t.properties) property_conditioned |= std::isfinite(v);
  if (o.guidance) {
    o.guidance->model->to(dev);
    o.guidance->model->train(false);
  }
  // bfloat16 copy of the network (the float32 one stays for guidance and the caller).
  std::optional<DiffusionModel> half;
  if (o.precision == "bf16") {
    half.emplace(model.deep_copy());
    half->to(torch::kBFloat16);
    half->eval();
  }
  torch::NoGradGuard no_grad;
  // Inference tensors cannot enter autograd, so guided sampling runs
  // without InferenceMode (only no-grad outside the guidance gradient).
  std::optional<c10::InferenceMode> inference;
  if (!o.guidance) inference.emplace();
  std::vector<Structure> out(tasks.size());
  SampleReport rep;
  rep.crystals = tasks.size();
  rep.network_evaluations = evaluations_per_crystal(o.kind, static_cast<int>(grid.size() - 1)) + o.polish;
  if ((o.spacegroup || property_conditioned) && o.cfg_weight != 0.0 && o.cfg_weight != 1.0)
    rep.network_evaluations *= 2;
  torch::Tensor mask = torch::zeros({1, vocab}, torch::kFloat32);
  for (int z = 1; z <= vocab; ++z)
    if (constraints.allows(z)) mask[0][z - 1] = 1.0f;
  mask = mask.to(dev);
  // The batches (up to batch_atoms atoms each) are fixed by the tasks alone
  // and each has its own seed, so a batch's crystals are the same whether
  // it runs alone, after others, or on another rank.
  const auto batches = plan_sample_batches(tasks, o.batch_atoms);
  const int rank = o.dist ? o.dist->rank() : 0, world = o.dist ? o.dist->world_size() : 1;
  std::size_t my_total = 0;
  for (std::size_t k = rank; k < batches.size(); k += world) my_total += batches[k].size();
  std::size_t done = 0;
  std::vector<std::size_t> failed;
  for (std::size_t k = rank; k < batches.size(); k += world) {
    std::vector<std::size_t> pending = batches[k];
    for (int attempt = 0; attempt <= o.max_retries && !pending.empty(); ++attempt) {
      // Non-finite crystals are drawn again, as a batch of their own with a seed of their own.
      auto gen = at::detail::createCPUGenerator(batch_seed(o.seed, k, attempt));
      const std::vector<std::size_t>& ids = pending;
      std::vector<Structure> shells;
      for (auto id : ids) {
        Structure shell;
        // De novo atoms enter as a placeholder Z (1) that the sampler never reads.
        shell.species = tasks[id].species.empty() ? std::vector<int>(tasks[id].num_atoms, 1) : tasks[id].species;
        shell.frac.assign(shell.species.size(), Vec3{0, 0, 0});
        if (tasks[id].start) {
          shell.frac = tasks[id].start->frac;
          shell.lattice = tasks[id].start->lattice;
        }
        shells.push_back(std::move(shell));
      }
      std::vector<const Structure*> ptrs;
      for (const auto& s : shells) ptrs.push_back(&s);
      const CrystalBatch b = make_batch(ptrs).to(dev);
      TypeState ts;
      ts.active = model.generative();
      if (ts.active) {
        std::vector<uint8_t> known;
        for (std::size_t j = 0; j < ids.size(); ++j) {
          const bool denovo = tasks[ids[j]].species.empty();
          ts.denovo.push_back(denovo);
          known.insert(known.end(), shells[j].species.size(), denovo ? 0 : 1);
        }
        ts.any_known = std::find(known.begin(), known.end(), 1) != known.end();
        ts.known = torch::tensor(known, torch::kBool).unsqueeze(1).to(dev);
        ts.known_onehot = TypeDdpm::one_hot(b.atom_types, vocab);
        ts.mask = mask;
        ts.constraints = &constraints;
        ts.counts = b.counts;
      }
      Conditioning conditioning;
      conditioning.weight = o.cfg_weight;
      if (o.spacegroup)
        conditioning.labels.spacegroup =
            torch::full({b.num_crystals()}, int64_t{o.spacegroup}, torch::TensorOptions(torch::kInt64).device(dev));
      if (property_conditioned) {
        std::vector<float> values;
        for (auto id : ids)
          for (std::size_t j = 0; j < num_properties; ++j)
            values.push_back(tasks[id].properties.empty() ? NAN : static_cast<float>(tasks[id].properties[j]));
        conditioning.labels.properties =
            torch::tensor(values).view({static_cast<int64_t>(ids.size()), static_cast<int64_t>(num_properties)}).to(dev);
      }
      std::function<void(double)> step_done;
      if (progress)
        step_done = [&](double share) { progress(done + share * ids.size(), my_total); };
      const BatchResult r = run_batch(model, b, ts, grid, o, step_lr, gen, dev, conditioning,
                                      lattice_clip_bounds(o, b.num_atoms), half ? &*half : nullptr, step_done);
      const auto bad = bad_crystals(r.frac, r.lattice, b);
      auto structures = batch_to_structures(r.types, r.frac.nan_to_num(0.0), r.lattice.nan_to_num(0.0), b.counts);
      std::vector<std::size_t> again;
      for (std::size_t j = 0; j < ids.size(); ++j) {
        if (bad[j]) {
          again.push_back(ids[j]);
          continue;
        }
        out[ids[j]] = std::move(structures[j]);
        ++done;
      }
      if (progress) progress(done, my_total);
      if (attempt < o.max_retries) rep.retried += again.size();
      else failed.insert(failed.end(), again.begin(), again.end());
      pending = std::move(again);
    }
  }
  rep.failed = failed.size();
  if (o.dist) gather_samples(*o.dist, batches, out, rep);
  rep.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (report) *report = rep;
  return out;
}

std::vector<Structure> sample_csp(DiffusionModel& model, const std::vector<std::vector<int>>& tasks,
                                  const SampleOptions& o, SampleReport* report, const SampleProgress& progress) {
  std::vector<CrystalTask> t;
  for (const auto& species : tasks) {
    if (species.empty()) throw Error("task " + std::to_string(t.size() + 1) + ": no atoms", ErrorKind::kUsage);
    t.push_back({species, static_cast<int>(species.size())});
  }
  return sample_crystals(model, t, TypeConstraints{}, o, report, progress);
}

}  // namespace xtaldiff
