#include "train/trainer.h"

#include <cmath>
#include <cstdio>
#include <filesystem>

#include "crystal/unimat_tensor.h"
#include "ml/runtime.h"
#include "model/dataset_stats.h"
#include "model/model_file.h"
#include "train/training_data.h"
#include "util/error.h"

namespace xtaldiff {
namespace {

/// `train --init`: parameters of another model matched by name and shape
/// (the loop's EMA starts as a copy of the result); returns what the
/// metadata records.
// UniMat ↔ UniMat: every parameter of the same name and shape.
nlohmann::json warm_start_unimat(const std::string& path, const LoadedModel& source, DiffusionModel& model) {
  if (!source.model->unimat_options() || !model.unimat_options())
    throw Error("--init " + path + ": a " + source.model->arch() + " model cannot start a " + model.arch() +
                    " model (the networks share no layers)",
                ErrorKind::kUsage);
  const auto [copied, fresh] = copy_matching_parameters(source.for_sampling(), model);
  return {{"model", path},
          {"source_task", source.task},
          {"copied_parameters", copied},
          {"new_parameters", fresh},
          {"source_commands", source.state.metadata.value("commands", nlohmann::json::array())}};
}

nlohmann::json warm_start(const std::string& path, DiffusionModel& model) {
  LoadedModel source = load_model_file(path);
  if (source.model->unimat_options() || model.unimat_options()) return warm_start_unimat(path, source, model);
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
  for (auto& p : model.net()->named_parameters()) {
    const auto* src = from.find(p.key());
    const bool type_layer = p.key().rfind("type_in.", 0) == 0 || p.key().rfind("type_out.", 0) == 0;
    if (src && src->sizes() == p.value().sizes() && (same_types || !type_layer)) {
      p.value().copy_(*src);
      ++copied;
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
      ++copied;
      embedding_to_type_in = true;
      continue;
    }
    ++fresh;
  }
  nlohmann::json out = {{"model", path},
                        {"source_task", source.task},
                        {"copied_parameters", copied},
                        {"new_parameters", fresh},
                        {"source_commands", source.state.metadata.value("commands", nlohmann::json::array())}};
  if (embedding_to_type_in) out["type_in_from"] = "atom_embedding (transposed; the mask column fresh)";
  return out;
}

// The diffusion model's part of the loop: batches of the training set with
// its labels; the score is the validation loss of the EMA weights, on the
// same noise every epoch so that epochs compare.
class DiffusionTraining : public TrainingTask {
 public:
  DiffusionTraining(const TrainOptions& o, TrainingSet train, TrainingSet val)
      : o_(o), train_(std::move(train)), val_(std::move(val)) {}

  std::vector<int64_t> atom_counts() const override { return train_.atom_counts(); }
  CrystalBatch batch(const std::vector<std::size_t>& index, const torch::Device& dev) const override {
    return train_.batch(index, dev);
  }

  Evaluation evaluate(Model& model) const override {
    return validation_loss(model, val_, o_.batch, o_.seed + 17, parse_device(o_.device));
  }

  nlohmann::json identity() const override {
    nlohmann::json id = {{"network", o_.net.to_json()}, {"coord_objective", o_.diffusion.coord_objective}};
    if (unimat_) id["unimat"] = unimat_->to_json();
    return id;
  }

  void check_resumable(const Model& saved, const nlohmann::json&, const std::string& path) const override {
    const auto* m = dynamic_cast<const DiffusionModel*>(&saved);
    if (!m) throw Error(path + ": a checkpoint of a " + saved.task() + " model, not a diffusion model", ErrorKind::kUsage);
    if (m->net_options().to_json() != net_.to_json())
      throw Error(path + ": checkpoint was trained with network " + m->net_options().to_json().dump() + ", not " +
                      net_.to_json().dump() + " (pass the same --config, --condition and data)",
                  ErrorKind::kUsage);
    const auto saved_unimat = m->unimat_options() ? m->unimat_options()->to_json() : nlohmann::json(nullptr);
    const auto this_unimat = unimat_ ? unimat_->to_json() : nlohmann::json(nullptr);
    if (saved_unimat != this_unimat)
      throw Error(path + ": checkpoint's UniMat network " + saved_unimat.dump() + " is not this run's " +
                      this_unimat.dump() + " (pass the same --arch and --config)",
                  ErrorKind::kUsage);
    if (m->diffusion_options().coord_objective != o_.diffusion.coord_objective)
      throw Error(path + ": checkpoint learned its coordinates by '" + m->diffusion_options().coord_objective +
                      "', not '" + o_.diffusion.coord_objective + "' (pass the same --objective)",
                  ErrorKind::kUsage);
  }

