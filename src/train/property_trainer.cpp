#include "train/property_trainer.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>

#include "ml/runtime.h"
#include "train/training_data.h"
#include "util/error.h"

namespace xtaldiff {

PropertyTrainOptions::PropertyTrainOptions() {
  batch = 128;
  ema_decay = 0;         // the best epoch's weights, not an average
  keep_best = true;
  plateau_factor = 1.0;  // a constant rate
  checkpoint_minutes = 1;
}

namespace {

// The property model's part of the loop: batches of the training rows, the
// score is the held-out MAE summed over the columns in units of their
// standard deviation.
class PropertyTraining : public TrainingTask {
 public:
  PropertyTraining(const PropertyTrainOptions& o, TrainingSet train, TrainingSet holdout, std::vector<double> stddev)
      : o_(o), train_(std::move(train)), hold_(std::move(holdout)), stddev_(std::move(stddev)) {}

  std::vector<int64_t> atom_counts() const override { return train_.atom_counts(); }
  CrystalBatch batch(const std::vector<std::size_t>& index, const torch::Device& dev) const override {
    return train_.batch(index, dev);
  }

  Evaluation evaluate(Model& model) const override {
    auto& m = dynamic_cast<PropertyModel&>(model);
    const auto y = predict_structures(m, hold_.structures, parse_device(o_.device), 256);
    m.train(true);
    const std::size_t k = o_.columns.size();
    std::vector<double> mae(k, 0.0);
    for (std::size_t i = 0; i < y.size(); ++i)
      for (std::size_t c = 0; c < k; ++c) mae[c] += std::abs(y[i][c] - hold_.labels[i * k + c]);
    Evaluation e;
    e.score = 0;
    nlohmann::json per_column = nlohmann::json::object();
    for (std::size_t c = 0; c < k; ++c) {
      mae[c] /= std::max<std::size_t>(1, y.size());
      e.score += mae[c] / stddev_[c];
      per_column[o_.columns[c]] = mae[c];
      e.text += " " + o_.columns[c] + " " + std::to_string(mae[c]);
    }
    e.text = "held-out MAE" + e.text;
    e.log["holdout_mae"] = per_column;
    return e;
  }

  nlohmann::json identity() const override {
    return {{"data", o_.data},       {"columns", o_.columns}, {"holdout", o_.holdout},
            {"seed", o_.seed},       {"batch", o_.batch},     {"encoder", encoder_.to_json()},
            {"steps", o_.steps}};
  }

  void check_resumable(const Model&, const nlohmann::json& saved, const std::string& path) const override {
    if (saved != identity())
      throw Error(path + ": checkpoint of another run (" + saved.dump() + "); pass the same --data, --column, "
                  "--holdout, --seed, --batch and --config, or start without --resume",
                  ErrorKind::kUsage);
  }

  void annotate(nlohmann::json& metadata, const LoopResult& r) const override {
    metadata["train_rows"] = train_.size();
    metadata["holdout_rows"] = hold_.size();
    metadata["holdout_share"] = o_.holdout;
    metadata["columns"] = o_.columns;
    nlohmann::json label_std = nlohmann::json::object();
    for (std::size_t c = 0; c < stddev_.size(); ++c) label_std[o_.columns[c]] = stddev_[c];
    metadata["label_stddev"] = label_std;
    metadata["holdout_mae"] = r.best.log.value("holdout_mae", nlohmann::json::object());
    metadata["best_epoch"] = r.best_epoch;
  }

  void set_encoder(const CspNetOptions& e) { encoder_ = e; }

 private:
  const PropertyTrainOptions& o_;
  TrainingSet train_, hold_;
  std::vector<double> stddev_;
  CspNetOptions encoder_;
};

}  // namespace

PropertyTrainSummary train_property_model(const PropertyTrainOptions& o) {
  const int threads = configure_threads(o.threads);
  const torch::Device dev = parse_device(o.device);
  if (o.columns.empty()) throw Error("give at least one --column to predict", ErrorKind::kUsage);
  if (!(o.holdout > 0 && o.holdout < 1)) throw Error("--holdout must be between 0 and 1", ErrorKind::kUsage);
  TrainingSetSpec spec;
  spec.columns = o.columns;
  const TrainingSet all = load_training_set(o.data, spec);
  // Rows with a number in every column, shuffled once (seeded) and split.
  std::vector<std::size_t> rows;
  const std::size_t k = o.columns.size();
  for (std::size_t r = 0; r < all.size(); ++r) {
    bool ok = true;
    for (std::size_t c = 0; c < k; ++c) ok = ok && std::isfinite(all.labels[r * k + c]);
    if (ok) rows.push_back(r);
  }
  if (rows.size() < 10)
    throw Error(o.data + ": only " + std::to_string(rows.size()) + " rows have numeric values in every column",
                ErrorKind::kInput);
  std::mt19937_64 rng(o.seed);
  std::shuffle(rows.begin(), rows.end(), rng);
  const std::size_t n_hold = std::max<std::size_t>(1, static_cast<std::size_t>(o.holdout * rows.size()));
  TrainingSet hold = all.subset({rows.begin(), rows.begin() + n_hold});
  TrainingSet train = all.subset({rows.begin() + n_hold, rows.end()});
  const DatasetStats stats = train.stats();
  PropertyOptions po;
  po.columns = o.columns;
  po.steps = o.steps;
  for (const auto& c : o.columns) {
    po.mean.push_back(stats.properties.at(c).mean);
    po.stddev.push_back(stats.properties.at(c).stddev);
  }
  CspNetOptions enc = o.encoder;
  enc.diffuse_types = true;
  torch::manual_seed(o.seed);
  PropertyModel model(enc, po);
  model.to(dev);
  const nlohmann::json metadata = {{"task", "property"},    {"dataset_stats", stats.to_json()},
                                   {"data", o.data},        {"threads", threads},
                                   {"seed", o.seed},        {"batch", o.batch},
                                   {"lr", o.lr},            {"device", o.device}};
  PropertyTrainSummary summary;
  summary.train_rows = static_cast<int>(train.size());
  summary.holdout_rows = static_cast<int>(hold.size());
  PropertyTraining task(o, std::move(train), std::move(hold), po.stddev);
  task.set_encoder(enc);
  const LoopResult r = run_training_loop(model, task, o, metadata);
  summary.epochs = r.epochs_done;
  summary.resumed_at_epoch = r.resumed_at_epoch;
  summary.hours = r.hours;
  for (const auto& c : o.columns) summary.holdout_mae.push_back(r.best.log.at("holdout_mae").at(c).get<double>());
  return summary;
}

}  // namespace xtaldiff
