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

#include "dist/distributed.h"
#include "dist/gradient_sync.h"
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

// The crystals of a global batch that are `rank`'s: a contiguous run, the
// remainder spread over the first ranks (a rank may get none).
std::pair<std::size_t, std::size_t> share_range(std::size_t n, int rank, int world) {
  const std::size_t base = n / world, rem = n % world, r = static_cast<std::size_t>(rank);
  const std::size_t begin = r * base + std::min(r, rem);
  return {begin, begin + base + (r < rem ? 1 : 0)};
}

// Every parameter and buffer, for the broadcast from rank 0.
void collect_state(Model& m, std::vector<torch::Tensor>& out) {
  for (auto& p : m.parameters()) out.push_back(p.data());
  for (auto& b : m.buffers()) out.push_back(b);
}

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
  // Sums over the step's crystals (of every rank): total, lattice, coord, types, crystals.
  static std::vector<double> step_sums(const LossParts& p, std::size_t n) {
    auto v = [](const torch::Tensor& t) { return t.defined() ? t.item<double>() : 0.0; };
    return {v(p.total) * n, v(p.lattice) * n, v(p.coord) * n, v(p.types) * n, static_cast<double>(n)};
  }
  void add(const std::vector<double>& sums, const LossParts& p) {
    total += sums[0], lattice += sums[1], coord += sums[2], types += sums[3];
    has_lattice |= p.lattice.defined(), has_coord |= p.coord.defined(), has_types |= p.types.defined();
    seen += static_cast<std::size_t>(sums[4]);
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
  Distributed* dist = o.dist;
  const bool root = !dist || dist->is_root();
  const int world = dist ? dist->world_size() : 1;
  const bool quiet = o.quiet || !root;

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
  if (dist) {
    // Every rank reads the checkpoint (the optimiser state is not sent):
    // they must all see it.
    std::vector<double> seen{resuming ? 1.0 : 0.0};
    std::vector<torch::Tensor> t{torch::tensor(seen, torch::kFloat64)};
    dist->all_reduce_sum(t, "agreeing on --resume");
    const double ranks_seeing = t[0].item<double>();
    if (ranks_seeing != 0 && ranks_seeing != world)
      throw Error(fmt::format("rank {}: {} ranks of {} see the checkpoint {}: --resume needs a file system every "
                              "rank sees", dist->rank(), ranks_seeing, world, ckpt_path), ErrorKind::kUsage);
  }
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
    if (!quiet)
      std::fprintf(stderr, "resuming %s at epoch %d (step %ld, lr %.2e)\n", ckpt_path.c_str(), st.epoch, st.step, st.lr);
  } else if (o.resume && !quiet) {
    std::fprintf(stderr, "no checkpoint %s: starting a new run\n", ckpt_path.c_str());
  }
  metadata["resumed_at_epoch"] = result.resumed_at_epoch;
  std::unique_ptr<GradientSync> sync;
  if (dist) {
    // One starting point on every rank: rank 0's weights (fresh, --init
    // or resumed), EMA and best snapshot.
    std::vector<torch::Tensor> state;
    collect_state(model, state);
    if (ema) collect_state(*ema, state);
    if (best) collect_state(*best, state);
    dist->broadcast(state, "broadcasting rank 0's weights");
    sync = std::make_unique<GradientSync>(model.parameters(), *dist);
    metadata["data_parallel"] = {{"world_size", world}, {"batch_per_rank", o.batch}, {"global_batch", o.batch * world},
                                 {"backend", "gloo"}};
  }

  std::ofstream log;
  if (root) log.open(log_path, std::ios::app);
  const auto session_start = Clock::now();
  const double hours_before = st.hours;
  auto last_ckpt = Clock::now();
  const bool tty = root && isatty(fileno(stderr));
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
  // With several ranks every decision to stop is agreed in a collective
  // (a signal may reach one rank only, or reach them at different steps).
  const StopOnSignal stop;
  bool stopping = false, stopped_mid_epoch = false;
  const long steps_at_start = st.step;
  try {
    while (st.epoch < o.epochs && !out_of_time && !stopping) {
      const auto epoch_start = Clock::now();
      const auto plan = plan_batches(atom_counts, o.batch * world, o.batching, o.seed * 1000003ULL + st.epoch);
      EpochLosses losses;
      LossParts parts;
      for (std::size_t bi = 0; bi < plan.size(); ++bi) {
        // Noise per batch, drawn for the whole global batch (data/batch_noise.h).
        auto gen = at::detail::createCPUGenerator((o.seed * 7919ULL + st.epoch) * 1000003ULL + bi);
        const auto& global = plan[bi];
        const auto [first, last] = share_range(global.size(), dist ? dist->rank() : 0, world);
        BatchShare share{static_cast<int64_t>(global.size()), 0, static_cast<int64_t>(first), 0};
        for (std::size_t k = 0; k < global.size(); ++k) {
          share.global_atoms += atom_counts[global[k]];
          if (k < first) share.first_atom += atom_counts[global[k]];
        }
        const std::vector<std::size_t> mine(global.begin() + first, global.begin() + last);
        opt.zero_grad();
        if (sync) sync->begin_step();
        std::vector<double> sums(5, 0.0);
        if (!mine.empty()) {
          const CrystalBatch b = task.batch(mine, dev);
          BatchNoise noise(gen, b, share);
          parts = model.loss(b, noise);
          (sync ? share_weighted_loss(parts, share, b.num_crystals(), b.total_atoms()) : parts.total).backward();
          sums = EpochLosses::step_sums(parts, mine.size());
        }
        bool stop_now = stop.requested();
        if (sync) {
          // Gradients, loss sums and a stop request of any rank, in one go.
          sums.push_back(stop_now ? 1.0 : 0.0);
          sync->finish_step(sums);
          stop_now = sums.back() > 0;
          sums.pop_back();
        }
        const double loss = sums[0] / std::max(1.0, sums[4]);
        if (!std::isfinite(loss))
          throw Error("training diverged: loss is " + std::to_string(loss) + " at epoch " + std::to_string(st.epoch + 1) +
                      " (lower --lr?); the last checkpoint is " + ckpt_path, ErrorKind::kInput);
        torch::nn::utils::clip_grad_value_(model.parameters(), o.clip_value);
        opt.step();
        // EMA warm-up (as in timm/MatterGen): early averages would otherwise be
        // dominated by the random initial weights.
        if (ema) ema_update(*ema, model, std::min(o.ema_decay, (1.0 + st.step) / (10.0 + st.step)));
        ++st.step;
        losses.add(sums, parts);
        if (stop_now) {
          stopping = true;
          break;
        }
        if (!quiet && tty) {
          const double el = std::chrono::duration<double>(Clock::now() - epoch_start).count();
          const double rate = losses.seen / std::max(el, 1e-9);
          const double eta = (crystals - losses.seen) / rate + (o.epochs - st.epoch - 1) * (crystals / rate);
          const int width = 24, fill = static_cast<int>(width * (bi + 1) / plan.size());
          std::fprintf(stderr, "\repoch %d/%d [%s%s] loss %.4f%s %.0f crystals/s ETA %s   ", st.epoch + 1, o.epochs,
                       std::string(fill, '#').c_str(), std::string(width - fill, '.').c_str(),
                       losses.mean(losses.total), losses.parts_text().c_str(), rate, format_duration(eta).c_str());
        }
      }
      if (stopping) {
        // A partial epoch is not counted: --resume repeats it from its start
        // (its batches come from the epoch's seed), with the weights and the
        // optimiser state of the last step. Said even with --quiet: the run
        // ended early.
        if (root)
          std::fprintf(stderr, "%s%s: stopping after step %ld (epoch %d incomplete)\n", tty ? "\n" : "",
                       stop.requested() ? stop.signal_name() : "a signal to another rank", st.step, st.epoch + 1);
        stopped_mid_epoch = true;
        break;
      }
      ++st.epoch;
      st.last_train = losses.mean(losses.total);
      const double epoch_secs = std::chrono::duration<double>(Clock::now() - epoch_start).count();
      if (root) result.last = task.evaluate(scored);
      {
        const double session_hours = std::chrono::duration<double>(Clock::now() - session_start).count() / 3600.0;
        out_of_time = o.max_hours > 0 && session_hours + epoch_secs / 3600.0 > o.max_hours;
      }
      if (dist) {
        // Rank 0's score and clock; a stop request of any rank.
        std::vector<double> agreed{root ? result.last.score : 0.0, root && out_of_time ? 1.0 : 0.0,
                                   stop.requested() ? 1.0 : 0.0};
        std::vector<torch::Tensor> t{torch::tensor(agreed, torch::kFloat64)};
        dist->all_reduce_sum(t, "sharing the held-out score");
        result.last.score = t[0][0].item<double>();
        out_of_time = t[0][1].item<double>() > 0;
        stopping = t[0][2].item<double>() > 0;
      } else {
        stopping = stop.requested();
      }
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
      if (root) log << line.dump() << "\n" << std::flush;
      if (!quiet) {
        if (tty)
          std::fprintf(stderr, "\n");
        else
          std::fprintf(stderr, "epoch %d/%d loss %.4f%s %s lr %.2e %.0f crystals/s\n", st.epoch, o.epochs, st.last_train,
                       losses.parts_text().c_str(), result.last.text.c_str(), st.lr, rate);
      }
      result.crystals_per_second = rate;
      if (root && (std::chrono::duration<double>(Clock::now() - last_ckpt).count() > 60 * o.checkpoint_minutes ||
                   out_of_time || st.epoch >= o.epochs)) {
        save(ckpt_path, true);
        last_ckpt = Clock::now();
      }
    }
  } catch (const Error& e) {
    // Another rank failed: the weights, EMA and optimiser are still those
    // after the last step every rank finished, so they are kept.
    if (e.kind() != ErrorKind::kPeer || !root || st.step == steps_at_start) throw;
    save(ckpt_path, true);
    throw Error(fmt::format("{}\nrank 0 wrote {} after step {} (epoch {} incomplete): continue with --resume, on any "
                            "number of ranks", e.what(), ckpt_path, st.step, st.epoch + 1), ErrorKind::kPeer);
  }
  if (stopping || (!dist && stop.requested())) {  // mid-epoch, or while evaluating or saving
    result.interrupted = true;
    if (root && !stopped_mid_epoch)
      std::fprintf(stderr, "%s: stopping after epoch %d\n", stop.requested() ? stop.signal_name() : "a signal to another rank",
                   st.epoch);
    if (root) save(ckpt_path, true);
  }
  if (best && st.best_epoch == 0) throw Error("--epochs must be at least 1 (no epoch was scored)", ErrorKind::kUsage);
  if (root) save(o.out, false);
  fill_result();
  return result;
}

}  // namespace xtaldiff
