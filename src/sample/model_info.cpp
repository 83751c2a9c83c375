// The description of a model file (model_info.h): what its model says of
// itself (Model::describe), and the model card and sampler defaults where
// the metadata records them.
#include "sample/model_info.h"

#include <fmt/format.h>

#include "model/cdvae_model.h"
#include "sample/cdvae_run.h"

#include "model/cspnet.h"
#include "model/dataset_stats.h"
#include "model/model_file.h"
#include "sample/request.h"

namespace xtaldiff {
namespace {

// The training facts a user asks first, from the metadata.
nlohmann::json training_summary(const nlohmann::json& meta) {
  nlohmann::json out = nlohmann::json::object();
  for (const char* key : {"data", "epochs", "hours", "final_train_loss", "final_val_loss", "holdout_mae", "saved",
                          "weights", "data_parallel", "commands"})
    if (meta.contains(key)) out[key] = meta[key];
  return out;
}

}  // namespace

std::string describe_default_sampler(const nlohmann::json& metadata, bool denovo, bool unimat_tensor) {
  const SamplerDefault d = default_sampler(metadata, denovo, unimat_tensor);
  return fmt::format("{} {} steps{} ({})", sampler_name(d.kind), d.steps,
                     d.anneal >= 0 ? fmt::format(", anneal {}", d.anneal) : "", d.source);
}

nlohmann::json describe_model_file(const std::string& path) {
  LoadedArchive a = read_model_file(path);
  const Model& model = a.ema ? *a.ema : *a.model;
  nlohmann::json j = model.describe();
  j["file"] = path;
  j["task"] = a.task;
  j["arch"] = a.arch;
  j["training"] = training_summary(a.state.metadata);
  if (a.arch == "cdvae") {
    const auto& l = j["langevin"];
    const auto& cdvae = dynamic_cast<const CdvaeModel&>(model);
    const int steps = cdvae_default_steps(a.state.metadata, cdvae.options());
    const std::string langevin =
        fmt::format("annealed Langevin, {} steps per noise level x {} levels, step_lr {:g}, a final denoising step "
                    "({})",
                    steps, j["noise_levels"].get<int>(), l["step_lr"].get<double>(),
                    steps == cdvae.options().steps_per_level && !a.state.metadata.contains("sampler_defaults")
                        ? "built-in"
                        : "model");
    j["default_sampler"] = {{"gen", langevin}, {"reconstruct", langevin}};
  } else if (a.arch == "unimat" && a.task == "gen") {  // whole crystals only
    j["default_sampler"] = {{"gen", describe_default_sampler(a.state.metadata, true, true)}};
  } else if (a.task == "csp" || a.task == "gen") {
    j["default_sampler"] = {{"csp", describe_default_sampler(a.state.metadata, false)}};
    if (a.task == "gen") j["default_sampler"]["gen"] = describe_default_sampler(a.state.metadata, true);
  }
  const DatasetStats stats = DatasetStats::from_metadata(a.state.metadata);
  if (!stats.empty()) {
    const nlohmann::json full = stats.to_json();
    j["dataset_stats"] = {{"crystals", stats.crystals},
                          {"atom_counts", full["num_atoms"]},
                          {"elements", stats.elements.size()},
                          {"lattice_max_length", stats.lattice_max_length > 0 ? nlohmann::json(stats.lattice_max_length)
                                                                              : nlohmann::json(nullptr)}};
    if (!stats.spacegroups.empty()) j["dataset_stats"]["spacegroups"] = full["spacegroups"];  // number → crystals
  }
  if (j.contains("network")) {
    const auto net = CspNetOptions::from_json(j["network"]);
    j["property_conditioning"] = nlohmann::json::array();
    for (std::size_t k = 0; k < net.condition_properties.size(); ++k) {
      const auto& col = net.condition_properties[k];
      const auto labels = stats.properties.find(col);
      j["property_conditioning"].push_back({{"column", col},
                                            {"mean", net.property_mean[k]},
                                            {"stddev", net.property_stddev[k]},
                                            {"labelled", labels == stats.properties.end() ? 0L : labels->second.labelled}});
    }
  }
  return j;
}


}  // namespace xtaldiff
