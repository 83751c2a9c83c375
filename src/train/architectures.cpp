#include "train/architectures.h"

#include <fmt/format.h>

#include <cmath>
#include <functional>
#include <map>

#include "model/registry.h"
#include "train/cdvae_trainer.h"
#include "train/composition_trainer.h"
#include "train/property_trainer.h"
#include "util/file_io.h"
#include "util/error.h"

namespace xtaldiff {
namespace {

// DiffCSP's per-dataset corrector step sizes for CSP sampling.
double default_step_lr(const std::string& data) {
  if (data.find("perov") != std::string::npos) return 5e-7;
  if (data.find("carbon") != std::string::npos) return 5e-6;
  return 1e-5;
}

// The one-line summary of a run scored by its validation loss.
TrainReport loss_report(int epochs, double hours, double train_loss, double val_loss, bool interrupted,
                        const std::string& out) {
  TrainReport report;
  report.interrupted = interrupted;
  report.summary = fmt::format("{} {} epochs in {:.2f} h: train loss {:.4f}, {}; wrote {}{}",
                               interrupted ? "stopped by a signal after" : "trained", epochs, hours, train_loss,
                               std::isfinite(val_loss) ? fmt::format("val loss {:.4f}", val_loss) : "no validation set",
                               out, interrupted ? " (continue with --resume)" : "");
  return report;
}

TrainReport train_diffcsp(const TrainRequest& r) {
  TrainOptions o = r.options;
  o.net.diffuse_types = r.task == "gen";
  if (o.diffusion.step_lr == DiffusionOptions{}.step_lr) o.diffusion.step_lr = default_step_lr(o.data);
  const TrainSummary s = train_model(o);
  return loss_report(s.epochs_done, s.hours, s.train_loss, s.val_loss, s.interrupted, o.out);
}

// --config for UniMat: a preset or a JSON file with a "unimat" object
// (UniMatOptions' keys).
UniMatOptions unimat_config(const std::string& config) {
  if (config == "tiny" || config == "small" || config == "base") return UniMatOptions::preset(config);
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(read_file(config));
  } catch (const nlohmann::json::exception& e) {
    throw Error(config + ": not valid JSON (" + e.what() + ")");
  }
  if (!j.contains("unimat")) throw Error(config + ": no \"unimat\" object for --arch unimat", ErrorKind::kUsage);
  nlohmann::json merged = UniMatOptions::preset("small").to_json();
  merged["slots"] = 1;  // validated below, then replaced by the data's unless the file sets it
  merged.update(j["unimat"]);
  UniMatOptions o = UniMatOptions::from_json(merged);
  if (!j["unimat"].contains("slots")) o.slots = 0;
  return o;
}

TrainReport train_unimat(const TrainRequest& r) {
  TrainOptions o = r.options;
  o.net.diffuse_types = r.task == "gen";  // the whole tensor diffused (the paper's de novo scheme)
  o.unimat = unimat_config(r.config);
  o.unimat->generate = o.net.diffuse_types;  // as the model sets it, so that --resume compares like with like
  if (o.diffusion.step_lr == DiffusionOptions{}.step_lr) o.diffusion.step_lr = default_step_lr(o.data);
  const TrainSummary s = train_model(o);
  return loss_report(s.epochs_done, s.hours, s.train_loss, s.val_loss, s.interrupted, o.out);
}

TrainReport train_property_gnn(const TrainRequest& r) {
  PropertyTrainOptions p;
  static_cast<LoopOptions&>(p) = static_cast<const LoopOptions&>(r.options);
  // The predictor's own recipe (no EMA, the best epoch kept, a constant rate).
  const PropertyTrainOptions defaults;
  p.ema_decay = defaults.ema_decay;
  p.keep_best = defaults.keep_best;
  p.plateau_factor = defaults.plateau_factor;
  p.checkpoint_minutes = defaults.checkpoint_minutes;
  p.data = r.options.data;
  p.columns = r.columns;
  p.encoder = r.options.net;
  p.steps = r.options.diffusion.steps;
  p.holdout = r.holdout;
  const auto s = train_property_model(p);
  std::string mae;
  for (std::size_t i = 0; i < p.columns.size(); ++i) mae += fmt::format(" {} {:.4f}", p.columns[i], s.holdout_mae[i]);
  TrainReport report;
  report.summary = fmt::format("trained {} epochs{} in {:.2f} h on {} rows; held-out ({} rows) MAE:{}; wrote {}",
                               s.epochs, s.resumed_at_epoch ? fmt::format(" (resumed at {})", s.resumed_at_epoch) : "",
                               s.hours, s.train_rows, s.holdout_rows, mae, p.out);
  return report;
}

// --config for the composition model: a preset or a JSON file with a
// "composition" object (CompositionOptions' keys).
CompositionOptions composition_config(const std::string& config) {
  CompositionOptions m;
  m.max_elements = 0;  // from the training set unless the file sets them
  m.max_count = 0;
  if (config == "tiny") {
    m.dim = 32, m.layers = 2, m.heads = 2, m.feedforward = 64;
  } else if (config == "small") {
    m.dim = 128, m.layers = 4, m.heads = 4, m.feedforward = 512;
  } else if (config == "base") {
    m.dim = 256, m.layers = 6, m.heads = 8, m.feedforward = 1024;
  } else {
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(read_file(config));
    } catch (const nlohmann::json::exception& e) {
      throw Error(config + ": not valid JSON (" + e.what() + ")");
    }
    if (!j.contains("composition")) throw Error(config + ": no \"composition\" object for --task composition", ErrorKind::kUsage);
    nlohmann::json merged = m.to_json();
    merged.update(j["composition"]);
    m = CompositionOptions::from_json(merged);
  }
  return m;
}

