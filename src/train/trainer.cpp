#include "train/trainer.h"

#include "train/plateau.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <numeric>
#include <optional>
#include <random>

#include "crystal/symmetry.h"
#include "io/formats.h"
#include "ml/runtime.h"
#include "model/dataset_stats.h"
#include "model/model_file.h"
#include "util/clock.h"
#include "util/error.h"
#include "util/parallel.h"
#include "util/stop_signal.h"
#include "util/strings.h"

namespace xtaldiff {
namespace {

using Clock = std::chrono::steady_clock;

// Labels of conditioned training, one entry (row) per crystal.
struct Labels {
  std::vector<int64_t> spacegroup;  // empty = not conditioned on it
  std::vector<float> properties;    // [crystals × columns], NaN = missing; empty = none
  std::size_t columns = 0;
};

// The crystals of a dataset in canonical form and, for property
// conditioning, the values of `columns` (text that is no number → NaN).
// The training set must have every column; a validation set without one
// leaves it missing (the null token).
std::vector<Structure> load_canonical(const std::string& path, std::size_t limit = 0,
                                      const std::vector<std::string>& columns = {}, Labels* labels = nullptr,
                                      bool columns_required = true) {
  ReadOptions ro;
  const Dataset d = read_structures(path, ro);
  std::vector<std::optional<std::size_t>> index;
  for (const auto& name : columns) {
    index.push_back(d.column(name));
    if (!index.back() && columns_required) {
      std::string have;
      for (const auto& n : d.columns) have += (have.empty() ? "" : ", ") + n;
      throw Error(path + ": no column '" + name + "' to condition on (it has: " + (have.empty() ? "none" : have) +
                      ")",
                  ErrorKind::kUsage);
    }
  }
  std::vector<Structure> out;
  out.reserve(d.size());
  for (std::size_t r = 0; r < d.size(); ++r) {
    if (limit && out.size() >= limit) break;
    out.push_back(canonical_structure(d.records[r].structure));
    if (labels)
      for (const auto& c : index) {
        const auto v = c ? d.number(r, *c) : std::nullopt;
        labels->properties.push_back(v && std::isfinite(*v) ? static_cast<float>(*v) : NAN);
      }
  }
  if (labels) labels->columns = columns.size();
  if (out.empty()) throw Error(path + ": no structures to train on");
  return out;
}

std::string default_val_path(const std::string& train) {
  const auto pos = train.rfind("train");
  if (pos == std::string::npos) return "";
  std::string v = train;
  v.replace(pos, 5, "val");
  return std::filesystem::exists(v) ? v : "";
}

std::string fmt_loss(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4f", v);
  return buf;
}


/// Every parameter of `from` into `to`: the same network options.
void copy_parameters(CspModel& from, CspModel& to) {
  torch::NoGradGuard no_grad;
  auto dst = to.net()->parameters();
  const auto src = from.net()->parameters();
  for (std::size_t i = 0; i < dst.size(); ++i) dst[i].copy_(src[i]);
}

/// `train --init`: parameters of another model matched by name and shape,
/// into both the model and its EMA; returns what the metadata records.
nlohmann::json warm_start(const std::string& path, CspModel& model, CspModel& ema) {
  LoadedModel source = load_model_file(path);
  const auto& src_opts = source.model->net_options();
  const auto& dst_opts = model.net_options();
  // The geometry layers (message passing, coordinate and lattice heads) mean
  // the same in every task, so they carry over between CSP and generation and
  // between one-hot DDPM and D3PM types. The type input and output carry over
  // only between models that diffuse types the same way.
  const bool same_types =
      src_opts.diffuse_types == dst_opts.diffuse_types && src_opts.type_diffusion == dst_opts.type_diffusion;
  const auto from = source.for_sampling().net()->named_parameters();
  std::size_t copied = 0, fresh = 0;
  bool embedding_to_type_in = false;
  torch::NoGradGuard no_grad;
  for (CspModel* target : {&model, &ema})
    for (auto& p : target->net()->named_parameters()) {
      const auto* src = from.find(p.key());
      const bool type_layer = p.key().rfind("type_in.", 0) == 0 || p.key().rfind("type_out.", 0) == 0;
      if (src && src->sizes() == p.value().sizes() && (same_types || !type_layer)) {
        p.value().copy_(*src);
        copied += target == &model;
        continue;
      }
      // CSP → generation: the CSP model's element embedding is what the
      // generation model's type input should compute for a clean one-hot
      // type, so it becomes that layer's weight columns (bias 0; the D3PM
      // mask column stays fresh). At low noise the new model starts as the
      // CSP model.
      const auto* embedding = from.find("atom_embedding.weight");
      if (embedding && !src_opts.diffuse_types && dst_opts.diffuse_types && p.key().rfind("type_in.", 0) == 0 &&
          p.value().size(0) == embedding->size(1) && (p.key() == "type_in.bias" || p.value().size(1) >= embedding->size(0))) {
        if (p.key() == "type_in.bias")
          p.value().zero_();
        else
          p.value().narrow(1, 0, embedding->size(0)).copy_(embedding->t());
        copied += target == &model;
        embedding_to_type_in = true;
        continue;
      }
      fresh += target == &model;
    }
  nlohmann::json out = {{"model", path},
                        {"source_task", source.task},
                        {"copied_parameters", copied},
                        {"new_parameters", fresh},
                        {"source_commands", source.state.metadata.value("commands", nlohmann::json::array())}};
  if (embedding_to_type_in) out["type_in_from"] = "atom_embedding (transposed; the mask column fresh)";
  return out;
}

// Space-group labels for conditioned training: spglib's number at symprec
// 0.1, the tolerance `sample` reports outputs at (0 when spglib fails).
// spglib on every crystal, over the cores: one thread needs about 4 minutes
// for MP-20's train split, which a short GPU run cannot spare.
std::vector<int64_t> spacegroup_labels(const std::vector<Structure>& structures, int threads) {
  std::vector<int64_t> out(structures.size(), 0);
  parallel_for(structures.size(), threads, [&](std::size_t i) {
    try {
      out[i] = analyze_symmetry(structures[i], kDefaultSymprec).number;
    } catch (const Error&) {
      out[i] = 0;
    }
  }, 64);
  return out;
}

// A batch of the crystals `index` of `all`, with their labels when given.
CrystalBatch batch_of(const std::vector<Structure>& all, const Labels& labels, const std::vector<std::size_t>& index,
                      const torch::Device& dev) {
  std::vector<const Structure*> ptrs;
  std::vector<int64_t> sg;
  std::vector<float> props;
  const std::size_t k = labels.columns;
  for (std::size_t i : index) {
    ptrs.push_back(&all[i]);
    if (!labels.spacegroup.empty()) sg.push_back(labels.spacegroup[i]);
    if (k) props.insert(props.end(), labels.properties.begin() + i * k, labels.properties.begin() + (i + 1) * k);
  }
  CrystalBatch b = make_batch(ptrs);
  if (!labels.spacegroup.empty()) b.spacegroup = torch::tensor(sg, torch::kInt64);
  if (k) b.properties = torch::tensor(props).view({static_cast<int64_t>(index.size()), static_cast<int64_t>(k)});
  return b.to(dev);
}

// Mean, standard deviation and 101 quantiles (0 %, 1 %, ..., 100 %) of the
// labelled values of column `c`: the network standardises with the first
// two; `sample` draws range targets from the quantiles.
void ema_update(CspModel& ema, CspModel& model, double decay) {
  torch::NoGradGuard no_grad;
  auto src = model.net()->parameters();
  auto dst = ema.net()->parameters();
  for (std::size_t i = 0; i < src.size(); ++i) dst[i].mul_(decay).add_(src[i], 1.0 - decay);
}

double validation_loss(CspModel& model, const std::vector<Structure>& val, const Labels& labels,
                       int batch, const torch::Device& dev, uint64_t seed) {
  if (val.empty()) return std::nan("");
  torch::NoGradGuard no_grad;
  model.net()->eval();
  auto gen = at::detail::createCPUGenerator(seed);  // same noise every epoch: comparable numbers
  double sum = 0;
  std::size_t n = 0;
  for (std::size_t start = 0; start < val.size(); start += batch) {
    std::vector<std::size_t> index;
    for (std::size_t i = start; i < std::min(val.size(), start + batch); ++i) index.push_back(i);
    const CrystalBatch b = batch_of(val, labels, index, dev);
    auto parts = model.loss(b, gen);
    sum += parts.total.item<double>() * index.size();
    n += index.size();
  }
  model.net()->train();
  return sum / n;
}

struct TrainerState {
  int epoch = 0;          // epochs completed
  long step = 0;
  double lr = 1e-3;
  double best_val = INFINITY;
  int bad_epochs = 0;     // plateau counter
  double hours = 0;       // training time so far (all sessions)
  double last_train = 0, last_val = 0;

