/// @file
/// The model file: one file (LibTorch archive) holding the format tag and
/// version, the JSON configuration that rebuilds the network and the
/// diffusion processes, the weights, the EMA weights, and training metadata
/// (command, data, epochs, hours, losses). A training checkpoint is the same
/// file plus the optimiser and trainer state, so `--resume` continues it.
/// Written to a temporary file and renamed; a damaged or foreign file gives
/// an Error naming the file.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "model/csp_model.h"

namespace xtaldiff {

constexpr int kModelFormatVersion = 1;
constexpr const char* kModelFormatTag = "xtaldiff-model";

struct SavedState {
  nlohmann::json metadata = nlohmann::json::object();  ///< how it was trained
  nlohmann::json trainer = nlohmann::json::object();   ///< epoch, step, scheduler (checkpoints)
};

/// Saves a LibTorch archive to a temporary file beside `path`, then renames
/// it into place: a failure leaves the old file (if any) untouched.
void save_archive_atomic(torch::serialize::OutputArchive& archive, const std::string& path);

/// Writes model (+ EMA, + optimiser when given) atomically.
void save_model_file(const std::string& path, CspModel& model, CspModel* ema, const SavedState& state,
                     torch::optim::Optimizer* optimizer = nullptr);

struct LoadedModel {
  std::unique_ptr<CspModel> model;  ///< raw weights
  std::unique_ptr<CspModel> ema;    ///< EMA weights (null when the file has none)
  SavedState state;
  std::string task;
  /// The weights to sample with: EMA when present.
  CspModel& for_sampling() { return ema ? *ema : *model; }
  const CspModel& for_sampling() const { return ema ? *ema : *model; }
};

/// Reads a model file. When `optimizer` is given and the file holds
/// optimiser state, it is restored (for resuming).
LoadedModel load_model_file(const std::string& path, torch::optim::Optimizer* optimizer = nullptr);
/// Restores only the optimiser state from a checkpoint written by save_model_file.
bool load_optimizer_state(const std::string& path, torch::optim::Optimizer& optimizer, const torch::Device& device);

}  // namespace xtaldiff
