#include "train/property_trainer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <numeric>
#include <random>

#include "io/formats.h"
#include "ml/runtime.h"
#include "model/model_file.h"
#include "util/clock.h"
#include "util/error.h"

namespace xtaldiff {

namespace {

struct LabelledSet {
  std::vector<Structure> structures;
  std::vector<std::vector<double>> labels;
};

std::vector<double> mean_abs_error(PropertyModel& m, const LabelledSet& s, int batch, const torch::Device& dev) {
  torch::NoGradGuard no_grad;
  m.train(false);
  const std::size_t k = m.options().columns.size();
  std::vector<double> err(k, 0.0);
  for (std::size_t start = 0; start < s.structures.size(); start += batch) {
    std::vector<const Structure*> ptrs;
    const std::size_t end = std::min(s.structures.size(), start + batch);
    for (std::size_t i = start; i < end; ++i) ptrs.push_back(&s.structures[i]);
    auto y = m.predict_clean(make_batch(ptrs).to(dev)).to(torch::kCPU, torch::kFloat64).contiguous();
    auto a = y.accessor<double, 2>();
    for (std::size_t i = start; i < end; ++i)
      for (std::size_t c = 0; c < k; ++c) err[c] += std::abs(a[i - start][c] - s.labels[i][c]);
  }
  for (auto& e : err) e /= std::max<std::size_t>(1, s.structures.size());
  m.train(true);
  return err;
}


constexpr const char* kCheckpointTag = "xtaldiff-property-checkpoint";

void write_tensors(torch::serialize::OutputArchive& archive, const std::string& key,
                   const std::vector<torch::Tensor>& tensors) {
  torch::serialize::OutputArchive part;
  for (std::size_t i = 0; i < tensors.size(); ++i) part.write("p" + std::to_string(i), tensors[i]);
  archive.write(key, part);
}

void read_tensors(torch::serialize::InputArchive& archive, const std::string& key, std::vector<torch::Tensor>& tensors) {
  torch::serialize::InputArchive part;
  archive.read(key, part);
  for (std::size_t i = 0; i < tensors.size(); ++i) part.read("p" + std::to_string(i), tensors[i]);
}

// What a resumed run must share with the checkpoint: the same split (data,
// columns, holdout, seed), network and label standardisation.
nlohmann::json run_identity(const PropertyTrainOptions& o, PropertyModel& model) {
  return {{"data", o.data},       {"columns", o.columns},
          {"holdout", o.holdout}, {"seed", o.seed},
          {"batch", o.batch},     {"encoder", model.encoder_options().to_json()},
          {"property", model.options().to_json()}};
}

}  // namespace

PropertyTrainSummary train_property_model(const PropertyTrainOptions& o) {
  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  const int threads = configure_threads(o.threads);
  const torch::Device dev = parse_device(o.device);
  if (o.columns.empty()) throw Error("give at least one --column to predict", ErrorKind::kUsage);
  if (!(o.holdout > 0 && o.holdout < 1)) throw Error("--holdout must be between 0 and 1", ErrorKind::kUsage);
  const Dataset d = read_structures(o.data, ReadOptions{});
  std::vector<std::size_t> cols;
  for (const auto& name : o.columns) {
    const auto c = d.column(name);
    if (!c) {
      std::string have;
      for (const auto& n : d.columns) have += (have.empty() ? "" : ", ") + n;
      throw Error(o.data + ": no column '" + name + "' (it has: " + (have.empty() ? "none" : have) + ")",
                  ErrorKind::kUsage);
    }
    cols.push_back(*c);
  }
  // Rows with a number in every column, shuffled once (seeded) and split.
  std::vector<std::size_t> rows;
  for (std::size_t r = 0; r < d.size(); ++r) {
    bool ok = true;
    for (auto c : cols) ok = ok && d.number(r, c).has_value();
    if (ok) rows.push_back(r);
  }
  if (rows.size() < 10)
    throw Error(o.data + ": only " + std::to_string(rows.size()) + " rows have numeric values in every column",
                ErrorKind::kInput);
  std::mt19937_64 rng(o.seed);
  std::shuffle(rows.begin(), rows.end(), rng);
  const std::size_t n_hold = std::max<std::size_t>(1, static_cast<std::size_t>(o.holdout * rows.size()));
  LabelledSet train, hold;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    LabelledSet& s = i < n_hold ? hold : train;
    s.structures.push_back(canonical_structure(d.records[rows[i]].structure));
    std::vector<double> y;
    for (auto c : cols) y.push_back(*d.number(rows[i], c));
    s.labels.push_back(y);
  }
  PropertyOptions po;
  po.columns = o.columns;
  po.steps = o.steps;
  for (std::size_t c = 0; c < cols.size(); ++c) {
    double sum = 0, sq = 0;
    for (const auto& y : train.labels) sum += y[c], sq += y[c] * y[c];
    const double mean = sum / train.labels.size();
    po.mean.push_back(mean);
    po.stddev.push_back(std::max(1e-6, std::sqrt(std::max(0.0, sq / train.labels.size() - mean * mean))));
  }
  CspNetOptions enc = o.encoder;
  enc.diffuse_types = true;
  torch::manual_seed(o.seed);
  PropertyModel model(enc, po);
  model.to(dev);
  model.train(true);
  torch::optim::Adam opt(model.parameters(), torch::optim::AdamOptions(o.lr));
  auto labels_of = [&](const std::vector<std::size_t>& idx) {
    auto t = torch::empty({static_cast<int64_t>(idx.size()), static_cast<int64_t>(cols.size())}, torch::kFloat64);
    auto a = t.accessor<double, 2>();
    for (std::size_t i = 0; i < idx.size(); ++i)
      for (std::size_t c = 0; c < cols.size(); ++c) a[i][c] = train.labels[idx[i]][c];
    return t;
  };
  PropertyTrainSummary summary;
  summary.train_rows = static_cast<int>(train.structures.size());
  summary.holdout_rows = static_cast<int>(hold.structures.size());
  double best = INFINITY;
  int best_epoch = 0, first_epoch = 0;
  double hours_before = 0;
  std::vector<torch::Tensor> best_weights;
  std::vector<double> best_mae;
  const std::string ckpt_path = o.out + ".ckpt";
  const nlohmann::json identity = run_identity(o, model);
  if (o.resume && std::filesystem::exists(ckpt_path)) {
    torch::serialize::InputArchive archive;
    nlohmann::json state;
    try {
      archive.load_from(ckpt_path, dev);  // weights and Adam's moments on the training device
      c10::IValue tag, text;
      if (!archive.try_read("format", tag) || !tag.isString() || tag.toStringRef() != kCheckpointTag)
        throw Error(ckpt_path + ": not a property-training checkpoint");
      archive.read("state", text);
      state = nlohmann::json::parse(text.toStringRef());
    } catch (const c10::Error& e) {
      throw Error(ckpt_path + ": damaged checkpoint (" + std::string(e.what_without_backtrace()).substr(0, 200) + ")");
    }
    if (state.at("identity") != identity)
      throw Error(ckpt_path + ": checkpoint of another run (" + state.at("identity").dump() + "); pass the same --data, "
                  "--column, --holdout, --seed, --batch and --config, or start without --resume",
                  ErrorKind::kUsage);
    auto params = model.parameters();
    {
      torch::NoGradGuard no_grad;
      std::vector<torch::Tensor> current(params.size());
      read_tensors(archive, "weights", current);
      for (std::size_t i = 0; i < params.size(); ++i) params[i].copy_(current[i]);
    }
    best_weights.resize(params.size());
    read_tensors(archive, "best_weights", best_weights);
    for (auto& w : best_weights) w = w.to(dev);
    torch::serialize::InputArchive opt_archive;
    archive.read("optimizer", opt_archive);
    opt.load(opt_archive);
    first_epoch = state.at("epoch").get<int>();
    best = state.at("best_score").get<double>();
    best_epoch = state.at("best_epoch").get<int>();
    best_mae = state.at("best_mae").get<std::vector<double>>();
    hours_before = state.at("hours").get<double>();
    summary.resumed_at_epoch = first_epoch;
    if (!o.quiet) std::fprintf(stderr, "resuming %s at epoch %d\n", ckpt_path.c_str(), first_epoch);
  }
  auto last_save = Clock::now();
  auto save_checkpoint = [&](int epochs_done) {
    torch::serialize::OutputArchive archive;
    archive.write("format", c10::IValue(std::string(kCheckpointTag)));
    const nlohmann::json state = {
        {"identity", identity},      {"epoch", epochs_done},  {"best_score", best},
        {"best_epoch", best_epoch},  {"best_mae", best_mae},
        {"hours", hours_before + std::chrono::duration<double>(Clock::now() - start).count() / 3600.0}};
    archive.write("state", c10::IValue(state.dump()));
    std::vector<torch::Tensor> current;
    for (auto& p : model.parameters()) current.push_back(p.detach().cpu());
    write_tensors(archive, "weights", current);
    std::vector<torch::Tensor> best_cpu;
    for (auto& w : best_weights) best_cpu.push_back(w.cpu());
    write_tensors(archive, "best_weights", best_cpu);
    torch::serialize::OutputArchive opt_archive;
    opt.save(opt_archive);
    archive.write("optimizer", opt_archive);
    save_archive_atomic(archive, ckpt_path);
    last_save = Clock::now();
  };
  summary.epochs = first_epoch;
  std::vector<std::size_t> order(train.structures.size());
  for (int epoch = first_epoch; epoch < o.epochs; ++epoch) {
    std::iota(order.begin(), order.end(), 0);
    std::mt19937_64 shuffle_rng(o.seed * 1000003ULL + epoch);
    std::shuffle(order.begin(), order.end(), shuffle_rng);
    auto gen = at::detail::createCPUGenerator(o.seed * 7919ULL + epoch);
    double loss_sum = 0;
    for (std::size_t s = 0; s < order.size(); s += o.batch) {
      std::vector<std::size_t> idx(order.begin() + s, order.begin() + std::min(order.size(), s + o.batch));
      std::vector<const Structure*> ptrs;
      for (auto i : idx) ptrs.push_back(&train.structures[i]);
      auto loss = model.loss(make_batch(ptrs).to(dev), labels_of(idx), gen);
      opt.zero_grad();
      loss.backward();
      torch::nn::utils::clip_grad_value_(model.parameters(), 0.5);
      opt.step();
      loss_sum += loss.item<double>() * idx.size();
    }
    const auto mae = mean_abs_error(model, hold, 256, dev);
    double score = 0;
    for (std::size_t c = 0; c < mae.size(); ++c) score += mae[c] / po.stddev[c];
    if (score < best) {
      best = score;
      best_epoch = epoch + 1;
      best_mae = mae;
      best_weights.clear();
      for (auto& p : model.parameters()) best_weights.push_back(p.detach().clone());
    }
    summary.epochs = epoch + 1;
    const double hours = std::chrono::duration<double>(Clock::now() - start).count() / 3600.0;
    if (std::chrono::duration<double>(Clock::now() - last_save).count() > 60) save_checkpoint(epoch + 1);
    if (!o.quiet) {
      std::string m;
      for (std::size_t c = 0; c < mae.size(); ++c) m += " " + o.columns[c] + " " + std::to_string(mae[c]);
      std::fprintf(stderr, "epoch %d/%d loss %.4f held-out MAE%s\n", epoch + 1, o.epochs, loss_sum / order.size(),
                   m.c_str());
    }
    const int done_here = epoch + 1 - first_epoch;
    if (o.max_hours > 0 && hours * (done_here + 1) / done_here > o.max_hours) break;
  }
  if (best_weights.empty()) throw Error("--epochs must be at least 1", ErrorKind::kUsage);
  save_checkpoint(summary.epochs);
  {
    torch::NoGradGuard no_grad;
    auto params = model.parameters();
    for (std::size_t i = 0; i < params.size(); ++i) params[i].copy_(best_weights[i]);
  }
  summary.holdout_mae = best_mae;
  summary.hours = hours_before + std::chrono::duration<double>(Clock::now() - start).count() / 3600.0;
  nlohmann::json mae_json = nlohmann::json::object(), label_std = nlohmann::json::object();
  for (std::size_t c = 0; c < cols.size(); ++c) mae_json[o.columns[c]] = best_mae[c], label_std[o.columns[c]] = po.stddev[c];
  const nlohmann::json metadata = {{"task", "property"},
                                   {"command", o.command_line},
                                   {"resumed_at_epoch", summary.resumed_at_epoch},
                                   {"data", o.data},
                                   {"columns", o.columns},
                                   {"train_rows", summary.train_rows},
                                   {"holdout_rows", summary.holdout_rows},
                                   {"holdout_share", o.holdout},
                                   {"holdout_mae", mae_json},
                                   {"label_stddev", label_std},
                                   {"best_epoch", best_epoch},
                                   {"epochs", summary.epochs},
                                   {"hours", summary.hours},
                                   {"threads", threads},
                                   {"seed", o.seed},
                                   {"saved", now_iso8601()}};
  save_property_model(o.out, model, metadata);
  return summary;
}


}  // namespace xtaldiff
