#include "model/property_model.h"

#include "diffusion/torus_wrap.h"
#include "model/model_file.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <numeric>
#include <random>

#include "io/formats.h"
#include "ml/runtime.h"
#include "util/clock.h"
#include "util/error.h"
#include "util/strings.h"

namespace xtaldiff {

NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(PropertyOptions, columns, mean, stddev, steps, sigma_begin, sigma_end)

nlohmann::json PropertyOptions::to_json() const { return *this; }

PropertyOptions PropertyOptions::from_json(const nlohmann::json& j) {
  const PropertyOptions o = j.get<PropertyOptions>();
  if (o.columns.empty() || o.mean.size() != o.columns.size() || o.stddev.size() != o.columns.size())
    throw Error("property model options are inconsistent: " + j.dump());
  return o;
}

PropertyTarget PropertyTarget::parse(const std::string& text) {
  PropertyTarget t;
  const auto pos = text.find_first_of("=<>");
  if (pos == std::string::npos || pos == 0)
    throw Error("--target " + text + ": expected COLUMN=VALUE, COLUMN<VALUE or COLUMN>VALUE", ErrorKind::kUsage);
  t.column = std::string(trim(text.substr(0, pos)));
  t.kind = text[pos] == '=' ? Kind::kEqual : text[pos] == '<' ? Kind::kBelow : Kind::kAbove;
  const std::string value(trim(text.substr(pos + 1)));
  try {
    std::size_t used = 0;
    t.value = std::stod(value, &used);
    if (used != value.size() || !std::isfinite(t.value)) throw std::invalid_argument("");
  } catch (const std::exception&) {
    throw Error("--target " + text + ": '" + value + "' is not a number", ErrorKind::kUsage);
  }
  return t;
}

torch::Tensor PropertyTarget::penalty(const torch::Tensor& y, double scale) const {
  auto d = (y - value) * scale;
  switch (kind) {
    case Kind::kEqual: return d * d;
    case Kind::kBelow: return torch::relu(d).pow(2);
    case Kind::kAbove: return torch::relu(-d).pow(2);
  }
  return d * d;
}

bool PropertyTarget::met(double y, double tolerance) const {
  switch (kind) {
    case Kind::kEqual: return std::abs(y - value) <= tolerance;
    case Kind::kBelow: return y < value;
    case Kind::kAbove: return y > value;
  }
  return false;
}

std::string PropertyTarget::describe() const {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%g", value);
  return column + (kind == Kind::kEqual ? "=" : kind == Kind::kBelow ? "<" : ">") + buf;
}

PropertyModel::PropertyModel(const CspNetOptions& encoder, const PropertyOptions& options)
    : encoder_options_(encoder),
      options_(options),
      encoder_(encoder),
      processes_(options.steps, options.sigma_begin, options.sigma_end) {
  if (!encoder.diffuse_types) throw Error("a property model's encoder takes type vectors (diffuse_types)");
  const int h = encoder.hidden, k = static_cast<int>(options.columns.size());
  head_ = torch::nn::Sequential(torch::nn::Linear(h, h), torch::nn::SiLU(), torch::nn::Linear(h, k));
  register_module("encoder", encoder_);
  register_module("head", head_);
}

PropertyModel PropertyModel::from_config(const nlohmann::json& config) {
  return PropertyModel(CspNetOptions::from_json(config.at("encoder")), PropertyOptions::from_json(config.at("property")));
}

nlohmann::json PropertyModel::config() const {
  return {{"encoder", encoder_options_.to_json()}, {"property", options_.to_json()}};
}

nlohmann::json PropertyModel::describe() const {
  return {{"kind", "property"}, {"columns", options_.columns}, {"encoder", encoder_options_.to_json()},
          {"steps", options_.steps}};
}

LossParts PropertyModel::loss(const CrystalBatch& batch, BatchNoise& noise) {
  if (!batch.properties.defined()) throw Error("a property model's training batch has no labels");
  LossParts parts;
  parts.total = loss(batch, batch.properties, noise);
  parts.crystal_terms = parts.total;
  return parts;
}

int PropertyModel::column_index(const std::string& name) const {
  for (std::size_t i = 0; i < options_.columns.size(); ++i)
    if (options_.columns[i] == name) return static_cast<int>(i);
  std::string have;
  for (const auto& c : options_.columns) have += (have.empty() ? "" : ", ") + c;
  throw Error("the property model predicts " + have + "; it has no column '" + name + "'", ErrorKind::kUsage);
}

std::pair<torch::Tensor, torch::Tensor> PropertyModel::standardisation(const torch::TensorOptions& o) const {
  return {torch::tensor(options_.mean, torch::kFloat64).to(o), torch::tensor(options_.stddev, torch::kFloat64).to(o)};
}

torch::Tensor PropertyModel::predict(const torch::Tensor& t, const torch::Tensor& types, const torch::Tensor& frac,
                                     const torch::Tensor& lattice, const EdgeIndex& edges,
                                     const torch::Tensor& crystal_of_atom, int64_t num_crystals) {
  auto graph = encoder_->encode(t, types, frac, lattice, edges, crystal_of_atom, num_crystals).second;
  auto z = head_->forward(graph);
  const auto [mean, sd] = standardisation(z.options());
  return z * sd + mean;
}

torch::Tensor PropertyModel::predict_clean(const CrystalBatch& b) {
  const auto dev = b.frac.device();
  const EdgeIndex edges = EdgeIndex::fully_connected(b.counts, dev);
  auto t = torch::zeros({b.num_crystals()}, b.frac.options());
  return predict(t, TypeDdpm::one_hot(b.atom_types, encoder_options_.vocab), b.frac, b.lattice, edges,
                 b.crystal_of_atom, b.num_crystals());
}

torch::Tensor PropertyModel::loss(const CrystalBatch& b, const torch::Tensor& labels, BatchNoise& noise) {
  const auto dev = b.frac.device();
  const int64_t nb = b.num_crystals();
  const auto cpu = b.frac.options().device(torch::kCPU);
  // Half the crystals clean (t = 0: what `predict` and the final report
  // see), half at t ~ U{1..T} (what guidance sees along the way).
  auto t = noise.randint_per_crystal(1, options_.steps + 1);
  auto clean = noise.rand_per_crystal({}, torch::TensorOptions(torch::kFloat32)) < 0.5;
  t = torch::where(clean, torch::zeros_like(t), t).to(dev);
  auto eps_l = noise.randn_per_crystal({3, 3}, cpu).to(dev);
  auto eps_x = noise.randn_per_atom({3}, cpu).to(dev);
  auto eps_a = noise.randn_per_atom({encoder_options_.vocab}, cpu).to(dev);
  auto t_atom = t.index_select(0, b.crystal_of_atom);
  auto lt = processes_.lattice.noise(b.lattice, t, eps_l);
  auto xt = b.frac + processes_.coords.sigma_of(t_atom, b.frac.options()).unsqueeze(-1) * eps_x;
  xt = frac_mod1(xt);
  auto at = processes_.types.noise(TypeDdpm::one_hot(b.atom_types, encoder_options_.vocab), t_atom, eps_a);
  const EdgeIndex edges = EdgeIndex::fully_connected(b.counts, dev);
  auto graph = encoder_->encode(t.to(torch::kFloat32), at, xt, lt, edges, b.crystal_of_atom, nb).second;
  auto z = head_->forward(graph);
  const auto [mean, sd] = standardisation(z.options());
  auto target = (labels.to(z.options()) - mean) / sd;
  auto known = torch::isfinite(target);
  auto diff = torch::where(known, z - target.nan_to_num(0.0), torch::zeros_like(z));
  return diff.pow(2).sum() / known.sum().clamp_min(1);
}

std::vector<std::vector<double>> predict_structures(PropertyModel& model, const std::vector<Structure>& structures,
                                                    const torch::Device& device, int batch) {
  torch::NoGradGuard no_grad;
  model.to(device);
  model.train(false);
  std::vector<std::vector<double>> out;
  for (std::size_t start = 0; start < structures.size(); start += batch) {
    std::vector<Structure> canon;
    const std::size_t end = std::min(structures.size(), start + batch);
    for (std::size_t i = start; i < end; ++i) canon.push_back(canonical_structure(structures[i]));
    std::vector<const Structure*> ptrs;
    for (const auto& s : canon) ptrs.push_back(&s);
    auto y = model.predict_clean(make_batch(ptrs).to(device)).to(torch::kCPU, torch::kFloat64).contiguous();
    auto a = y.accessor<double, 2>();
    for (int64_t i = 0; i < y.size(0); ++i) {
      std::vector<double> row(y.size(1));
      for (int64_t k = 0; k < y.size(1); ++k) row[k] = a[i][k];
      out.push_back(row);
    }
  }
  return out;
}

LoadedPropertyModel load_property_model(const std::string& path) {
  LoadedArchive archive = read_model_file(path);
  if (!dynamic_cast<PropertyModel*>(archive.model.get()))
    throw Error(path + ": a " + archive.task + " model, not a property model (train one with `xtaldiff train --task "
                "property`)", ErrorKind::kUsage);
  return {std::unique_ptr<PropertyModel>(static_cast<PropertyModel*>(archive.model.release())),
          std::move(archive.state.metadata)};
}

}  // namespace xtaldiff
