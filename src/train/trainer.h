/// @file
/// Training of a diffusion model (CSP or generation) with DiffCSP's recipe
/// in the shared loop (train/train_loop.h): Adam, plateau LR schedule on
/// the validation loss (factor 0.6, patience 30 epochs, floor 1e-4),
/// gradient clipping by value (0.5), EMA weights (the model file holds
/// them), validation loss of the EMA weights on a fixed subset with fixed
/// noise each epoch.
#pragma once

#include <optional>
#include <string>

#include "model/dataset_stats.h"
#include "model/diffusion_model.h"
#include "train/train_loop.h"

namespace xtaldiff {

struct TrainOptions : LoopOptions {
  std::string data;      ///< training CSV (CDVAE layout) or any structure file
  std::string val_data;  ///< validation set; empty = train name with "train" → "val" if present
  CspNetOptions net;
  DiffusionOptions diffusion;
  int val_max = 2048;    ///< validation crystals used per epoch (a fixed subset)
  /// Set: UniMat's U-Net over the periodic-table tensor instead of DiffCSP's
  /// GNN (`train --arch unimat`); slots 0 = the training and validation
  /// sets' largest count of one element.
  std::optional<UniMatOptions> unimat;
  /// Warm start (a new run, ignored when resuming): every parameter of this
  /// model file whose name and shape the new network shares is copied into
  /// both the weights and the EMA; the rest (e.g. a new condition's
  /// embedding) keeps its random initialisation.
  std::string init;
};

struct TrainSummary {
  int epochs_done = 0;
  double hours = 0;
  double train_loss = 0, val_loss = 0;
  double crystals_per_second = 0;
  bool interrupted = false;  ///< stopped by SIGINT/SIGTERM (checkpoint and model file written)
};

/// What every training run's model file records of its setup: the task,
/// the training set's statistics (model/dataset_stats.h), the data, the
/// loop's settings.
nlohmann::json training_metadata(const std::string& task, const TrainOptions& options, const DatasetStats& stats,
                                 const std::string& val_path, std::size_t train_crystals, std::size_t val_crystals,
                                 int threads);

/// Trains a CSP model, or a generation model when options.net.diffuse_types.
TrainSummary train_model(const TrainOptions& options);

}  // namespace xtaldiff
