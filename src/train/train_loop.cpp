#include "train/train_loop.h"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>

#include "ml/runtime.h"
#include "model/model_file.h"
#include "model/registry.h"
#include "train/plateau.h"
#include "util/clock.h"
#include "util/error.h"
#include "util/stop_signal.h"
#include "util/strings.h"

namespace xtaldiff {
namespace {

using Clock = std::chrono::steady_clock;

// JSON has no infinity or NaN: they are written as null.
nlohmann::json number_or_null(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); }

struct LoopState {
  int epoch = 0;  // epochs completed
  long step = 0;
  double lr = 1e-3;
  double best_val = INFINITY;  // the plateau schedule's best
  int bad_epochs = 0;          // plateau counter
  double hours = 0;            // training time so far (all sessions)
  double last_train = 0, last_val = NAN;
  double best_score = INFINITY;  // keep_best
  int best_epoch = 0;
  nlohmann::json best_eval = nlohmann::json::object();

  nlohmann::json to_json(const nlohmann::json& identity) const {
    return {{"epoch", epoch},           {"step", step},           {"lr", lr},
            {"best_val", number_or_null(best_val)}, {"bad_epochs", bad_epochs}, {"hours", hours},
            {"last_train", last_train}, {"last_val", number_or_null(last_val)},
            {"best_score", number_or_null(best_score)}, {"best_epoch", best_epoch},
            {"best_eval", best_eval},   {"identity", identity}};
  }
  static LoopState from_json(const nlohmann::json& j) {
    auto num = [&](const char* key, double fallback) {
      return j.contains(key) && j[key].is_number() ? j[key].get<double>() : fallback;
    };
    LoopState s;
    s.epoch = static_cast<int>(num("epoch", 0));
    s.step = static_cast<long>(num("step", 0));
    s.lr = num("lr", 1e-3);
    s.best_val = num("best_val", INFINITY);
    s.bad_epochs = static_cast<int>(num("bad_epochs", 0));
    s.hours = num("hours", 0.0);
    s.last_train = num("last_train", 0.0);
    s.last_val = num("last_val", NAN);
    s.best_score = num("best_score", INFINITY);
    s.best_epoch = static_cast<int>(num("best_epoch", 0));
    s.best_eval = j.value("best_eval", nlohmann::json::object());
    return s;
  }
};

void set_lr(torch::optim::Adam& opt, double lr) {
  for (auto& group : opt.param_groups()) static_cast<torch::optim::AdamOptions&>(group.options()).lr(lr);
}

void ema_update(Model& ema, Model& model, double decay) {
  torch::NoGradGuard no_grad;
  auto src = model.parameters();
  auto dst = ema.parameters();
  for (std::size_t i = 0; i < src.size(); ++i) dst[i].mul_(decay).add_(src[i], 1.0 - decay);
}

// Sums of the loss parts over an epoch, weighted by crystals.
struct EpochLosses {
  double total = 0, lattice = 0, coord = 0, types = 0;
  bool has_lattice = false, has_coord = false, has_types = false;
  std::size_t seen = 0;
  void add(const LossParts& p, double total_value, std::size_t n) {
    total += total_value * n;
    if (p.lattice.defined()) lattice += p.lattice.item<double>() * n, has_lattice = true;
    if (p.coord.defined()) coord += p.coord.item<double>() * n, has_coord = true;
    if (p.types.defined()) types += p.types.item<double>() * n, has_types = true;
    seen += n;
  }
  double mean(double sum) const { return seen ? sum / seen : 0.0; }
  std::string parts_text() const {
    std::string s;
    if (has_lattice) s += fmt::format("lattice {:.4f}", mean(lattice));
    if (has_coord) s += (s.empty() ? "" : " ") + fmt::format("coord {:.4f}", mean(coord));
    if (has_types) s += (s.empty() ? "" : " ") + fmt::format("type {:.4f}", mean(types));
    return s.empty() ? "" : " (" + s + ")";
  }
};

}  // namespace

