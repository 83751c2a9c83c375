/// @file
/// `train --arch NAME`: one training request for every architecture of the
/// model registry (model/registry.h), dispatched here to that
/// architecture's trainer, so the command line needs no per-architecture
/// branch. A new architecture adds its trainer to the table in
/// architectures.cpp.
#pragma once

#include <string>
#include <vector>

#include "train/trainer.h"

namespace xtaldiff {

struct TrainRequest {
  std::string task = "csp";   ///< csp, gen, property or composition
  std::string config = "small";  ///< --config as given (a preset name or a JSON file)
  std::string arch;           ///< registry name; "" = the task's default architecture
  /// The data, the loop's settings and the network / diffusion options;
  /// architectures read the parts they use.
  TrainOptions options;
  std::vector<std::string> columns;  ///< property: columns to predict
  double holdout = 0.1;              ///< property: share of labelled rows held out
};

struct TrainReport {
  std::string summary;       ///< one line: epochs, hours, losses or errors, the file written
  bool interrupted = false;  ///< stopped by a signal (continue with --resume)
};

/// Validates the request against the architecture and trains it.
TrainReport train_architecture(const TrainRequest& request);

}  // namespace xtaldiff
