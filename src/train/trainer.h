/// @file
/// Training of a diffusion model (CSP or generation) (DiffCSP recipe): Adam, plateau LR
/// schedule on the validation loss (factor 0.6, patience 30 epochs, floor
/// 1e-4), gradient clipping by value (0.5), EMA weights, a progress line
/// (loss, crystals/s, ETA), a JSON-lines log, and atomic checkpoints every
/// few minutes. Shuffling and noise are seeded per epoch, so a run resumed
/// from its checkpoint continues exactly as if it had not stopped.
#pragma once

#include <string>

#include "model/csp_model.h"
#include "train/batch_plan.h"

namespace xtaldiff {

struct TrainOptions {
  std::string data;               ///< training CSV (CDVAE layout) or any structure file
  std::string val_data;           ///< validation set; empty = train name with "train" → "val" if present
  std::string out;                ///< model file; checkpoint = out + ".ckpt", log = out + ".log"
  CspNetOptions net;
  DiffusionOptions diffusion;
  int epochs = 100;
  double max_hours = 0;           ///< stop (and save) after this wall time; 0 = no limit
  int batch = 256;
  /// Which crystals share a batch (train/batch_plan.h): by atom count, so
  /// the dense edge layout runs on mixed-size datasets, or a plain shuffle.
  Batching batching = Batching::kRandom;
  double lr = 1e-3;
  double min_lr = 1e-4;
  double plateau_factor = 0.6;
  int plateau_patience = 30;
  double clip_value = 0.5;
  double ema_decay = 0.999;
  int val_max = 2048;             ///< validation crystals used per epoch (a fixed subset)
  double checkpoint_minutes = 5;
  int threads = 0;
  std::string device = "cpu";
  bool resume = false;
  /// Warm start (a new run, ignored when resuming): every parameter of this
  /// model file whose name and shape the new network shares is copied into
  /// both the weights and the EMA; the rest (e.g. a new condition's
  /// embedding) keeps its random initialisation.
  std::string init;
  uint64_t seed = 42;
  bool quiet = false;
  std::string command_line;       ///< recorded in the model's metadata
};

struct TrainSummary {
  int epochs_done = 0;
  double hours = 0;
  double train_loss = 0, val_loss = 0;
  double crystals_per_second = 0;
  bool interrupted = false;  ///< stopped by SIGINT/SIGTERM (checkpoint and model file written)
};

/// Trains a CSP model, or a generation model when options.net.diffuse_types.
TrainSummary train_model(const TrainOptions& options);

}  // namespace xtaldiff