LoopResult run_training_loop(Model& model, const TrainingTask& task, const LoopOptions& o, nlohmann::json metadata) {
  if (o.out.empty()) throw Error("--out is required", ErrorKind::kUsage);
  if (o.batch < 1) throw Error("--batch must be positive", ErrorKind::kUsage);
  const torch::Device dev = parse_device(o.device);
  const std::string ckpt_path = o.out + ".ckpt";
  const std::string log_path = o.out + ".log";
  const nlohmann::json identity = task.identity();

  // The weights that are scored and saved: an EMA of the model's, or the
  // model's own; with keep_best, a snapshot of them at the best epoch.
  std::unique_ptr<Model> ema = o.ema_decay > 0 ? copy_model(model) : nullptr;
  Model& scored = ema ? *ema : model;
  std::unique_ptr<Model> best = o.keep_best ? copy_model(scored) : nullptr;
  torch::optim::Adam opt(model.parameters(), torch::optim::AdamOptions(o.lr));
  LoopState st;
  st.lr = o.lr;
  metadata["commands"] = nlohmann::json::array({o.command_line});
  metadata["started"] = now_iso8601();
  LoopResult result;
  const bool resuming = o.resume && std::filesystem::exists(ckpt_path);
  if (resuming) {
    LoadedArchive saved = read_model_file(ckpt_path);
    task.check_resumable(*saved.model, saved.state.trainer.value("identity", nlohmann::json()), ckpt_path);
    copy_module_state(*saved.model, model);
    if (ema && saved.ema) copy_module_state(*saved.ema, *ema);
    if (best && saved.best) copy_module_state(*saved.best, *best);
    load_optimizer_state(ckpt_path, opt, dev);
    st = LoopState::from_json(saved.state.trainer);
    set_lr(opt, st.lr);
    // The run's first metadata stays (when it started, what it was
    // initialised from); this session's command is appended and what the
    // task knows now (e.g. the statistics of the training set) replaces
    // what the checkpoint recorded.
    nlohmann::json kept = saved.state.metadata;
    auto commands = kept.value("commands", nlohmann::json::array());
    commands.push_back(o.command_line);
    metadata.erase("started");
    metadata.erase("commands");
    kept.update(metadata);
    kept["commands"] = commands;
    metadata = kept;
    result.resumed_at_epoch = st.epoch;
    result.best_epoch = st.best_epoch;
    result.best.score = st.best_score;
    result.best.log = st.best_eval;
    if (!o.quiet)
      std::fprintf(stderr, "resuming %s at epoch %d (step %ld, lr %.2e)\n", ckpt_path.c_str(), st.epoch, st.step, st.lr);
  } else if (o.resume && !o.quiet) {
    std::fprintf(stderr, "no checkpoint %s: starting a new run\n", ckpt_path.c_str());
  }
  metadata["resumed_at_epoch"] = result.resumed_at_epoch;

  std::ofstream log(log_path, std::ios::app);
  const auto session_start = Clock::now();
  const double hours_before = st.hours;
  auto last_ckpt = Clock::now();
  const bool tty = isatty(fileno(stderr));
  auto fill_result = [&] {
    st.hours = hours_before + std::chrono::duration<double>(Clock::now() - session_start).count() / 3600.0;
    result.epochs_done = st.epoch;
    result.hours = st.hours;
    result.train_loss = st.last_train;
    result.best_epoch = st.best_epoch;
  };
  auto save = [&](const std::string& path, bool checkpoint) {
    fill_result();
    SavedState s;
    s.metadata = metadata;
    s.metadata["epochs"] = st.epoch;
    s.metadata["steps"] = st.step;
    s.metadata["hours"] = st.hours;
    s.metadata["final_train_loss"] = st.last_train;
    s.metadata["final_val_loss"] = number_or_null(st.last_val);
    s.metadata["saved"] = now_iso8601();
    task.annotate(s.metadata, result);
    s.trainer = st.to_json(identity);
    if (checkpoint) {
      save_model_file(path, model, ExtraWeights{ema.get(), best.get(), &opt}, s);
    } else {
      // The model file a user samples with holds one set of weights (the
      // EMA's, or the best epoch's); the checkpoint keeps all of them and the
      // optimiser for --resume.
      if (ema) s.metadata["weights"] = "ema";
      if (best) s.metadata["weights"] = ema ? "ema, best epoch" : "best epoch";
      save_model_file(path, best ? *best : scored, nullptr, s);
    }
  };

  model.train();
  const std::vector<int64_t> atom_counts = task.atom_counts();
  const std::size_t crystals = atom_counts.size();
  bool out_of_time = false;
  // Ctrl-C or SIGTERM (`timeout`, a scheduler's end of allocation): finish
  // the step in flight, write the checkpoint and the model file, return.
  const StopOnSignal stop;
  while (st.epoch < o.epochs && !out_of_time && !stop.requested()) {
    const auto epoch_start = Clock::now();
    const auto plan = plan_batches(atom_counts, o.batch, o.batching, o.seed * 1000003ULL + st.epoch);
    auto gen = at::detail::createCPUGenerator(o.seed * 7919ULL + st.epoch);
    EpochLosses losses;
    for (std::size_t bi = 0; bi < plan.size(); ++bi) {
      const CrystalBatch b = task.batch(plan[bi], dev);
      const LossParts parts = model.loss(b, gen);
      opt.zero_grad();
      parts.total.backward();
      const double loss = parts.total.item<double>();
      if (!std::isfinite(loss))
        throw Error("training diverged: loss is " + std::to_string(loss) + " at epoch " + std::to_string(st.epoch + 1) +
                    " (lower --lr?); the last checkpoint is " + ckpt_path, ErrorKind::kInput);
      torch::nn::utils::clip_grad_value_(model.parameters(), o.clip_value);
      opt.step();
      // EMA warm-up (as in timm/MatterGen): early averages would otherwise be
      // dominated by the random initial weights.
      if (ema) ema_update(*ema, model, std::min(o.ema_decay, (1.0 + st.step) / (10.0 + st.step)));
      ++st.step;
      losses.add(parts, loss, plan[bi].size());
      if (stop.requested()) break;
      if (!o.quiet && tty) {
        const double el = std::chrono::duration<double>(Clock::now() - epoch_start).count();
        const double rate = losses.seen / std::max(el, 1e-9);
        const double eta = (crystals - losses.seen) / rate + (o.epochs - st.epoch - 1) * (crystals / rate);
        const int width = 24, fill = static_cast<int>(width * (bi + 1) / plan.size());
        std::fprintf(stderr, "\repoch %d/%d [%s%s] loss %.4f%s %.0f crystals/s ETA %s   ", st.epoch + 1, o.epochs,
                     std::string(fill, '#').c_str(), std::string(width - fill, '.').c_str(),
                     losses.mean(losses.total), losses.parts_text().c_str(), rate, format_duration(eta).c_str());
      }
    }
    if (stop.requested()) {
      // A partial epoch is not counted: --resume repeats it from its start
      // (its batches come from the epoch's seed), with the weights and the
      // optimiser state of the last step. Said even with --quiet: the run
      // ended early.
      std::fprintf(stderr, "%s%s: stopping after step %ld (epoch %d incomplete)\n", tty ? "\n" : "",
                   stop.signal_name(), st.step, st.epoch + 1);
      break;
    }
    ++st.epoch;
    st.last_train = losses.mean(losses.total);
    const double epoch_secs = std::chrono::duration<double>(Clock::now() - epoch_start).count();
    result.last = task.evaluate(scored);
    st.last_val = result.last.score;
    if (best && std::isfinite(result.last.score) && result.last.score < st.best_score) {
      st.best_score = result.last.score;
      st.best_epoch = st.epoch;
      st.best_eval = result.last.log;
      copy_module_state(scored, *best);
      result.best = result.last;
    }
    // Plateau schedule on the held-out score (train loss when there is none).
    const double monitored = std::isfinite(result.last.score) ? result.last.score : st.last_train;
    PlateauSchedule plateau{o.plateau_factor, o.plateau_patience, o.min_lr, 1e-4, st.lr, st.best_val, st.bad_epochs};
    const double new_lr = o.plateau_factor < 1 ? plateau.step(monitored) : st.lr;
    st.best_val = plateau.best;
    st.bad_epochs = plateau.bad_epochs;
    if (new_lr != st.lr) {
      st.lr = new_lr;
      set_lr(opt, st.lr);
    }
    const double rate = losses.seen / epoch_secs;
    const double total_secs = std::chrono::duration<double>(Clock::now() - session_start).count();
    nlohmann::json line = {{"epoch", st.epoch}, {"step", st.step}, {"lr", st.lr}, {"train_loss", st.last_train}};
    if (losses.has_lattice) line["lattice_loss"] = losses.mean(losses.lattice);
    if (losses.has_coord) line["coord_loss"] = losses.mean(losses.coord);
    if (losses.has_types) line["type_loss"] = losses.mean(losses.types);
    line.update(result.last.log);
    line["crystals_per_s"] = rate;
    line["hours"] = hours_before + total_secs / 3600.0;
    log << line.dump() << "\n" << std::flush;
    if (!o.quiet) {
      if (tty)
        std::fprintf(stderr, "\n");
      else
        std::fprintf(stderr, "epoch %d/%d loss %.4f%s %s lr %.2e %.0f crystals/s\n", st.epoch, o.epochs, st.last_train,
                     losses.parts_text().c_str(), result.last.text.c_str(), st.lr, rate);
    }
    result.crystals_per_second = rate;
    if (o.max_hours > 0 && total_secs / 3600.0 + epoch_secs / 3600.0 > o.max_hours) out_of_time = true;
    if (std::chrono::duration<double>(Clock::now() - last_ckpt).count() > 60 * o.checkpoint_minutes || out_of_time ||
        st.epoch >= o.epochs) {
      save(ckpt_path, true);
      last_ckpt = Clock::now();
    }
  }
  if (stop.requested()) {  // mid-epoch, or while evaluating or saving
    result.interrupted = true;
    save(ckpt_path, true);
  }
  if (best && st.best_epoch == 0) throw Error("--epochs must be at least 1 (no epoch was scored)", ErrorKind::kUsage);
  save(o.out, false);
  fill_result();
  return result;
}

}  // namespace xtaldiff
