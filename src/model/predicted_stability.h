/// @file
/// A stability estimate for generated crystals when no DFT is at hand: a
/// property model predicts each sample's formation energy, and its energy
/// above the convex hull of a labelled dataset's entries follows
/// (eval/convex_hull.h). An estimate, never DFT: the held-out error of the
/// predictor travels with it. Shared by `eval gen --stability predicted`
/// and the Python module's `eval_gen(predictor=...)`.
#pragma once
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "crystal/structure.h"

namespace xtaldiff {

struct PredictedStabilityOptions {
  std::string predictor;  ///< property model file that predicts `hull_column`
  std::string hull;       ///< labelled dataset whose rows are the hull's entries
  std::string hull_column = "formation_energy_per_atom";  ///< eV/atom
};

struct PredictedStability {
  std::string predictor;
  double holdout_mae = 0;  ///< the predictor's held-out MAE of hull_column (NaN when its card has none)
  std::size_t hull_entries = 0;
  std::vector<double> formation_energy;  ///< per sample, NaN for unreadable (empty) ones
  std::vector<double> e_above_hull;      ///< per sample, NaN for unreadable ones
};

/// Throws Error (kUsage) naming what is missing: no predictor or hull, a
/// predictor that does not predict hull_column.
PredictedStability predict_stability(const std::vector<Structure>& samples, const PredictedStabilityOptions& options);

/// Adds predictor, predictor_holdout_mae, hull_entries and
/// predicted_e_above_hull_median to an `eval gen --json` summary.
void add_predicted_stability_json(nlohmann::ordered_json& j, const PredictedStability& p);

}  // namespace xtaldiff
