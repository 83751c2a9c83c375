// `xtaldiff model FILE`: what a model file is and how it was trained (a
// diffusion model or a property predictor), without sampling anything.
#include <fmt/format.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "crystal/symmetry.h"
#include "model/dataset_stats.h"
#include "model/model_file.h"
#include "model/registry.h"
#include "sample/model_info.h"
#include "sample/request.h"
#include "util/error.h"

namespace xtaldiff::cli {
namespace {

struct ModelCli {
  std::string path;
  bool json = false;
  std::vector<std::string> set_default_sampler;  // "csp=ode:100:10"
  std::string out;                              // rewritten model file (default: in place)
};

// `--set-default-sampler TASK=SAMPLER:STEPS[:ANNEAL]`: what "auto" runs for
// this model, from a measured sweep; the weights are written back unchanged.
// A CDVAE: gen=langevin:STEPS (Langevin steps per noise level).
void set_cdvae_default(const ModelCli& c, LoadedArchive& a) {
  auto& defaults = a.state.metadata["sampler_defaults"];
  if (!defaults.is_object()) defaults = nlohmann::json::object();
  for (const auto& item : c.set_default_sampler) {
    const std::string usage = "--set-default-sampler " + item + ": a CDVAE takes gen=langevin:STEPS (steps per level)";
    if (item.rfind("gen=langevin:", 0) != 0) throw Error(usage, ErrorKind::kUsage);
    const std::string n = item.substr(13);
    if (n.empty() || n.size() > 5 || n.find_first_not_of("0123456789") != std::string::npos || std::stoi(n) < 1)
      throw Error(usage, ErrorKind::kUsage);
    defaults["gen"] = {{"sampler", "langevin"}, {"steps", std::stoi(n)}};
  }
  const std::string out = c.out.empty() ? c.path : c.out;
  save_model_file(out, *a.model, a.ema.get(), a.state);
  fmt::print("{}: auto is now {} steps per noise level\n", out, defaults["gen"]["steps"].get<int>());
}

void set_default_samplers(const ModelCli& c) {
  {
    LoadedArchive a = read_model_file(c.path);
    if (a.arch == "cdvae") return set_cdvae_default(c, a);
  }
  LoadedModel m = load_model_file(c.path);
  auto& defaults = m.state.metadata["sampler_defaults"];
  if (!defaults.is_object()) defaults = nlohmann::json::object();
  for (const auto& item : c.set_default_sampler) {
    const auto eq = item.find('=');
    const std::string task = item.substr(0, eq);
    if (eq == std::string::npos || (task != "csp" && task != "gen"))
      throw Error("--set-default-sampler " + item + ": expected csp=SAMPLER:STEPS[:ANNEAL] or gen=...",
                  ErrorKind::kUsage);
    if (task == "gen" && !m.for_sampling().generative())
      throw Error("--set-default-sampler " + item + ": " + c.path + " is a CSP model; it samples no de novo crystals",
                  ErrorKind::kUsage);
    nlohmann::json d = parse_sampler_default(item.substr(eq + 1));
    if (d.contains("anneal") && d["anneal"].get<double>() > 0 && !m.for_sampling().flow())
      throw Error("--set-default-sampler " + item + ": anneal is for flow models", ErrorKind::kUsage);
    if (d["steps"].get<int>() > m.for_sampling().diffusion_options().steps)
      throw Error("--set-default-sampler " + item + ": more steps than the model's T", ErrorKind::kUsage);
    defaults[task] = d;
  }
  const std::string out = c.out.empty() ? c.path : c.out;
  save_model_file(out, *m.model, m.ema.get(), m.state);
  const DiffusionModel& model = m.for_sampling();
  if (model.unimat_options() && model.generative())
    fmt::print("{}: auto is now {} de novo\n", out, describe_default_sampler(m.state.metadata, true, true));
  else
    fmt::print("{}: auto is now {} for CSP{}\n", out, describe_default_sampler(m.state.metadata, false),
               model.generative() ? ", " + describe_default_sampler(m.state.metadata, true) + " de novo" : "");
}

void run_model(const ModelCli& c) {
  if (!c.set_default_sampler.empty()) return set_default_samplers(c);
  if (!c.out.empty()) throw Error("--out is for --set-default-sampler", ErrorKind::kUsage);
  const nlohmann::json j = describe_model_file(c.path);
  if (c.json) {
    fmt::print("{}\n", j.dump(2));
    return;
  }
  fmt::print("{}: {} model ({}, architecture {})\n", c.path, j["kind"].get<std::string>(), j["task"].get<std::string>(),
             j["arch"].get<std::string>());
  if (j["kind"] == "diffusion") {
    const auto& net = j["network"];
    const auto& unimat = j.value("unimat", nlohmann::json(nullptr));
    if (unimat.is_null()) {
      fmt::print("  network: hidden {}, {} layers, {} frequencies, {} parameters\n", net["hidden"].get<int>(),
                 net["layers"].get<int>(), net["num_freqs"].get<int>(), j["parameters"].get<int64_t>());
    } else {
      std::string mults;
      for (const auto& m : unimat["multipliers"]) mults += (mults.empty() ? "" : ",") + std::to_string(m.get<int>());
      fmt::print("  network: UniMat U-Net over {} slots x 9 rows x 18 groups, width {} x ({}), {} residual blocks per "
                 "level, attention at {} levels, {} parameters\n",
                 unimat["slots"].get<int>(), unimat["width"].get<int>(), mults, unimat["res_blocks"].get<int>(),
                 unimat["attention_levels"].get<int>(), j["parameters"].get<int64_t>());
    }
    if (!unimat.is_null() && unimat.value("generate", false))
      fmt::print("  diffusion: T = {}, the whole tensor (x0-predicted) and the lattice by one Gaussian DDPM\n",
                 j["diffusion"]["steps"].get<int>());
    else
      fmt::print("  diffusion: T = {}, coordinates by {}{}{}\n", j["diffusion"]["steps"].get<int>(),
                 j["diffusion"].value("coord_objective", "score") == "flow" ? "flow matching (velocity)"
                                                                           : "VE score (DiffCSP)",
                 j["type_diffusion"].is_null() ? "" : ", atom types by " + j["type_diffusion"].get<std::string>(),
                 j["spacegroup_conditioning"].get<bool>() ? ", space-group conditioned (--spacegroup)" : "");
    for (const auto& p : j["property_conditioning"])
      fmt::print("  conditioned on {} (--target; {} labelled crystals, mean {:.4g}, stddev {:.4g})\n",
                 p["column"].get<std::string>(), p["labelled"].get<long>(), p["mean"].get<double>(),
                 p["stddev"].get<double>());
    if (j.contains("dataset_stats"))
      fmt::print("  trained on {} crystals ({} elements)\n", j["dataset_stats"]["crystals"].get<long>(),
                 j["dataset_stats"]["elements"].get<std::size_t>());
    if (j.contains("dataset_stats") && j["dataset_stats"].contains("spacegroups")) {
      std::vector<std::pair<long, std::string>> groups;
      for (const auto& [sg, n] : j["dataset_stats"]["spacegroups"].items()) groups.push_back({n.get<long>(), sg});
      std::sort(groups.rbegin(), groups.rend());
      std::string top;
      for (std::size_t i = 0; i < std::min<std::size_t>(6, groups.size()); ++i)
        top += fmt::format("{}{} ({})", i ? ", " : "", groups[i].second, groups[i].first);
      fmt::print("  space groups in training (symprec {}): {} distinct; most common {}\n", kDefaultSymprec, groups.size(), top);
    }
  } else if (j["kind"] == "cdvae") {
    fmt::print("  CDVAE: encoder GNN hidden {}, {} layers -> latent {} (KL weight {:g}); heads: atom count (0..{}), "
               "composition, lattice{}; decoder GNN hidden {}, {} layers; {} parameters\n",
               j["encoder"]["hidden"].get<int>(), j["encoder"]["layers"].get<int>(), j["latent_dim"].get<int>(),
               j["beta"].get<double>(), j["max_atoms"].get<int>(), j["properties"].empty() ? "" : ", properties",
               j["decoder"]["hidden"].get<int>(), j["decoder"]["layers"].get<int>(), j["parameters"].get<int64_t>());
    fmt::print("  noise: {} levels, coordinates sigma {:g} -> {:g} A, types {:g} -> {:g}\n",
               j["noise_levels"].get<int>(), j["sigma"][0].get<double>(), j["sigma"][1].get<double>(),
               j["type_sigma"][0].get<double>(), j["type_sigma"][1].get<double>());
    for (const auto& col : j["properties"])
      fmt::print("  property head: {} (--target moves the latents towards a value){}\n", col.get<std::string>(),
                 j.value("conditional_prior", false) ? "; conditioned prior p(z | values) (--target COLUMN=VALUE)" : "");
    if (j.contains("dataset_stats"))
      fmt::print("  trained on {} crystals ({} elements)\n", j["dataset_stats"]["crystals"].get<long>(),
                 j["dataset_stats"]["elements"].get<std::size_t>());
  } else if (j["kind"] == "composition") {
    const auto& net = j["transformer"];
    const auto& voc = j["vocabulary"];
    fmt::print("  transformer: width {}, {} layers, {} heads, {} parameters\n", net["dim"].get<int>(),
               net["layers"].get<int>(), net["heads"].get<int>(), j["parameters"].get<int64_t>());
    fmt::print("  formulas: up to {} elements, each up to {} times per cell ({} tokens); absorbing-state diffusion, "
               "T = {}\n",
               voc["max_elements"].get<int>(), voc["max_count"].get<int>(), voc["tokens"].get<int>(),
               j["diffusion"]["steps"].get<int>());
    std::string conds;
    for (const auto& col : j["conditions"]) conds += (conds.empty() ? "" : ", ") + col.get<std::string>();
    if (!conds.empty()) fmt::print("  conditioned on {} (--target COLUMN=VALUE, --guidance)\n", conds);
    if (j.contains("dataset_stats"))
      fmt::print("  trained on {} crystals ({} elements)\n", j["dataset_stats"]["crystals"].get<long>(),
                 j["dataset_stats"]["elements"].get<std::size_t>());
  } else {
    std::string cols;
    for (const auto& col : j["columns"]) cols += (cols.empty() ? "" : ", ") + col.get<std::string>();
    fmt::print("  predicts: {}\n", cols);
  }
  if (j.contains("default_sampler"))
    for (const auto& [task, d] : j["default_sampler"].items())
      fmt::print("  sampler auto ({}): {}\n", task, d.get<std::string>());
  const auto& t = j["training"];
  if (t.contains("epochs") && t.contains("hours"))
    fmt::print("  training: {} epochs, {:.2f} h on {}\n", t["epochs"].dump(), t["hours"].get<double>(),
               t.value("data", std::string("?")));
  if (t.contains("commands"))
    for (const auto& cmd : t["commands"]) fmt::print("  command: {}\n", cmd.get<std::string>());
}

}  // namespace

void add_model_command(CLI::App& app) {
  auto c = std::make_shared<ModelCli>();
  CLI::App* cmd = app.add_subcommand("model", "Describe a model file: task, network, how it was trained");
  cmd->add_option("file", c->path, "model file (.xtd)")->required();
  cmd->add_flag("--json", c->json, "one JSON object");
  cmd->add_option("--set-default-sampler", c->set_default_sampler,
                  "record what --sampler auto runs for this model: csp=SAMPLER:STEPS[:ANNEAL] or gen=... (repeatable), "
                  "e.g. csp=ode:100:10 from a measured sweep");
  cmd->add_option("--out", c->out, "with --set-default-sampler: write the model here (default: in place)");
  cmd->callback([c] { run_model(*c); });
}

}  // namespace xtaldiff::cli
