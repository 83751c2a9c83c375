#include "train/cdvae_trainer.h"

#include <fmt/format.h>

#include <cmath>
#include <cstdio>
#include <filesystem>

#include "ml/runtime.h"
#include "model/cdvae_model.h"
#include "model/model_file.h"
#include "train/training_data.h"
#include "util/error.h"
#include "util/file_io.h"

namespace xtaldiff {
namespace {

// --config: the decoder's network shape, the encoder's (the decoder's
// unless "encoder" sets it) and the CDVAE options it sets.
struct CdvaeConfig {
  CspNetOptions decoder, encoder;
  nlohmann::json cdvae = nlohmann::json::object();
};

CdvaeConfig cdvae_config(const std::string& config) {
  CdvaeConfig c;
  if (config == "tiny" || config == "small" || config == "base") {
    c.decoder = c.encoder = CspNetOptions::preset(config);
    return c;
  }
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(read_file(config));
  } catch (const nlohmann::json::exception& e) {
    throw Error(config + ": not valid JSON (" + e.what() + ")");
  }
  if (!j.is_object() || (!j.contains("cdvae") && !j.contains("network") && !j.contains("encoder")))
    throw Error(config + ": no \"cdvae\", \"network\" or \"encoder\" object for --arch cdvae", ErrorKind::kUsage);
  c.decoder = CspNetOptions::preset("small");
  if (j.contains("network")) {
    nlohmann::json net = c.decoder.to_json();
    net.update(j["network"]);
    c.decoder = CspNetOptions::from_json(net);
  }
  c.encoder = c.decoder;
  if (j.contains("encoder")) {
    nlohmann::json enc = c.decoder.to_json();
    enc.update(j["encoder"]);
    c.encoder = CspNetOptions::from_json(enc);
  }
  c.cdvae = j.value("cdvae", nlohmann::json::object());
  return c;
}

// Mean and deviation of each of the lattice head's six targets.
void set_lattice_standardisation(const TrainingSet& train, CdvaeOptions& o) {
  std::vector<double> sum(6, 0.0), sq(6, 0.0);
  for (const auto& s : train.structures) {
    const double n = std::cbrt(static_cast<double>(s.size()));
    const auto len = s.lattice.lengths();
    const auto ang = s.lattice.angles();
    const double v[6] = {len[0] / n, len[1] / n, len[2] / n, ang[0], ang[1], ang[2]};
    for (int k = 0; k < 6; ++k) sum[k] += v[k], sq[k] += v[k] * v[k];
  }
  const double n = std::max<double>(1, train.size());
  for (int k = 0; k < 6; ++k) {
    o.lattice_mean[k] = sum[k] / n;
    // A constant target (Perov-5's right angles) keeps a unit scale.
    const double var = sq[k] / n - o.lattice_mean[k] * o.lattice_mean[k];
    o.lattice_stddev[k] = var > 1e-8 ? std::sqrt(var) : 1.0;
  }
}

// A configuration without the sampler's defaults (steps per level, step
// size): what a resumed run must share with its checkpoint.
nlohmann::json trained_part(nlohmann::json config) {
  for (const char* key : {"steps_per_level", "step_lr"}) config["cdvae"].erase(key);
  return config;
}

class CdvaeTraining : public TrainingTask {
 public:
  CdvaeTraining(const TrainOptions& o, TrainingSet train, TrainingSet val, nlohmann::json config)
      : o_(o), train_(std::move(train)), val_(std::move(val)), config_(std::move(config)) {}

  std::vector<int64_t> atom_counts() const override { return train_.atom_counts(); }
  CrystalBatch batch(const std::vector<std::size_t>& index, const torch::Device& dev) const override {
    return train_.batch(index, dev);
  }
  Evaluation evaluate(Model& model) const override {
    return validation_loss(model, val_, o_.batch, o_.seed + 17, parse_device(o_.device));
  }
  nlohmann::json identity() const override { return {{"config", config_}}; }
  void check_resumable(const Model& saved, const nlohmann::json&, const std::string& path) const override {
    if (saved.arch() != "cdvae")
      throw Error(path + ": a checkpoint of a " + saved.arch() + " model, not a CDVAE", ErrorKind::kUsage);
    if (trained_part(saved.config()) != trained_part(config_))
      throw Error(path + ": checkpoint's CDVAE configuration " + saved.config().dump() + " is not this run's " +
                      config_.dump() + " (pass the same --config, --condition and data)",
                  ErrorKind::kUsage);
  }

 private:
  const TrainOptions& o_;
  TrainingSet train_, val_;
  nlohmann::json config_;
};

}  // namespace