  void set_network(const CspNetOptions& net, const std::optional<UniMatOptions>& unimat) {
    net_ = net;
    unimat_ = unimat;
  }

 private:
  const TrainOptions& o_;
  TrainingSet train_, val_;
  CspNetOptions net_;  // with the training labels' standardisation
  std::optional<UniMatOptions> unimat_;  // with its slot count
};

}  // namespace

nlohmann::json training_metadata(const std::string& task, const TrainOptions& o, const DatasetStats& stats,
                                 const std::string& val_path, std::size_t train_crystals, std::size_t val_crystals,
                                 int threads) {
  return {{"task", task},
          {"dataset_stats", stats.to_json()},
          {"data", o.data},
          {"val_data", val_path},
          {"train_crystals", train_crystals},
          {"val_crystals", val_crystals},
          {"batch", o.batch},
          {"batching", batching_name(o.batching)},
          {"lr", o.lr},
          {"seed", o.seed},
          {"threads", threads},
          {"device", o.device}};
}

TrainSummary train_model(const TrainOptions& o) {
  const int threads = configure_threads(o.threads);
  const torch::Device dev = parse_device(o.device);
  if (o.out.empty()) throw Error("--out is required", ErrorKind::kUsage);
  const auto& columns = o.net.condition_properties;
  TrainingSetSpec spec;
  spec.columns = columns;
  spec.spacegroups = o.net.condition_spacegroup;
  spec.threads = threads;
  TrainingSet train = load_training_set(o.data, spec);
  const std::string val_path = o.val_data.empty() ? default_validation_path(o.data) : o.val_data;
  spec.limit = static_cast<std::size_t>(o.val_max);
  spec.columns_required = false;  // a validation set without a column leaves it missing (the null token)
  TrainingSet val = val_path.empty() ? TrainingSet{} : load_training_set(val_path, spec);

  // The training set's statistics, stored with the model (model/dataset_stats.h).
  const DatasetStats stats = train.stats();
  // The network standardises property values with the training labels'
  // mean and standard deviation: they become part of its options.
  CspNetOptions net_options = o.net;
  net_options.property_mean.clear();
  net_options.property_stddev.clear();
  for (const auto& c : columns) {
    net_options.property_mean.push_back(stats.properties.at(c).mean);
    net_options.property_stddev.push_back(stats.properties.at(c).stddev);
  }

  std::optional<UniMatOptions> unimat = o.unimat;
  if (unimat && unimat->slots == 0) {
    for (const auto* set : {&train, &val})
      for (const auto& s : set->structures) unimat->slots = std::max(unimat->slots, unimat_slots_needed(s));
  }
  torch::manual_seed(o.seed);
  DiffusionModel model(net_options, o.diffusion, unimat);
  model.to(dev);
  nlohmann::json metadata = training_metadata(model.task(), o, stats, val_path, train.size(), val.size(), threads);
  const bool resuming = o.resume && std::filesystem::exists(o.out + ".ckpt");
  if (!o.init.empty() && !resuming) {
    metadata["init"] = warm_start(o.init, model);
    if (!o.quiet)
      std::fprintf(stderr, "initialised from %s: %zu parameter tensors copied, %zu new\n", o.init.c_str(),
                   metadata["init"]["copied_parameters"].get<std::size_t>(),
                   metadata["init"]["new_parameters"].get<std::size_t>());
  }
  DiffusionTraining task(o, std::move(train), std::move(val));
  task.set_network(net_options, unimat);
  const LoopResult r = run_training_loop(model, task, o, metadata);
  TrainSummary summary;
  summary.epochs_done = r.epochs_done;
  summary.hours = r.hours;
  summary.train_loss = r.train_loss;
  summary.val_loss = r.last.score;
  summary.crystals_per_second = r.crystals_per_second;
  summary.interrupted = r.interrupted;
  return summary;
}

}  // namespace xtaldiff
