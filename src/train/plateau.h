/// @file
/// ReduceLROnPlateau as DiffCSP configures it (mode min, relative threshold
/// 1e-4): after more than `patience` epochs without improvement the rate is
/// multiplied by `factor`, down to `min_lr`. State is plain numbers so a
/// checkpoint can store it.
#pragma once

#include <algorithm>
#include <cmath>

namespace xtaldiff {

struct PlateauSchedule {
  double factor = 0.6;
  int patience = 30;
  double min_lr = 1e-4;
  double threshold = 1e-4;  ///< relative improvement that counts

  double lr = 1e-3;
  double best = INFINITY;
  int bad_epochs = 0;

  /// Records one epoch's monitored value; returns the learning rate to use next.
  double step(double value) {
    // best starts at +inf, and inf − threshold·inf is NaN: test it first.
    if (!std::isfinite(best) || value < best - threshold * std::fabs(best)) {
      best = value;
      bad_epochs = 0;
    } else if (++bad_epochs > patience) {
      lr = std::max(min_lr, lr * factor);
      bad_epochs = 0;
    }
    return lr;
  }
};

}  // namespace xtaldiff
