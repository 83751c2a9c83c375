// `xtaldiff train --task csp --data DATASET --out MODEL [--arch NAME]`: the
// option table of training; train/architectures.h picks the architecture's
// trainer (the recipes: train/trainer.h, train/property_trainer.h).
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <fstream>

#include "cli/commands.h"
#include "cli/ranks.h"
#include "model/registry.h"
#include "train/architectures.h"
#include "util/error.h"
#include "util/file_io.h"

namespace xtaldiff::cli {
namespace {

struct TrainCli {
  TrainRequest r;
  std::string config = "small";
  std::string condition;             // "spacegroup": classifier-free conditioning
  std::string type_diffusion;        // --task gen: ddpm or d3pm (default: the config's)
  std::string objective;             // coordinates: score or flow (default: the config's)
  std::string batching = "random";   // which crystals share a batch (train/batch_plan.h)
  RankOptions ranks;
};

// --config: a preset name or a JSON file {"network": {...}, "diffusion": {...}}.
void apply_config(const std::string& config, TrainOptions& t) {
  if (config == "tiny" || config == "small" || config == "base") {
    t.net = CspNetOptions::preset(config);
    return;
  }
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(read_file(config));
  } catch (const nlohmann::json::exception& e) {
    throw Error(config + ": not valid JSON (" + e.what() + ")");
  }
  if (j.contains("network")) t.net = CspNetOptions::from_json(j["network"]);
  if (j.contains("diffusion")) t.diffusion = DiffusionOptions::from_json(j["diffusion"]);
}

// --condition: "spacegroup" and / or dataset columns, comma-separated.
void apply_conditions(const std::string& condition, CspNetOptions& net) {
  std::string rest = condition;
  while (!rest.empty()) {
    const auto comma = rest.find(',');
    const std::string item = rest.substr(0, comma);
    rest = comma == std::string::npos ? "" : rest.substr(comma + 1);
    if (item.empty()) throw Error("--condition " + condition + ": empty entry", ErrorKind::kUsage);
    auto& props = net.condition_properties;
    if (item == "spacegroup") {
      net.condition_spacegroup = true;
    } else if (std::find(props.begin(), props.end(), item) != props.end()) {
      throw Error("--condition " + condition + ": '" + item + "' twice", ErrorKind::kUsage);
    } else {
      props.push_back(item);  // checked against the dataset's columns by the trainer
    }
  }
}

// Flags that belong to one task; the architecture's trainer checks the rest.
void check_task_flags(const TrainCli& c) {
  const std::string& task = c.r.task;
  if ((task == "property") != !c.r.columns.empty())
    throw Error(task == "property" ? "--task property needs --column NAME (the property to predict)"
                                   : "--column is for --task property",
                ErrorKind::kUsage);
  if (!c.type_diffusion.empty() && task != "gen") throw Error("--type-diffusion is for --task gen", ErrorKind::kUsage);
  if (!c.objective.empty() && task != "csp" && task != "gen")
    throw Error("--objective is for --task csp or gen", ErrorKind::kUsage);
  if (!c.condition.empty() && task == "property") throw Error("--condition is for --task csp or gen", ErrorKind::kUsage);
}

void run_train(TrainCli& c, const std::string& command_line) {
  check_task_flags(c);
  TrainOptions& t = c.r.options;
  c.r.config = c.config;
  if (c.r.task != "composition") apply_config(c.config, t);  // the composition trainer reads its own
  if (!c.type_diffusion.empty()) {
    if (c.type_diffusion != "ddpm" && c.type_diffusion != "d3pm")
      throw Error("--type-diffusion " + c.type_diffusion + ": ddpm (DiffCSP's one-hot vectors) or d3pm "
                  "(absorbing-state discrete diffusion)", ErrorKind::kUsage);
    t.net.type_diffusion = c.type_diffusion;
  }
  if (!c.objective.empty()) {
    if (c.objective != "score" && c.objective != "flow")
      throw Error("--objective " + c.objective + ": score (DiffCSP's VE score on the torus) or flow (geodesic flow "
                  "matching, precise in few steps)", ErrorKind::kUsage);
    t.diffusion.coord_objective = c.objective;
  }
  apply_conditions(c.condition, t.net);
  t.batching = parse_batching(c.batching);
  t.command_line = command_line;
  if (launched_as_ranks(c.ranks)) return;
  const std::unique_ptr<Distributed> dist = join_ranks(c.ranks);
  if (dist) {
    t.dist = dist.get();
    t.device = device_of_rank(t.device, t.dist);
    // The same training on one machine (ranks give the weights of one
    // process with their joint batch, whatever started them).
    t.command_line += fmt::format(" --nproc {}", dist->world_size());
    if (t.threads == 0) t.threads = dist->threads_per_rank();
    if (!dist->is_root()) t.quiet = true;  // rank 0 speaks for the run
  }
  const TrainReport report = train_architecture(c.r);
  if (dist && !dist->is_root()) return;
  fmt::print(stderr, "{}\n", report.summary);
}

std::string architecture_help() {
  std::string help = "model architecture (default: the task's first):";
  for (const auto& a : architectures()) {
    std::string tasks;
    for (const auto& task : a.tasks) tasks += (tasks.empty() ? "" : "/") + task;
    help += "\n  " + a.name + " (" + tasks + "): " + a.summary;
  }
  return help;
}

}  // namespace