TrainReport train_cdvae(const TrainRequest& r) {
  const TrainOptions& o = r.options;
  if (r.task != "gen") throw Error("--arch cdvae trains --task gen (reconstruction and generation)", ErrorKind::kUsage);
  if (o.net.condition_spacegroup)
    throw Error("--condition spacegroup: a CDVAE conditions on dataset columns only", ErrorKind::kUsage);
  if (o.out.empty()) throw Error("--out is required", ErrorKind::kUsage);
  const int threads = configure_threads(o.threads);
  const torch::Device dev = parse_device(o.device);
  const CdvaeConfig config = cdvae_config(r.config);

  TrainingSetSpec spec;
  spec.columns = o.net.condition_properties;
  spec.threads = threads;
  TrainingSet train = load_training_set(o.data, spec);
  const std::string val_path = o.val_data.empty() ? default_validation_path(o.data) : o.val_data;
  spec.limit = static_cast<std::size_t>(o.val_max);
  spec.columns_required = false;
  TrainingSet val = val_path.empty() ? TrainingSet{} : load_training_set(val_path, spec);
  const DatasetStats stats = train.stats();

  nlohmann::json merged = CdvaeOptions{}.to_json();
  merged.update(config.cdvae);
  CdvaeOptions co = CdvaeOptions::from_json(merged);
  co.max_atoms = stats.max_atoms();
  set_lattice_standardisation(train, co);
  const bool resuming = o.resume && std::filesystem::exists(o.out + ".ckpt");
  LoadedArchive source;
  if (!o.init.empty() && !resuming) {
    source = read_model_file(o.init);
    if (source.arch != "cdvae")
      throw Error("--init " + o.init + ": a " + source.arch + " model cannot start a CDVAE", ErrorKind::kUsage);
    // The heads keep meaning what they learned: the source's lattice
    // standardisation, and its atom-count classes when they cover the data.
    const CdvaeOptions src = CdvaeOptions::from_json(source.model->config()["cdvae"]);
    co.lattice_mean = src.lattice_mean;
    co.lattice_stddev = src.lattice_stddev;
    co.max_atoms = std::max(co.max_atoms, src.max_atoms);
  }
  co.properties = o.net.condition_properties;
  co.property_mean.clear();
  co.property_stddev.clear();
  for (const auto& c : co.properties) {
    co.property_mean.push_back(stats.properties.at(c).mean);
    co.property_stddev.push_back(stats.properties.at(c).stddev);
  }
  // Both networks plain (no condition); the decoder reads type vectors and z.
  auto plain = [](CspNetOptions n) {
    n.diffuse_types = false;
    n.condition_spacegroup = false;
    n.condition_properties.clear();
    n.property_mean.clear();
    n.property_stddev.clear();
    n.latent_dim = 0;
    return n;
  };
  const CspNetOptions encoder = plain(config.encoder);
  CspNetOptions decoder = plain(config.decoder);
  decoder.diffuse_types = true;
  decoder.type_diffusion = "ddpm";
  decoder.latent_dim = co.latent_dim;
  torch::manual_seed(o.seed);
  CdvaeModel model(encoder, decoder, co);
  model.to(dev);
  nlohmann::json metadata = training_metadata(model.task(), o, stats, val_path, train.size(), val.size(), threads);
  if (source.model) {
    // Every parameter of the same name and shape (a property head or a
    // conditioned prior added to a trained CDVAE starts fresh).
    const auto [copied, fresh] = copy_matching_parameters(source.ema ? *source.ema : *source.model, model);
    metadata["init"] = {{"model", o.init},
                        {"copied_parameters", copied},
                        {"new_parameters", fresh},
                        {"source_commands", source.state.metadata.value("commands", nlohmann::json::array())}};
    if (!o.quiet)
      std::fprintf(stderr, "initialised from %s: %zu parameter tensors copied, %zu new\n", o.init.c_str(), copied, fresh);
  }
  CdvaeTraining task(o, std::move(train), std::move(val), model.config());
  const LoopResult res = run_training_loop(model, task, o, metadata);
  TrainReport report;
  report.interrupted = res.interrupted;
  report.summary = fmt::format("{} {} epochs in {:.2f} h: train loss {:.4f}, {}; wrote {}{}",
                               res.interrupted ? "stopped by a signal after" : "trained", res.epochs_done, res.hours,
                               res.train_loss,
                               std::isfinite(res.last.score) ? fmt::format("val loss {:.4f}", res.last.score)
                                                             : "no validation set",
                               o.out, res.interrupted ? " (continue with --resume)" : "");
  return report;
}

}  // namespace xtaldiff
