/// @file
/// The model file, one layout for every model kind: a LibTorch archive with
/// the format tag and version, the architecture's registry name
/// (model/registry.h), the task, the JSON configuration that rebuilds the
/// model, training metadata (command, data, epochs, hours, losses, the
/// typed model card of model/dataset_stats.h), the weights, and optionally
/// the EMA weights, the best epoch's weights and the optimiser state (a
/// training checkpoint is the same file with those, so `--resume`
/// continues it). Written to a temporary file and renamed; a damaged or
/// foreign file gives an Error naming the file. Files of format version 1
/// (diffusion models and the separate property-model layout of earlier
/// releases) still load.
#pragma once

#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "model/diffusion_model.h"
#include "model/model.h"

namespace xtaldiff {

constexpr int kModelFormatVersion = 2;
constexpr const char* kModelFormatTag = "xtaldiff-model";

struct SavedState {
  nlohmann::json metadata = nlohmann::json::object();  ///< how it was trained
  nlohmann::json trainer = nlohmann::json::object();   ///< epoch, step, scheduler (checkpoints)
};

/// Saves a LibTorch archive to a temporary file beside `path`, then renames
/// it into place: a failure leaves the old file (if any) untouched.
void save_archive_atomic(torch::serialize::OutputArchive& archive, const std::string& path);

/// The weights a file holds beside the model's own.
struct ExtraWeights {
  Model* ema = nullptr;   ///< exponential moving average (diffusion training)
  Model* best = nullptr;  ///< the best epoch's weights (training that keeps the best)
  torch::optim::Optimizer* optimizer = nullptr;
};

/// Writes a model file atomically.
void save_model_file(const std::string& path, Model& model, const ExtraWeights& extra, const SavedState& state);
/// The common case: model (+ EMA, + optimiser when given).
void save_model_file(const std::string& path, Model& model, Model* ema, const SavedState& state,
                     torch::optim::Optimizer* optimizer = nullptr);

/// Any model file, its models rebuilt through the registry, on the CPU.
struct LoadedArchive {
  std::unique_ptr<Model> model;  ///< the weights
  std::unique_ptr<Model> ema;    ///< EMA weights (null when the file has none)
  std::unique_ptr<Model> best;   ///< best epoch's weights (null when none)
  SavedState state;
  std::string arch, task;
  int format_version = kModelFormatVersion;
};
LoadedArchive read_model_file(const std::string& path);

/// A diffusion model file.
struct LoadedModel {
  std::unique_ptr<DiffusionModel> model;  ///< raw weights
  std::unique_ptr<DiffusionModel> ema;    ///< EMA weights (null when the file has none)
  SavedState state;
  std::string task;
  /// The weights to sample with: EMA when present.
  DiffusionModel& for_sampling() { return ema ? *ema : *model; }
  const DiffusionModel& for_sampling() const { return ema ? *ema : *model; }
};

/// Reads a model file that holds a diffusion model; any other file (a
/// property model, a foreign archive) is an Error naming it.
LoadedModel load_model_file(const std::string& path);
/// The same from an archive already read from `path`.
LoadedModel as_loaded_model(LoadedArchive&& archive, const std::string& path);
/// Restores only the optimiser state from a checkpoint, on `device` (Adam's
/// moments must sit where the parameters are); false when it has none.
bool load_optimizer_state(const std::string& path, torch::optim::Optimizer& optimizer, const torch::Device& device);

}  // namespace xtaldiff