TrainReport train_composition(const TrainRequest& r) {
  CompositionTrainOptions o;
  static_cast<LoopOptions&>(o) = static_cast<const LoopOptions&>(r.options);
  o.data = r.options.data;
  o.val_data = r.options.val_data;
  o.val_max = r.options.val_max;
  o.model = composition_config(r.config);
  if (r.options.net.condition_spacegroup)
    throw Error("--condition spacegroup: a composition model has no space group (conditions: dataset columns and "
                "num_elements)", ErrorKind::kUsage);
  o.model.conditions = r.options.net.condition_properties;
  o.model.steps = r.options.diffusion.steps;
  const auto s = train_composition_model(o);
  return loss_report(s.epochs_done, s.hours, s.train_loss, s.val_loss, s.interrupted, o.out);
}

// Every registered architecture's trainer.
const std::map<std::string, std::function<TrainReport(const TrainRequest&)>>& trainers() {
  static const std::map<std::string, std::function<TrainReport(const TrainRequest&)>> table = {
      {"diffcsp", train_diffcsp}, {"unimat", train_unimat}, {"cdvae", train_cdvae}, {"property-gnn", train_property_gnn}, {"composition-d3pm", train_composition}};
  return table;
}

}  // namespace

TrainReport train_architecture(const TrainRequest& r) {
  if (r.task != "csp" && r.task != "gen" && r.task != "property" && r.task != "composition")
    throw Error("--task " + r.task +
                    ": csp (structures for given compositions), gen (de novo generation), property (a predictor "
                    "for guidance and `xtaldiff predict`) or composition (new formulas)",
                ErrorKind::kUsage);
  const Architecture& arch = r.arch.empty() ? default_architecture(r.task) : find_architecture(r.arch);
  if (!arch.trains(r.task)) {
    std::string tasks;
    for (const auto& t : arch.tasks) tasks += (tasks.empty() ? "" : ", ") + t;
    throw Error("--arch " + arch.name + " trains " + tasks + ", not --task " + r.task, ErrorKind::kUsage);
  }
  const auto trainer = trainers().find(arch.name);
  if (trainer == trainers().end()) throw Error("architecture " + arch.name + " has no trainer", ErrorKind::kUsage);
  return trainer->second(r);
}

}  // namespace xtaldiff
