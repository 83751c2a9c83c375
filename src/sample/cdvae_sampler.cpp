#include "sample/cdvae_sampler.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>
#include <tuple>

#include "data/crystal_batch.h"
#include "ml/runtime.h"
#include "util/error.h"

namespace xtaldiff {
namespace {

// [vocab] additive mask: 0 where the constraints allow the element, −inf elsewhere.
torch::Tensor element_mask(const TypeConstraints& c, int vocab, const torch::Device& dev) {
  std::vector<float> mask(vocab, 0.0f);
  if (!c.allowed.empty())
    for (int z = 1; z <= vocab; ++z)
      if (!c.allows(z)) mask[z - 1] = -INFINITY;
  return torch::tensor(mask).to(dev);
}

// Types [N] from per-atom scores [N, vocab] (masked): the best allowed
// element per atom, or the feasible assignment when elements are required
// or capped.
torch::Tensor assign_types(const torch::Tensor& scores, const std::vector<int64_t>& counts, const TypeConstraints& c) {
  if (!c.needs_projection()) return scores.argmax(1) + 1;
  auto host = scores.detach().to(torch::kCPU, torch::kFloat32).contiguous();
  const int vocab = static_cast<int>(host.size(1));
  // −inf scores stay comparable in the projection as a very low score.
  host = torch::nan_to_num(host, 0.0, 1e30, -1e30);
  std::vector<int64_t> types;
  types.reserve(host.size(0));
  const float* p = host.data_ptr<float>();
  int64_t offset = 0;
  for (int64_t n : counts) {
    const auto z = feasible_assignment(p + offset * vocab, static_cast<int>(n), vocab, c);
    types.insert(types.end(), z.begin(), z.end());
    offset += n;
  }
  return torch::tensor(types, torch::kInt64).to(scores.device());
}

}  // namespace

torch::Tensor reassign_within_composition(const torch::Tensor& scores, const torch::Tensor& types,
                                          const std::vector<int64_t>& counts) {
  auto host = scores.detach().to(torch::kCPU, torch::kFloat32).contiguous();
  auto current = types.to(torch::kCPU, torch::kInt64).contiguous();
  const int64_t vocab = host.size(1);
  const float* p = host.data_ptr<float>();
  const int64_t* t = current.data_ptr<int64_t>();
  std::vector<int64_t> out(current.numel());
  int64_t offset = 0;
  for (int64_t n : counts) {
    std::map<int64_t, int64_t> left;  // element → atoms still to place
    for (int64_t i = 0; i < n; ++i) ++left[t[offset + i]];
    std::vector<std::tuple<float, int64_t, int64_t>> pairs;  // (score, atom, element)
    for (int64_t i = 0; i < n; ++i)
      for (const auto& [z, count] : left) {
        const float v = p[(offset + i) * vocab + (z - 1)];
        pairs.emplace_back(std::isfinite(v) ? v : -1e30f, i, z);
      }
    std::stable_sort(pairs.begin(), pairs.end(),
                     [](const auto& a, const auto& b) { return std::get<0>(a) > std::get<0>(b); });
    std::vector<bool> placed(n, false);
    for (const auto& [v, i, z] : pairs) {
      if (placed[i] || left[z] == 0) continue;
      out[offset + i] = z;
      placed[i] = true;
      --left[z];
    }
    offset += n;
  }
  return torch::tensor(out, torch::kInt64).to(types.device());
}

namespace {
int head_column(const CdvaeModel& model, const std::string& column) {
  const int c = model.options().property_index(column);
  if (c >= 0) return c;
  std::string have;
  for (const auto& p : model.options().properties) have += (have.empty() ? "" : ", ") + p;
  throw Error("this CDVAE was not trained with property '" + column + "' (its property head predicts: " +
                  (have.empty() ? "none; train with --condition COLUMN" : have) + ")",
              ErrorKind::kUsage);
}
}  // namespace

void check_latent_targets(const CdvaeModel& model, const std::vector<PropertyTarget>& targets) {
  for (const auto& t : targets) head_column(model, t.column);
}

torch::Tensor latent_properties(CdvaeModel& model, const torch::Tensor& z, const std::string& device) {
  torch::NoGradGuard no_grad;
  model.eval();
  const torch::Device dev = parse_device(device);
  model.to(dev);
  if (model.options().properties.empty()) return torch::zeros({z.size(0), 0});
  const auto h = model.heads(z.to(dev, torch::kFloat32));
  return model.properties_from_head(h.properties).to(torch::kCPU);
}

torch::Tensor optimize_latents(CdvaeModel& model, const torch::Tensor& z0, const std::vector<PropertyTarget>& targets,
                               int steps, double lr, const std::string& device) {
  std::vector<int> columns;
  for (const auto& t : targets) columns.push_back(head_column(model, t.column));
  if (steps < 0 || !(lr > 0)) throw Error("latent optimisation: steps >= 0 and a positive rate", ErrorKind::kUsage);
  const torch::Device dev = parse_device(device);
  model.to(dev);
  model.eval();
  for (auto& p : model.parameters()) p.set_requires_grad(false);
  auto z = z0.to(dev, torch::kFloat32).clone().set_requires_grad(true);
  torch::optim::Adam opt({z}, torch::optim::AdamOptions(lr));
  for (int step = 0; step < steps; ++step) {
    const auto h = model.heads(z);
    const auto y = model.properties_from_head(h.properties);
    torch::Tensor loss = torch::zeros({}, y.options());
    for (std::size_t i = 0; i < targets.size(); ++i)
      loss = loss + targets[i].penalty(y.select(1, columns[i]), 1.0 / model.options().property_stddev[columns[i]]).sum();
    opt.zero_grad();
    loss.backward();
    opt.step();
  }
  for (auto& p : model.parameters()) p.set_requires_grad(true);
  return z.detach().to(torch::kCPU);
}

double cdvae_step_size(const CdvaeOptions& m, double step_lr, int level) {
  const auto sigmas = m.sigmas();
  const double r = sigmas.at(level) / sigmas.back();
  return step_lr * r * r;
}

std::vector<Structure> cdvae_decode(CdvaeModel& model, const torch::Tensor& z_all, const CdvaeSampleOptions& o,
                                    SampleReport* report, const SampleProgress& progress) {
  const auto start = std::chrono::steady_clock::now();
  const torch::Device dev = parse_device(o.device);
  const CdvaeOptions& mo = model.options();
  const int steps = o.steps_per_level > 0 ? o.steps_per_level : mo.steps_per_level;
  const double step_lr = o.step_lr > 0 ? o.step_lr : mo.step_lr;
  const int vocab = model.vocab();
  check_feasible(o.constraints, mo.max_atoms, vocab);
  if (o.type_update != "composition" && o.type_update != "decoder" && o.type_update != "fixed")
    throw Error("type update '" + o.type_update + "': composition, decoder or fixed", ErrorKind::kUsage);
  const auto sigmas = mo.sigmas();
  std::vector<int> levels;
  for (int k = 0; k < mo.noise_levels; ++k)
    if (sigmas[k] >= o.min_sigma) levels.push_back(k);
  if (levels.empty())
    throw Error("--min-sigma " + std::to_string(o.min_sigma) + " skips every noise level (the smallest is " +
                    std::to_string(sigmas.back()) + ")",
                ErrorKind::kUsage);

  torch::NoGradGuard no_grad;
  model.eval();
  model.to(dev);
  const auto mask = element_mask(o.constraints, vocab, dev);
  const int64_t total = z_all.size(0);
  std::vector<Structure> out;
  out.reserve(total);
  std::size_t failed = 0;
  const int64_t batch = std::max(1, o.batch);
  for (int64_t first = 0, k = 0; first < total; first += batch, ++k) {
    const int64_t b = std::min(batch, total - first);
    auto gen = at::detail::createCPUGenerator(batch_seed(o.seed, static_cast<std::size_t>(k), 0));
    auto z = z_all.narrow(0, first, b).to(dev, torch::kFloat32);
    const CdvaeHeads h = model.heads(z);
    auto natoms = h.num_atoms.argmax(1).clamp(1, mo.max_atoms).to(torch::kCPU);
    std::vector<int64_t> counts(natoms.data_ptr<int64_t>(), natoms.data_ptr<int64_t>() + b);
    auto lattice = model.lattice_from_head(h.lattice, counts).to(dev, torch::kFloat32);
    // Initial types: the composition head's probabilities over the allowed
    // elements, N atoms by largest remainders, then made feasible.
    auto probs = torch::softmax(h.composition + mask, 1).to(torch::kCPU, torch::kFloat64).contiguous();
    std::vector<int64_t> types0;
    for (int64_t i = 0; i < b; ++i) {
      const double* p = probs.data_ptr<double>() + i * vocab;
      for (int t : composition_to_types(std::vector<double>(p, p + vocab), static_cast<int>(counts[i])))
        types0.push_back(t);
    }
    auto types = torch::tensor(types0, torch::kInt64).to(dev);
    std::vector<int64_t> crystal;
    for (int64_t i = 0; i < b; ++i) crystal.insert(crystal.end(), counts[i], i);
    auto coa = torch::tensor(crystal, torch::kInt64).to(dev);
    if (o.constraints.needs_projection()) {
      auto scores = torch::log(probs.to(dev, torch::kFloat32).clamp_min(1e-30)).index_select(0, coa);
      types = assign_types(scores, counts, o.constraints);
    }
    const int64_t n = types.size(0);
    auto frac = torch::rand({n, 3}, gen).to(dev);
    const auto edges = EdgeIndex::fully_connected(counts, dev);
    auto lattice_of_atom = lattice.index_select(0, coa);
    auto inverse_of_atom = torch::linalg::inv(lattice_of_atom);
    for (std::size_t li = 0; li < levels.size(); ++li) {
      const int level = levels[li];
      const double sigma = sigmas[level];
      const double eta = cdvae_step_size(mo, step_lr, level);
      auto level_t = torch::full({b}, level, torch::TensorOptions(torch::kInt64).device(dev));
      for (int s = 0; s < steps; ++s) {
        auto noise = torch::randn({n, 3}, gen).to(dev) * std::sqrt(2 * eta);
        const CdvaeDecoded d = model.decode(z, level_t, types, frac, lattice, edges, coa);
        auto cart = torch::bmm(frac.unsqueeze(1), lattice_of_atom).squeeze(1) + (eta / sigma) * d.displacement + noise;
        frac = torch::bmm(cart.unsqueeze(1), inverse_of_atom).squeeze(1);
        frac = frac - torch::floor(frac);
        if (o.type_update == "decoder")
          types = assign_types(d.type_logits.to(torch::kFloat32) + mask, counts, o.constraints);
        else if (o.type_update == "composition")
          types = reassign_within_composition(torch::log_softmax(d.type_logits.to(torch::kFloat32), 1), types, counts);
      }
      if (progress) progress(first + b * double(li + 1) / levels.size(), static_cast<std::size_t>(total));
    }
    if (o.final_denoise) {
      const int level = levels.back();
      auto level_t = torch::full({b}, level, torch::TensorOptions(torch::kInt64).device(dev));
      const CdvaeDecoded d = model.decode(z, level_t, types, frac, lattice, edges, coa);
      auto cart = torch::bmm(frac.unsqueeze(1), lattice_of_atom).squeeze(1) + sigmas[level] * d.displacement;
      frac = torch::bmm(cart.unsqueeze(1), inverse_of_atom).squeeze(1);
      frac = frac - torch::floor(frac);
    }
    auto structures = batch_to_structures(types, frac, lattice, counts);
    for (auto& s : structures) {
      bool finite = s.lattice.is_valid();
      for (const auto& f : s.frac) finite = finite && std::isfinite(f[0]) && std::isfinite(f[1]) && std::isfinite(f[2]);
      if (!finite) {
        s = Structure{};
        ++failed;
      }
      out.push_back(std::move(s));
    }
  }
  if (report) {
    report->crystals += static_cast<std::size_t>(total);
    report->failed += failed;
    report->retry_reason = "non-finite values";
    report->network_evaluations = static_cast<long>(levels.size()) * steps + (o.final_denoise ? 1 : 0);
    report->seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  }
  return out;
}

std::vector<Structure> cdvae_generate(CdvaeModel& model, int n, const CdvaeSampleOptions& o, SampleReport* report,
                                      const SampleProgress& progress) {
  return cdvae_decode(model, cdvae_prior_latents(model, n, o.seed), o, report, progress);
}

torch::Tensor cdvae_prior_latents(const CdvaeModel& model, int n, uint64_t seed) {
  if (n < 1) throw Error("-n must be positive", ErrorKind::kUsage);
  // The latents come from their own generator, so that the Langevin noise
  // of batch k is the same whatever n is.
  auto gen = at::detail::createCPUGenerator(seed ^ 0x5DEECE66DULL);
  return torch::randn({n, model.options().latent_dim}, gen);
}

torch::Tensor cdvae_latents(CdvaeModel& model, const std::vector<Structure>& crystals, const std::string& device,
                            int batch) {
  torch::NoGradGuard no_grad;
  model.eval();
  const torch::Device dev = parse_device(device);
  model.to(dev);
  std::vector<torch::Tensor> parts;
  for (std::size_t first = 0; first < crystals.size(); first += std::max(1, batch)) {
    std::vector<Structure> canon;
    const std::size_t last = std::min(crystals.size(), first + std::max(1, batch));
    for (std::size_t i = first; i < last; ++i) canon.push_back(canonical_structure(crystals[i]));
    std::vector<const Structure*> ptrs;
    for (const auto& s : canon) ptrs.push_back(&s);
    const CrystalBatch b = make_batch(ptrs).to(dev);
    parts.push_back(model.encode(b).first.to(torch::kCPU));
  }
  if (parts.empty()) return torch::zeros({0, model.options().latent_dim});
  return torch::cat(parts, 0);
}

std::vector<Structure> cdvae_reconstruct(CdvaeModel& model, const std::vector<Structure>& crystals,
                                         const CdvaeSampleOptions& o, SampleReport* report,
                                         const SampleProgress& progress) {
  for (std::size_t i = 0; i < crystals.size(); ++i)
    for (int z : crystals[i].species)
      if (z < 1 || z > model.vocab())
        throw Error("crystal " + std::to_string(i + 1) + ": element Z = " + std::to_string(z) +
                        " is outside the model's vocabulary (Z 1.." + std::to_string(model.vocab()) + ")",
                    ErrorKind::kInput);
  return cdvae_decode(model, cdvae_latents(model, crystals, o.device, o.batch), o, report, progress);
}

}  // namespace xtaldiff
