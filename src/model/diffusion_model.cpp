#include "model/diffusion_model.h"

#include <cmath>
#include <sstream>

#include "crystal/unimat_tensor.h"
#include "util/error.h"

namespace xtaldiff {

NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(DiffusionOptions, steps, sigma_begin, sigma_end, cost_lattice, cost_coord,
                                                cost_type, cost_type_d3pm, d3pm_lambda, step_lr, condition_drop,
                                                coord_objective)

nlohmann::json DiffusionOptions::to_json() const { return *this; }

DiffusionOptions DiffusionOptions::from_json(const nlohmann::json& j) {
  const DiffusionOptions o = j.get<DiffusionOptions>();
  if (o.coord_objective != "score" && o.coord_objective != "flow")
    throw Error("diffusion option coord_objective '" + o.coord_objective + "': score or flow");
  if (o.steps < 1 || !(o.sigma_begin > 0) || !(o.sigma_end > o.sigma_begin) || !(o.condition_drop >= 0) ||
      o.condition_drop > 1)
    throw Error("diffusion options out of range: " + j.dump());
  return o;
}

DiffusionModel::DiffusionModel(const CspNetOptions& n, const DiffusionOptions& d,
                               const std::optional<UniMatOptions>& unimat)
    : net_options_(n),
      diffusion_options_(d),
      unimat_options_(unimat),
      processes_(d.steps, d.sigma_begin, d.sigma_end),
      d3pm_(d.steps, n.vocab) {
  if (!unimat) {
    net_ = register_module("net", CspNet(n));
    return;
  }
  // What UniMat learns here: CSP or de novo generation, unconditioned.
  if (n.conditioned())
    throw Error("--arch unimat takes no --condition (space-group and property conditioning are DiffCSP's)",
                ErrorKind::kUsage);
  if (n.diffuse_types && d.flow())
    throw Error("--arch unimat --task gen diffuses its whole tensor by a Gaussian DDPM (the paper's); --objective flow "
                "is for CSP",
                ErrorKind::kUsage);
  unimat_options_->generate = n.diffuse_types;
  unimat_ = register_module("unimat", UniMatNet(*unimat_options_));
}

DiffusionModel DiffusionModel::from_config(const nlohmann::json& config) {
  std::optional<UniMatOptions> unimat;
  if (config.contains("unimat")) unimat = UniMatOptions::from_json(config.at("unimat"));
  return DiffusionModel(CspNetOptions::from_json(config.at("network")),
                        DiffusionOptions::from_json(config.at("diffusion")), unimat);
}

nlohmann::json DiffusionModel::config() const {
  nlohmann::json j = {{"network", net_options_.to_json()}, {"diffusion", diffusion_options_.to_json()}};
  if (unimat_options_) j["unimat"] = unimat_options_->to_json();
  return j;
}

DiffusionModel DiffusionModel::deep_copy() const {
  DiffusionModel copy(net_options_, diffusion_options_, unimat_options_);
  copy.to(module_device(*this));
  copy_module_state(*this, copy);
  return copy;
}

nlohmann::json DiffusionModel::describe() const {
  int64_t parameters = 0;
  for (const auto& p : this->parameters()) parameters += p.numel();
  return {{"kind", "diffusion"},
          {"network", net_options_.to_json()},  // UniMat: only vocab and conditions apply
          {"unimat", unimat_options_ ? unimat_options_->to_json() : nlohmann::json(nullptr)},
          {"parameters", parameters},
          {"diffusion", diffusion_options_.to_json()},
          {"type_diffusion", net_options_.diffuse_types ? nlohmann::json(net_options_.type_diffusion)
                                                        : nlohmann::json(nullptr)},
          {"spacegroup_conditioning", net_options_.condition_spacegroup}};
}

DenoiserOutput DiffusionModel::denoise(const torch::Tensor& t, const torch::Tensor& atoms, const CrystalBatch& batch,
                                 const torch::Tensor& frac, const torch::Tensor& lattice, const EdgeIndex& edges,
                                 const Condition& condition) {
  if (unimat_) {
    if (condition.any()) throw Error("a UniMat model takes no condition", ErrorKind::kUsage);
    return unimat_->forward(t, atoms, frac, lattice, batch.crystal_of_atom, batch.num_crystals());
  }
  return net_->forward(t, atoms, frac, lattice, edges, batch.crystal_of_atom, batch.num_crystals(), condition);
}

LossParts DiffusionModel::tensor_loss(const CrystalBatch& batch, BatchNoise& noise) {
  const auto dev = batch.frac.device();
  const int64_t b = batch.num_crystals(), L = unimat_options_->slots;
  auto t = noise.randint_per_crystal(1, diffusion_options_.steps + 1).to(dev);
  auto eps_l = noise.randn_per_crystal({3, 3}, batch.lattice.options().device(torch::kCPU)).to(dev);
  auto eps_x = noise.randn_per_crystal({3, L, kTableRows, kTableGroups}, batch.frac.options().device(torch::kCPU)).to(dev);
  auto x0 = unimat_->clean_grid(batch.atom_types, batch.frac, batch.crystal_of_atom, b);
  // One DDPM (the lattice's cosine schedule) for the tensor and the lattice.
  auto xt = processes_.lattice.noise(x0, t, eps_x);
  auto lt = processes_.lattice.noise(batch.lattice, t, eps_l);
  auto out = unimat_->forward_dense(t.to(torch::kFloat32), xt, lt);
  // The loss counts only the cells that hold an element: the rest of the
  // 9 x 18 grid is always empty and decoded as empty.
  const auto cells = unimat_element_cells(net_options_.vocab).to(dev).view({1, 1, 1, kTableRows, kTableGroups});
  const auto weight = cells.to(torch::kFloat32).expand_as(eps_x);
  LossParts parts;
  parts.lattice = torch::mse_loss(out.lattice, eps_l);
  // The network predicts the clean tensor (see UniMatNetImpl::forward_dense).
  parts.coord = ((out.coords.to(torch::kFloat32) - x0).pow(2) * weight).sum() / weight.sum();
  parts.total = diffusion_options_.cost_lattice * parts.lattice + diffusion_options_.cost_coord * parts.coord;
  return parts;
}

LossParts DiffusionModel::loss(const CrystalBatch& batch, BatchNoise& noise) {
  if (unimat_ && generative()) return tensor_loss(batch, noise);
  const auto dev = batch.frac.device();
  const int64_t b = batch.num_crystals();
  // One time per crystal, shared by lattice and coordinates (uniform on 1..T).
  auto t = noise.randint_per_crystal(1, diffusion_options_.steps + 1).to(dev);
  auto eps_l = noise.randn_per_crystal({3, 3}, batch.lattice.options().device(torch::kCPU)).to(dev);
  // Coordinate noise: standard normal for the VE process, uniform on the
  // torus for flow matching (drawn in the same place of the random stream).
  auto cpu_float = batch.frac.options().device(torch::kCPU);
  auto noise_x = (flow() ? noise.rand_per_atom({3}, cpu_float) : noise.randn_per_atom({3}, cpu_float)).to(dev);
  auto lt = processes_.lattice.noise(batch.lattice, t, eps_l);
  auto t_atom = t.index_select(0, batch.crystal_of_atom);
  auto [xt, target] = flow() ? processes_.flow.noise_and_target(batch.frac, t_atom, noise_x, batch.crystal_of_atom, b)
                             : processes_.coords.noise_and_target(batch.frac, t_atom, noise_x);
  // UniMat needs no edges: its grid is the crystal.
  const EdgeIndex edges = unimat_ ? EdgeIndex{} : EdgeIndex::fully_connected(batch.counts, dev, dense_edges_);
  torch::Tensor atoms = batch.atom_types, eps_a, x0_state, xt_state;
  if (d3pm()) {
    x0_state = batch.atom_types - 1;
    auto u = noise.rand_per_atom({}, torch::TensorOptions(torch::kFloat32)).to(dev);
    xt_state = d3pm_.noise(x0_state, t_atom, u);
    atoms = d3pm_.input(xt_state);
  } else if (generative()) {
    const int vocab = net_options_.vocab;
    eps_a = noise.randn_per_atom({vocab}, batch.frac.options().device(torch::kCPU)).to(dev);
    atoms = processes_.types.noise(TypeDdpm::one_hot(batch.atom_types, vocab), t_atom, eps_a);
  }
  Condition labels;
  if (conditioned_on_spacegroup() && batch.spacegroup.defined()) {
    auto keep = noise.rand_per_crystal({}, torch::TensorOptions(torch::kFloat32)).ge(diffusion_options_.condition_drop);
    labels.spacegroup = batch.spacegroup.to(torch::kCPU).mul(keep.to(torch::kInt64)).to(dev);
  }
  if (!net_options_.condition_properties.empty() && batch.properties.defined()) {
    // Each column's label is dropped on its own, so the network also learns
    // every partial condition (targets on a subset of the columns).
    auto y = batch.properties.to(torch::kCPU, torch::kFloat32);
    auto keep = noise.rand_per_crystal({y.size(1)}, torch::TensorOptions(torch::kFloat32)).ge(diffusion_options_.condition_drop);
    labels.properties = torch::where(keep, y, torch::full_like(y, NAN)).to(dev);
  }
  auto out = denoise(t.to(torch::kFloat32), atoms, batch, xt, lt, edges, labels);
  LossParts parts;
  parts.lattice = torch::mse_loss(out.lattice, eps_l);
  parts.coord = torch::mse_loss(out.coords, target);
  parts.crystal_terms = diffusion_options_.cost_lattice * parts.lattice;
  parts.atom_terms = diffusion_options_.cost_coord * parts.coord;
  if (d3pm()) {
    parts.types = d3pm_.loss(out.types, x0_state, xt_state, t_atom, diffusion_options_.d3pm_lambda);
    parts.atom_terms = parts.atom_terms + diffusion_options_.cost_type_d3pm * parts.types;
  } else if (generative()) {
    parts.types = torch::mse_loss(out.types, eps_a);
    parts.atom_terms = parts.atom_terms + diffusion_options_.cost_type * parts.types;
  }
  parts.total = parts.crystal_terms + parts.atom_terms;
  return parts;
}

}  // namespace xtaldiff