void add_train_command(CLI::App& app) {
  auto c = std::make_shared<TrainCli>();
  auto cmdline = std::make_shared<std::string>();
  CLI::App* cmd = app.add_subcommand("train", "Train a diffusion model on a dataset");
  cmd->add_option("--task", c->r.task, "csp (structures for given compositions), gen (de novo: atom types diffused too), property or composition (formulas)")->capture_default_str();
  cmd->add_option("--arch", c->r.arch, architecture_help());
  cmd->add_option("--data", c->r.options.data, "training set (CDVAE CSV or any structure file)")->required();
  cmd->add_option("--val", c->r.options.val_data, "validation set (default: the 'val' file beside a 'train' file)");
  cmd->add_option("--out", c->r.options.out, "model file to write (checkpoint: OUT.ckpt, log: OUT.log)")->required();
  cmd->add_option("--config", c->config, "network size: tiny, small, base, or a JSON file")->capture_default_str();
  cmd->add_option("--epochs", c->r.options.epochs, "epochs to train (in all, counting resumed ones)")->capture_default_str();
  cmd->add_option("--hours", c->r.options.max_hours, "stop after this many hours of this session (0: no limit)")->capture_default_str();
  cmd->add_option("--batch", c->r.options.batch, "crystals per batch (per rank with several ranks)")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--batching", c->batching,
                  "size (crystals of one atom count share a batch: the dense edge layout, faster on mixed sizes) or "
                  "random (a plain shuffle)")->capture_default_str();
  cmd->add_option("--lr", c->r.options.lr, "Adam learning rate")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--threads", c->r.options.threads, "CPU threads (0: all cores)")->capture_default_str();
  cmd->add_option("--device", c->r.options.device, "cpu or cuda")->capture_default_str();
  cmd->add_flag("--resume", c->r.options.resume, "continue from OUT.ckpt when it exists");
  cmd->add_option("--init", c->r.options.init,
                  "start a new run from this model's weights (parameters of the same name and shape; e.g. to add "
                  "a --condition to a trained model)");
  cmd->add_option("--seed", c->r.options.seed, "random seed")->capture_default_str();
  cmd->add_option("--checkpoint-minutes", c->r.options.checkpoint_minutes, "minutes between checkpoints")->capture_default_str();
  cmd->add_option("--val-max", c->r.options.val_max, "validation crystals per epoch")->capture_default_str();
  cmd->add_option("--column", c->r.columns, "--task property: dataset column(s) to predict (repeat for several)");
  cmd->add_option("--holdout", c->r.holdout, "--task property: share of labelled rows held out")->capture_default_str();
  cmd->add_option("--type-diffusion", c->type_diffusion,
                  "--task gen: ddpm (DiffCSP, default) or d3pm (absorbing-state, as MatterGen)");
  cmd->add_option("--objective", c->objective,
                  "how coordinates are learned: score (DiffCSP's VE score, default) or flow (geodesic flow matching on "
                  "the torus, precise in few ODE steps)");
  cmd->add_option("--condition", c->condition,
                  "spacegroup and / or dataset columns (comma-separated): learn p(crystal | labels) and p(crystal) in one "
                  "network (classifier-free guidance); --task composition: dataset columns and num_elements");
  cmd->add_flag("-q,--quiet", c->r.options.quiet, "no progress output");
  add_rank_options(cmd, c->ranks);
  cmd->callback([c, cmd] {
    std::string line = "xtaldiff train";
    for (const auto& [name, value] : std::vector<std::pair<std::string, std::string>>{
             {"--task", c->r.task}, {"--data", c->r.options.data}, {"--out", c->r.options.out}, {"--config", c->config},
             {"--epochs", std::to_string(c->r.options.epochs)}, {"--batch", std::to_string(c->r.options.batch)},
             {"--lr", fmt::format("{}", c->r.options.lr)}, {"--seed", std::to_string(c->r.options.seed)}})
      line += " " + name + " " + value;
    if (c->r.options.max_hours > 0) line += fmt::format(" --hours {}", c->r.options.max_hours);
    if (c->r.options.resume) line += " --resume";
    if (!c->r.options.init.empty()) line += " --init " + c->r.options.init;
    if (!c->r.arch.empty()) line += " --arch " + c->r.arch;
    if (!c->condition.empty()) line += " --condition " + c->condition;
    if (!c->type_diffusion.empty()) line += " --type-diffusion " + c->type_diffusion;
    if (!c->objective.empty()) line += " --objective " + c->objective;
    if (c->batching != "random") line += " --batching " + c->batching;
    for (const auto& col : c->r.columns) line += " --column " + col;
    (void)cmd;
    run_train(*c, line);
  });
}

}  // namespace xtaldiff::cli
