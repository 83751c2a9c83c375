// `xtaldiff train --task csp --data DATASET --out MODEL`: trains a diffusion
// model (see src/train/trainer.h for the recipe).
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <fstream>

#include "cli/commands.h"
#include "model/property_model.h"
#include "train/property_trainer.h"
#include "train/trainer.h"
#include "util/error.h"
#include "util/file_io.h"

namespace xtaldiff::cli {
namespace {

struct TrainCli {
  TrainOptions t;
  std::string task = "csp";
  std::string config = "small";
  std::string dataset_kind;  // perov_5 / carbon_24 / mp_20: DiffCSP's Langevin step for the dataset
  std::vector<std::string> columns;  // --task property
  double holdout = 0.1;
  std::string condition;             // "spacegroup": classifier-free conditioning
  std::string type_diffusion;        // --task gen: ddpm or d3pm (default: the config's)
  std::string objective;             // coordinates: score or flow (default: the config's)
  std::string batching = "random";   // which crystals share a batch (train/batch_plan.h)
};

void run_train_property(TrainCli& c, const std::string& command_line) {
  PropertyTrainOptions p;
  p.data = c.t.data;
  p.out = c.t.out;
  p.columns = c.columns;
  p.encoder = c.t.net;
  p.steps = c.t.diffusion.steps;
  p.epochs = c.t.epochs;
  p.max_hours = c.t.max_hours;
  p.batch = c.t.batch;
  p.lr = c.t.lr;
  p.holdout = c.holdout;
  p.threads = c.t.threads;
  p.device = c.t.device;
  p.seed = c.t.seed;
  p.quiet = c.t.quiet;
  p.resume = c.t.resume;
  p.command_line = command_line;
  const auto s = train_property_model(p);
  std::string mae;
  for (std::size_t i = 0; i < p.columns.size(); ++i) mae += fmt::format(" {} {:.4f}", p.columns[i], s.holdout_mae[i]);
  fmt::print(stderr, "trained {} epochs{} in {:.2f} h on {} rows; held-out ({} rows) MAE:{}; wrote {}\n", s.epochs,
             s.resumed_at_epoch ? fmt::format(" (resumed at {})", s.resumed_at_epoch) : "", s.hours, s.train_rows,
             s.holdout_rows, mae, p.out);
}

// DiffCSP's per-dataset corrector step sizes for CSP sampling.
double default_step_lr(const std::string& data) {
  if (data.find("perov") != std::string::npos) return 5e-7;
  if (data.find("carbon") != std::string::npos) return 5e-6;
  return 1e-5;
}

void run_train(TrainCli& c, const std::string& command_line) {
  if (c.task != "csp" && c.task != "gen" && c.task != "property")
    throw Error("--task " + c.task +
                    ": csp (structures for given compositions), gen (de novo generation) or property (a predictor "
                    "for guidance and `xtaldiff predict`)",
                ErrorKind::kUsage);
  if ((c.task == "property") != !c.columns.empty())
    throw Error(c.task == "property" ? "--task property needs --column NAME (the property to predict)"
                                     : "--column is for --task property",
                ErrorKind::kUsage);
  // --config: a preset name or a JSON file {"network": {...}, "diffusion": {...}}.
  if (c.config == "tiny" || c.config == "small" || c.config == "base") {
    c.t.net = CspNetOptions::preset(c.config);
  } else {
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(read_file(c.config));
    } catch (const nlohmann::json::exception& e) {
      throw Error(c.config + ": not valid JSON (" + e.what() + ")");
    }
    if (j.contains("network")) c.t.net = CspNetOptions::from_json(j["network"]);
    if (j.contains("diffusion")) c.t.diffusion = DiffusionOptions::from_json(j["diffusion"]);
  }
  c.t.net.diffuse_types = c.task == "gen";
  if (!c.type_diffusion.empty()) {
    if (c.task != "gen") throw Error("--type-diffusion is for --task gen", ErrorKind::kUsage);
    if (c.type_diffusion != "ddpm" && c.type_diffusion != "d3pm")
      throw Error("--type-diffusion " + c.type_diffusion + ": ddpm (DiffCSP's one-hot vectors) or d3pm "
                  "(absorbing-state discrete diffusion)", ErrorKind::kUsage);
    c.t.net.type_diffusion = c.type_diffusion;
  }
  if (!c.objective.empty()) {
    if (c.task == "property") throw Error("--objective is for --task csp or gen", ErrorKind::kUsage);
    if (c.objective != "score" && c.objective != "flow")
      throw Error("--objective " + c.objective + ": score (DiffCSP's VE score on the torus) or flow (geodesic flow "
                  "matching, precise in few steps)", ErrorKind::kUsage);
    c.t.diffusion.coord_objective = c.objective;
  }
  if (!c.condition.empty()) {
    // "spacegroup" and / or dataset columns, comma-separated.
    if (c.task == "property") throw Error("--condition is for --task csp or gen", ErrorKind::kUsage);
    std::string rest = c.condition;
    while (!rest.empty()) {
      const auto comma = rest.find(',');
      const std::string item = rest.substr(0, comma);
      rest = comma == std::string::npos ? "" : rest.substr(comma + 1);
      if (item.empty()) throw Error("--condition " + c.condition + ": empty entry", ErrorKind::kUsage);
      auto& props = c.t.net.condition_properties;
      if (item == "spacegroup") {
        c.t.net.condition_spacegroup = true;
      } else if (std::find(props.begin(), props.end(), item) != props.end()) {
        throw Error("--condition " + c.condition + ": '" + item + "' twice", ErrorKind::kUsage);
      } else {
        props.push_back(item);  // checked against the dataset's columns by the trainer
      }
    }
  }
  c.t.batching = parse_batching(c.batching);
  if (c.task == "property") return run_train_property(c, command_line);
  if (c.t.diffusion.step_lr == DiffusionOptions{}.step_lr) c.t.diffusion.step_lr = default_step_lr(c.t.data);
  c.t.command_line = command_line;
  const TrainSummary s = train_model(c.t);
  fmt::print(stderr, "{} {} epochs in {:.2f} h: train loss {:.4f}, {}; wrote {}{}\n",
             s.interrupted ? "stopped by a signal after" : "trained", s.epochs_done, s.hours, s.train_loss,
             std::isfinite(s.val_loss) ? fmt::format("val loss {:.4f}", s.val_loss) : "no validation set", c.t.out,
             s.interrupted ? " (continue with --resume)" : "");
}

}  // namespace

