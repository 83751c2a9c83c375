#include "model/registry.h"

#include <algorithm>

#include "model/cdvae_model.h"
#include "model/composition_model.h"
#include "model/diffusion_model.h"
#include "model/property_model.h"
#include "util/error.h"

namespace xtaldiff {

bool Architecture::trains(const std::string& task) const {
  return std::find(tasks.begin(), tasks.end(), task) != tasks.end();
}

const std::vector<Architecture>& architectures() {
  static const std::vector<Architecture> all = {
      {"diffcsp",
       "DiffCSP's periodic GNN with lattice DDPM, torus VE score or flow coordinates and (gen) DDPM / D3PM types",
       {"csp", "gen"},
       [](const nlohmann::json& config) -> std::unique_ptr<Model> {
         return std::make_unique<DiffusionModel>(DiffusionModel::from_config(config));
       }},
      {"unimat",
       "UniMat's 3D U-Net over the periodic-table tensor (slots x rows x groups) with the same lattice and coordinate "
       "processes (CSP), or the whole tensor diffused by a Gaussian DDPM (gen)",
       {"csp", "gen"},
       [](const nlohmann::json& config) -> std::unique_ptr<Model> {
         if (!config.contains("unimat")) throw Error("a unimat model's configuration has no \"unimat\" object");
         return std::make_unique<DiffusionModel>(DiffusionModel::from_config(config));
       }},
      {"cdvae",
       "CDVAE: a GNN encoder to a latent z, heads for atom count / composition / lattice (/ properties), and a "
       "z-conditioned score decoder sampled by annealed Langevin dynamics (generation, reconstruction)",
       {"gen"},
       [](const nlohmann::json& config) -> std::unique_ptr<Model> {
         return std::make_unique<CdvaeModel>(CdvaeModel::from_config(config));
       }},
      {"property-gnn",
       "the periodic GNN encoder with a per-crystal head: a noise-aware property predictor for guidance and predict",
       {"property"},
       [](const nlohmann::json& config) -> std::unique_ptr<Model> {
         return std::make_unique<PropertyModel>(PropertyModel::from_config(config));
       }},
      {"composition-d3pm",
       "a transformer over formula tokens with absorbing-state discrete diffusion: new compositions (DiffusionBERT-style)",
       {"composition"},
       [](const nlohmann::json& config) -> std::unique_ptr<Model> {
         return std::make_unique<CompositionModel>(CompositionModel::from_config(config));
       }},
  };
  return all;
}

namespace {
std::string registered_names() {
  std::string names;
  for (const auto& a : architectures()) names += (names.empty() ? "" : ", ") + a.name;
  return names;
}
}  // namespace

const Architecture& find_architecture(const std::string& name) {
  for (const auto& a : architectures())
    if (a.name == name) return a;
  throw Error("no architecture '" + name + "' (registered: " + registered_names() + ")", ErrorKind::kUsage);
}

const Architecture& default_architecture(const std::string& task) {
  for (const auto& a : architectures())
    if (a.trains(task)) return a;
  throw Error("no architecture trains task '" + task + "'", ErrorKind::kUsage);
}

std::unique_ptr<Model> build_model(const std::string& arch, const nlohmann::json& config) {
  return find_architecture(arch).build(config);
}

std::unique_ptr<Model> copy_model(const Model& model) {
  auto copy = build_model(model.arch(), model.config());
  copy->to(module_device(model));
  copy_module_state(model, *copy);
  return copy;
}

}  // namespace xtaldiff