  nlohmann::json to_json() const {
    return {{"epoch", epoch},       {"step", step},       {"lr", lr},       {"best_val", best_val},
            {"bad_epochs", bad_epochs}, {"hours", hours}, {"last_train", last_train}, {"last_val", last_val}};
  }
  static TrainerState from_json(const nlohmann::json& j) {
    // JSON has no infinity or NaN: they were written as null.
    auto num = [&](const char* key, double fallback) {
      return j.contains(key) && j[key].is_number() ? j[key].get<double>() : fallback;
    };
    TrainerState s;
    s.epoch = static_cast<int>(num("epoch", 0));
    s.step = static_cast<long>(num("step", 0));
    s.lr = num("lr", 1e-3);
    s.best_val = num("best_val", INFINITY);
    s.bad_epochs = static_cast<int>(num("bad_epochs", 0));
    s.hours = num("hours", 0.0);
    s.last_train = num("last_train", 0.0);
    s.last_val = num("last_val", NAN);
    return s;
  }
};

void set_lr(torch::optim::Adam& opt, double lr) {
  for (auto& group : opt.param_groups()) static_cast<torch::optim::AdamOptions&>(group.options()).lr(lr);
}

}  // namespace

TrainSummary train_model(const TrainOptions& o) {
  const int threads = configure_threads(o.threads);
  const torch::Device dev = parse_device(o.device);
  if (o.out.empty()) throw Error("--out is required", ErrorKind::kUsage);
  if (o.batch < 1) throw Error("--batch must be positive", ErrorKind::kUsage);
  const std::string ckpt_path = o.out + ".ckpt";
  const std::string log_path = o.out + ".log";

  Labels train_labels, val_labels;
  const auto& columns = o.net.condition_properties;
  const auto train = load_canonical(o.data, 0, columns, &train_labels);
  const std::string val_path = o.val_data.empty() ? default_val_path(o.data) : o.val_data;
  const std::vector<Structure> val =
      val_path.empty() ? std::vector<Structure>{}
                       : load_canonical(val_path, static_cast<std::size_t>(o.val_max), columns, &val_labels, false);

  // The training set's statistics, stored with the model (model/dataset_stats.h).
  DatasetStats stats = DatasetStats::of(train);
  if (o.net.condition_spacegroup) {
    train_labels.spacegroup = spacegroup_labels(train, threads);
    val_labels.spacegroup = spacegroup_labels(val, threads);
    for (auto n : train_labels.spacegroup) ++stats.spacegroups[static_cast<int>(n)];
  }
  // The network standardises property values with the training labels'
  // mean and standard deviation: they become part of its options.
  CspNetOptions net_options = o.net;
  net_options.property_mean.clear();
  net_options.property_stddev.clear();
  for (std::size_t c = 0; c < columns.size(); ++c) {
    std::vector<double> labels;
    for (std::size_t i = c; i < train_labels.properties.size(); i += train_labels.columns)
      labels.push_back(train_labels.properties[i]);
    const LabelStats& label = stats.properties[columns[c]] =
        LabelStats::of(std::move(labels), o.data + ": column '" + columns[c] + "'");
    net_options.property_mean.push_back(label.mean);
    net_options.property_stddev.push_back(label.stddev);
  }

  torch::manual_seed(o.seed);
  CspModel model(net_options, o.diffusion);
  model.to(dev);
  CspModel ema = model.clone();
  torch::optim::Adam opt(model.net()->parameters(), torch::optim::AdamOptions(o.lr));
  TrainerState st;
  st.lr = o.lr;
  nlohmann::json metadata = {{"task", model.task()},
                             {"dataset_stats", stats.to_json()},
                             {"data", o.data},
                             {"val_data", val_path},
                             {"train_crystals", train.size()},
                             {"val_crystals", val.size()},
                             {"batch", o.batch},
                             {"batching", batching_name(o.batching)},
                             {"lr", o.lr},
                             {"seed", o.seed},
                             {"threads", threads},
                             {"device", o.device},
                             {"started", now_iso8601()},
                             {"commands", nlohmann::json::array({o.command_line})}};
  const bool resuming = o.resume && std::filesystem::exists(ckpt_path);
  if (!o.init.empty() && !resuming) {
    metadata["init"] = warm_start(o.init, model, ema);
    if (!o.quiet)
      std::fprintf(stderr, "initialised from %s: %zu parameter tensors copied, %zu new\n", o.init.c_str(),
                   metadata["init"]["copied_parameters"].get<std::size_t>(),
                   metadata["init"]["new_parameters"].get<std::size_t>());
  }
  if (resuming) {
    LoadedModel loaded = load_model_file(ckpt_path);
    if (loaded.model->net_options().to_json() != net_options.to_json())
      throw Error(ckpt_path + ": checkpoint was trained with network " + loaded.model->net_options().to_json().dump() +
                      ", not " + net_options.to_json().dump() + " (pass the same --config, --condition and data)",
                  ErrorKind::kUsage);
    if (loaded.model->diffusion_options().coord_objective != o.diffusion.coord_objective)
      throw Error(ckpt_path + ": checkpoint learned its coordinates by '" +
                      loaded.model->diffusion_options().coord_objective + "', not '" + o.diffusion.coord_objective +
                      "' (pass the same --objective)",
                  ErrorKind::kUsage);
    copy_parameters(*loaded.model, model);
    if (loaded.ema) copy_parameters(*loaded.ema, ema);
    load_optimizer_state(ckpt_path, opt, dev);
    st = TrainerState::from_json(loaded.state.trainer);
    set_lr(opt, st.lr);
    auto cmds = loaded.state.metadata.value("commands", nlohmann::json::array());
    cmds.push_back(o.command_line);
    metadata = loaded.state.metadata;
    metadata["commands"] = cmds;
    // Statistics of the training set as it is now (older files lack some).
    metadata["dataset_stats"] = stats.to_json();
    if (!o.quiet) std::fprintf(stderr, "resuming %s at epoch %d (step %ld, lr %.2e)\n", ckpt_path.c_str(), st.epoch, st.step, st.lr);
  } else if (o.resume && !o.quiet) {
    std::fprintf(stderr, "no checkpoint %s: starting a new run\n", ckpt_path.c_str());
  }

  std::ofstream log(log_path, std::ios::app);
  const auto session_start = Clock::now();
  const double hours_before = st.hours;
  auto last_ckpt = Clock::now();
  const bool tty = isatty(fileno(stderr));
  TrainSummary summary;
  auto save_checkpoint = [&](const std::string& path, bool with_optimizer) {
    st.hours = hours_before + std::chrono::duration<double>(Clock::now() - session_start).count() / 3600.0;
    SavedState s;
    s.metadata = metadata;
    s.metadata["epochs"] = st.epoch;
    s.metadata["steps"] = st.step;
    s.metadata["hours"] = st.hours;
    s.metadata["final_train_loss"] = st.last_train;
    s.metadata["final_val_loss"] = st.last_val;
    s.metadata["saved"] = now_iso8601();
    s.trainer = st.to_json();
    if (with_optimizer) {
      save_model_file(path, model, &ema, s, &opt);
    } else {
      // The model file a user samples with holds only the EMA weights (half
      // the size); the checkpoint keeps both and the optimiser for --resume.
      s.metadata["weights"] = "ema";
      save_model_file(path, ema, nullptr, s);
    }
  };

  model.net()->train();
  std::vector<int64_t> atom_counts;
  atom_counts.reserve(train.size());
  for (const auto& s : train) atom_counts.push_back(static_cast<int64_t>(s.size()));
  bool out_of_time = false;
  // Ctrl-C or SIGTERM (`timeout`, a scheduler's end of allocation): finish
  // the step in flight, write the checkpoint and the model file, return.
  const StopOnSignal stop;
  while (st.epoch < o.epochs && !out_of_time && !stop.requested()) {
    const auto epoch_start = Clock::now();
    const auto plan = plan_batches(atom_counts, o.batch, o.batching, o.seed * 1000003ULL + st.epoch);
    const std::size_t batches = plan.size();
    auto gen = at::detail::createCPUGenerator(o.seed * 7919ULL + st.epoch);
    double loss_sum = 0, lat_sum = 0, coord_sum = 0, type_sum = 0;
    std::size_t seen = 0;
    for (std::size_t bi = 0; bi < batches; ++bi) {
      const std::vector<std::size_t>& index = plan[bi];
      const CrystalBatch b = batch_of(train, train_labels, index, dev);
      auto parts = model.loss(b, gen);
      opt.zero_grad();
      parts.total.backward();
      const double loss = parts.total.item<double>();
      if (!std::isfinite(loss))
        throw Error("training diverged: loss is " + std::to_string(loss) + " at epoch " + std::to_string(st.epoch + 1) +
                    " (lower --lr?); the last checkpoint is " + ckpt_path, ErrorKind::kInput);
      torch::nn::utils::clip_grad_value_(model.net()->parameters(), o.clip_value);
      opt.step();
      // EMA warm-up (as in timm/MatterGen): early averages would otherwise be
      // dominated by the random initial weights.
      ema_update(ema, model, std::min(o.ema_decay, (1.0 + st.step) / (10.0 + st.step)));
      ++st.step;
      loss_sum += loss * index.size();
      lat_sum += parts.lattice.item<double>() * index.size();
      coord_sum += parts.coord.item<double>() * index.size();
      if (parts.types.defined()) type_sum += parts.types.item<double>() * index.size();
      seen += index.size();
      if (stop.requested()) break;
      if (!o.quiet && tty) {
        const double el = std::chrono::duration<double>(Clock::now() - epoch_start).count();
        const double rate = seen / std::max(el, 1e-9);
        const double eta = (train.size() - seen) / rate +
                           (o.epochs - st.epoch - 1) * (train.size() / rate);
        const int width = 24, fill = static_cast<int>(width * (bi + 1) / batches);
        std::fprintf(stderr, "\repoch %d/%d [%s%s] loss %.4f (lattice %.4f coord %.4f) %.0f crystals/s ETA %s   ",
                     st.epoch + 1, o.epochs, std::string(fill, '#').c_str(), std::string(width - fill, '.').c_str(),
                     loss_sum / seen, lat_sum / seen, coord_sum / seen, rate, format_duration(eta).c_str());
      }
    }
    if (stop.requested()) {
      // A partial epoch is not counted: --resume repeats it from its start
      // (its batches come from the epoch's seed), with the weights and the
      // optimiser state of the last step.
      // Said even with --quiet: the run ended early.
      std::fprintf(stderr, "%s%s: stopping after step %ld (epoch %d incomplete)\n", tty ? "\n" : "",
                   stop.signal_name(), st.step, st.epoch + 1);
      break;
    }
    ++st.epoch;
    st.last_train = loss_sum / seen;
    const double epoch_secs = std::chrono::duration<double>(Clock::now() - epoch_start).count();
    const double val_loss = validation_loss(ema, val, val_labels, o.batch, dev, o.seed + 17);
    st.last_val = val_loss;
    // Plateau schedule on the validation loss (train loss when no val set).
    const double monitored = std::isfinite(val_loss) ? val_loss : st.last_train;
    PlateauSchedule plateau{o.plateau_factor, o.plateau_patience, o.min_lr, 1e-4, st.lr, st.best_val, st.bad_epochs};
    const double new_lr = plateau.step(monitored);
    st.best_val = plateau.best;
    st.bad_epochs = plateau.bad_epochs;
    if (new_lr != st.lr) {
      st.lr = new_lr;
      set_lr(opt, st.lr);
    }
    const double rate = seen / epoch_secs;
    const double total_secs = std::chrono::duration<double>(Clock::now() - session_start).count();
    nlohmann::json line = {{"epoch", st.epoch},  {"step", st.step},       {"lr", st.lr},
                           {"train_loss", st.last_train}, {"lattice_loss", lat_sum / seen}, {"coord_loss", coord_sum / seen},
                           {"type_loss", type_sum / seen},
                           {"val_loss", std::isfinite(val_loss) ? nlohmann::json(val_loss) : nlohmann::json(nullptr)},
                           {"crystals_per_s", rate}, {"hours", hours_before + total_secs / 3600.0}};
    log << line.dump() << "\n" << std::flush;
    if (!o.quiet) {
      if (tty) std::fprintf(stderr, "\n");
      else
        std::fprintf(stderr, "epoch %d/%d loss %.4f (lattice %.4f coord %.4f type %.4f) val %s lr %.2e %.0f crystals/s\n",
                     st.epoch, o.epochs, st.last_train, lat_sum / seen, coord_sum / seen, type_sum / seen,
                     std::isfinite(val_loss) ? fmt_loss(val_loss).c_str() : "- (no validation set)", st.lr, rate);
    }
    summary.crystals_per_second = rate;
    if (o.max_hours > 0 && total_secs / 3600.0 + epoch_secs / 3600.0 > o.max_hours) out_of_time = true;
    if (std::chrono::duration<double>(Clock::now() - last_ckpt).count() > 60 * o.checkpoint_minutes || out_of_time ||
        st.epoch >= o.epochs) {
      save_checkpoint(ckpt_path, true);
      last_ckpt = Clock::now();
    }
  }
  if (stop.requested()) {  // mid-epoch, or while validating or saving
    summary.interrupted = true;
    save_checkpoint(ckpt_path, true);
  }
  save_checkpoint(o.out, false);
  summary.epochs_done = st.epoch;
  summary.hours = st.hours;
  summary.train_loss = st.last_train;
  summary.val_loss = st.last_val;
  return summary;
}

}  // namespace xtaldiff