void add_train_command(CLI::App& app) {
  auto c = std::make_shared<TrainCli>();
  auto cmdline = std::make_shared<std::string>();
  CLI::App* cmd = app.add_subcommand("train", "Train a diffusion model on a dataset");
  cmd->add_option("--task", c->task, "csp (structures for given compositions), gen (de novo: atom types diffused too) or property")->capture_default_str();
  cmd->add_option("--data", c->t.data, "training set (CDVAE CSV or any structure file)")->required();
  cmd->add_option("--val", c->t.val_data, "validation set (default: the 'val' file beside a 'train' file)");
  cmd->add_option("--out", c->t.out, "model file to write (checkpoint: OUT.ckpt, log: OUT.log)")->required();
  cmd->add_option("--config", c->config, "network size: tiny, small, base, or a JSON file")->capture_default_str();
  cmd->add_option("--epochs", c->t.epochs, "epochs to train (in all, counting resumed ones)")->capture_default_str();
  cmd->add_option("--hours", c->t.max_hours, "stop after this many hours of this session (0: no limit)")->capture_default_str();
  cmd->add_option("--batch", c->t.batch, "crystals per batch")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--batching", c->batching,
                  "size (crystals of one atom count share a batch: the dense edge layout, faster on mixed sizes) or "
                  "random (a plain shuffle)")->capture_default_str();
  cmd->add_option("--lr", c->t.lr, "Adam learning rate")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--threads", c->t.threads, "CPU threads (0: all cores)")->capture_default_str();
  cmd->add_option("--device", c->t.device, "cpu or cuda")->capture_default_str();
  cmd->add_flag("--resume", c->t.resume, "continue from OUT.ckpt when it exists");
  cmd->add_option("--init", c->t.init,
                  "start a new run from this model's weights (parameters of the same name and shape; e.g. to add "
                  "a --condition to a trained model)");
  cmd->add_option("--seed", c->t.seed, "random seed")->capture_default_str();
  cmd->add_option("--checkpoint-minutes", c->t.checkpoint_minutes, "minutes between checkpoints")->capture_default_str();
  cmd->add_option("--val-max", c->t.val_max, "validation crystals per epoch")->capture_default_str();
  cmd->add_option("--column", c->columns, "--task property: dataset column(s) to predict (repeat for several)");
  cmd->add_option("--holdout", c->holdout, "--task property: share of labelled rows held out")->capture_default_str();
  cmd->add_option("--type-diffusion", c->type_diffusion,
                  "--task gen: ddpm (DiffCSP, default) or d3pm (absorbing-state, as MatterGen)");
  cmd->add_option("--objective", c->objective,
                  "how coordinates are learned: score (DiffCSP's VE score, default) or flow (geodesic flow matching on "
                  "the torus, precise in few ODE steps)");
  cmd->add_option("--condition", c->condition,
                  "spacegroup and / or dataset columns (comma-separated): learn p(crystal | labels) and p(crystal) in one "
                  "network (classifier-free guidance)");
  cmd->add_flag("-q,--quiet", c->t.quiet, "no progress output");
  cmd->callback([c, cmd] {
    std::string line = "xtaldiff train";
    for (const auto& [name, value] : std::vector<std::pair<std::string, std::string>>{
             {"--task", c->task}, {"--data", c->t.data}, {"--out", c->t.out}, {"--config", c->config},
             {"--epochs", std::to_string(c->t.epochs)}, {"--batch", std::to_string(c->t.batch)},
             {"--lr", fmt::format("{}", c->t.lr)}, {"--seed", std::to_string(c->t.seed)}})
      line += " " + name + " " + value;
    if (c->t.max_hours > 0) line += fmt::format(" --hours {}", c->t.max_hours);
    if (c->t.resume) line += " --resume";
    if (!c->t.init.empty()) line += " --init " + c->t.init;
    if (!c->condition.empty()) line += " --condition " + c->condition;
    if (!c->type_diffusion.empty()) line += " --type-diffusion " + c->type_diffusion;
    if (!c->objective.empty()) line += " --objective " + c->objective;
    if (c->batching != "random") line += " --batching " + c->batching;
    for (const auto& col : c->columns) line += " --column " + col;
    (void)cmd;
    run_train(*c, line);
  });
}

}  // namespace xtaldiff::cli
