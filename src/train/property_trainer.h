/// @file
/// Training of the noise-aware property predictor (`train --task property`):
/// labelled rows split once (seeded) into training and held-out parts, Adam,
/// the weights of the epoch with the lowest held-out MAE kept. A checkpoint
/// (OUT.ckpt: weights, best weights, optimiser, epoch) is written atomically
/// at most once a minute and at the end, so `--resume` continues a killed
/// run where it stopped, with the same split and the same epoch order.
#pragma once

#include <string>
#include <vector>

#include "model/property_model.h"

namespace xtaldiff {

struct PropertyTrainOptions {
  std::string data, out;
  std::vector<std::string> columns;
  CspNetOptions encoder;
  int steps = 1000;
  int epochs = 100;  ///< in all, counting resumed ones
  double max_hours = 0;
  int batch = 128;
  double lr = 1e-3;
  double holdout = 0.1;  ///< share of labelled rows held out for the reported error
  int threads = 0;
  std::string device = "cpu";
  uint64_t seed = 42;
  bool quiet = false;
  bool resume = false;  ///< continue from OUT.ckpt when it exists
  std::string command_line;
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
