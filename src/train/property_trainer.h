/// @file
/// Training of the noise-aware property predictor (`train --task property`)
/// in the shared loop (train/train_loop.h): labelled rows split once
/// (seeded) into training and held-out parts, Adam at a constant rate,
/// clipping by value, no EMA, and the weights of the epoch with the lowest
/// held-out MAE kept. Checkpoints (OUT.ckpt) at most once a minute and at
/// the end, so `--resume` continues a killed run with the same split and
/// the same epoch order.
#pragma once

#include <string>
#include <vector>

#include "model/property_model.h"
#include "train/train_loop.h"

namespace xtaldiff {

struct PropertyTrainOptions : LoopOptions {
  PropertyTrainOptions();
  std::string data;
  std::vector<std::string> columns;
  CspNetOptions encoder;
  int steps = 1000;
  double holdout = 0.1;  ///< share of labelled rows held out for the reported error
};

struct PropertyTrainSummary {
  int epochs = 0, train_rows = 0, holdout_rows = 0;
  int resumed_at_epoch = 0;          ///< epochs the checkpoint had done (0: a new run)
  std::vector<double> holdout_mae;  ///< per column, clean structures, the best epoch's weights
  double hours = 0;                 ///< in all, counting resumed sessions
};

/// Trains on the rows with a numeric value in every column; keeps the
/// weights with the lowest held-out MAE (summed over standardised columns).
PropertyTrainSummary train_property_model(const PropertyTrainOptions& options);

}  // namespace xtaldiff
