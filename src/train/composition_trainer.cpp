#include "train/composition_trainer.h"

#include <algorithm>
#include <cmath>
#include <set>

#include "ml/runtime.h"
#include "model/dataset_stats.h"
#include "train/training_data.h"
#include "util/error.h"

namespace xtaldiff {
namespace {

class CompositionTraining : public TrainingTask {
 public:
  CompositionTraining(const CompositionTrainOptions& o, TrainingSet train, TrainingSet val)
      : o_(o), train_(std::move(train)), val_(std::move(val)) {}

  std::vector<int64_t> atom_counts() const override { return train_.atom_counts(); }
  CrystalBatch batch(const std::vector<std::size_t>& index, const torch::Device& dev) const override {
    return train_.batch(index, dev);
  }
  Evaluation evaluate(Model& model) const override {
    return validation_loss(model, val_, o_.batch, o_.seed + 17, parse_device(o_.device));
  }
  nlohmann::json identity() const override { return {{"data", o_.data}, {"model", model_.to_json()}}; }
  void check_resumable(const Model& saved, const nlohmann::json& saved_identity, const std::string& path) const override {
    if (saved.task() != "composition")
      throw Error(path + ": a checkpoint of a " + saved.task() + " model, not a composition model", ErrorKind::kUsage);
    if (saved_identity != identity())
      throw Error(path + ": checkpoint of another run (" + saved_identity.dump() + "); pass the same --data, "
                  "--config and --condition, or start without --resume",
                  ErrorKind::kUsage);
  }
  void set_model_options(const CompositionOptions& m) { model_ = m; }

 private:
  const CompositionTrainOptions& o_;
  TrainingSet train_, val_;
  CompositionOptions model_;
};

// The most distinct elements and the largest per-element count of any cell.
std::pair<int, int> vocabulary_extent(const std::vector<Structure>& structures) {
  int elements = 1, count = 1;
  for (const auto& s : structures) {
    const Composition c = s.composition();
    elements = std::max(elements, c.num_elements());
    for (const auto& [z, n] : c.amounts()) count = std::max(count, static_cast<int>(std::lround(n)));
  }
  return {elements, count};
}

// Rows of `set` whose compositions `vocab` can write.
std::vector<std::size_t> rows_that_fit(const TrainingSet& set, const FormulaVocabulary& vocab) {
  std::vector<std::size_t> rows;
  for (std::size_t i = 0; i < set.size(); ++i) {
    const Composition c = set.structures[i].composition();
    bool fits = c.num_elements() <= vocab.max_elements();
    for (const auto& [z, n] : c.amounts()) fits = fits && std::lround(n) <= vocab.max_count();
    if (fits) rows.push_back(i);
  }
  return rows;
}

}  // namespace

CompositionTrainSummary train_composition_model(const CompositionTrainOptions& o) {
  const int threads = configure_threads(o.threads);
  const torch::Device dev = parse_device(o.device);
  if (o.out.empty()) throw Error("--out is required", ErrorKind::kUsage);
  std::vector<std::string> columns;  // the dataset columns among the conditions
  for (const auto& c : o.model.conditions)
    if (c != kNumElementsCondition) columns.push_back(c);
  TrainingSetSpec spec;
  spec.columns = columns;
  TrainingSet train = load_training_set(o.data, spec);
  if (train.size() == 0) throw Error(o.data + ": no structures to learn compositions from", ErrorKind::kInput);

  CompositionOptions m = o.model;
  const auto [max_elements, max_count] = vocabulary_extent(train.structures);
  if (m.max_elements <= 0) m.max_elements = max_elements;
  if (m.max_count <= 0) m.max_count = max_count;
  if (max_elements > m.max_elements || max_count > m.max_count)
    throw Error(o.data + ": a cell has " + std::to_string(max_elements) + " elements and a count of " +
                    std::to_string(max_count) + ", more than the vocabulary's " + std::to_string(m.max_elements) +
                    " / " + std::to_string(m.max_count),
                ErrorKind::kUsage);

  const std::string val_path = o.val_data.empty() ? default_validation_path(o.data) : o.val_data;
  spec.limit = static_cast<std::size_t>(o.val_max);
  spec.columns_required = false;
  TrainingSet val;
  std::size_t val_dropped = 0;
  if (!val_path.empty()) {
    const TrainingSet all = load_training_set(val_path, spec);
    const auto fit = rows_that_fit(all, m.vocabulary());
    val_dropped = all.size() - fit.size();
    val = all.subset(fit);
  }

  DatasetStats stats = train.stats();
  m.mean.clear();
  m.stddev.clear();
  for (const auto& c : m.conditions) {
    if (c == kNumElementsCondition) {
      std::vector<double> n;
      for (const auto& s : train.structures) n.push_back(s.composition().num_elements());
      stats.properties[c] = LabelStats::of(n, c);
    }
    m.mean.push_back(stats.properties.at(c).mean);
    m.stddev.push_back(stats.properties.at(c).stddev);
  }
  std::set<std::string> formulas;
  for (const auto& s : train.structures) formulas.insert(s.composition().reduced_formula());

  torch::manual_seed(o.seed);
  CompositionModel model(m);
  model.to(dev);
  const nlohmann::json metadata = {{"task", "composition"},
                                   {"dataset_stats", stats.to_json()},
                                   {"data", o.data},
                                   {"val_data", val_path},
                                   {"train_crystals", train.size()},
                                   {"val_crystals", val.size()},
                                   {"val_rows_outside_vocabulary", val_dropped},
                                   {"training_formulas", formulas},
                                   {"batch", o.batch},
                                   {"lr", o.lr},
                                   {"seed", o.seed},
                                   {"threads", threads},
                                   {"device", o.device}};
  CompositionTraining task(o, std::move(train), std::move(val));
  task.set_model_options(m);
  const LoopResult r = run_training_loop(model, task, o, metadata);
  CompositionTrainSummary summary;
  summary.epochs_done = r.epochs_done;
  summary.hours = r.hours;
  summary.train_loss = r.train_loss;
  summary.val_loss = r.last.score;
  summary.interrupted = r.interrupted;
  return summary;
}

}  // namespace xtaldiff
