#include "model/predicted_stability.h"

#include <algorithm>
#include <cmath>

#include "eval/gen_inputs.h"
#include "model/property_model.h"
#include "util/error.h"

namespace xtaldiff {

PredictedStability predict_stability(const std::vector<Structure>& samples, const PredictedStabilityOptions& o) {
  if (o.predictor.empty())
    throw Error("--stability predicted needs --predictor MODEL (a property model of " + o.hull_column + ")",
                ErrorKind::kUsage);
  if (o.hull.empty())
    throw Error("--stability predicted needs --hull DATA (or --train): the labelled entries of the convex hull",
                ErrorKind::kUsage);
  LoadedPropertyModel model = load_property_model(o.predictor);
  const int k = model.model->column_index(o.hull_column);
  if (k < 0)
    throw Error(o.predictor + " does not predict '" + o.hull_column + "' (train one with --task property --column " +
                    o.hull_column + ")",
                ErrorKind::kUsage);
  const ConvexHull hull = convex_hull_of_dataset(o.hull, o.hull_column);
  PredictedStability p;
  p.predictor = o.predictor;
  p.hull_entries = hull.entries().size();
  p.holdout_mae = model.metadata.value("holdout_mae", nlohmann::json::object()).value(o.hull_column, NAN);
  std::vector<Structure> readable;
  std::vector<std::size_t> where;
  for (std::size_t i = 0; i < samples.size(); ++i)
    if (samples[i].size()) readable.push_back(samples[i]), where.push_back(i);
  const auto y = predict_structures(*model.model, readable, torch::Device("cpu"));
  p.formation_energy.assign(samples.size(), NAN);
  p.e_above_hull.assign(samples.size(), NAN);
  for (std::size_t r = 0; r < readable.size(); ++r) {
    const std::size_t i = where[r];
    const double e = y[r][static_cast<std::size_t>(k)];
    p.formation_energy[i] = e;
    p.e_above_hull[i] = hull.energy_above_hull(samples[i].composition(), e);
  }
  return p;
}

void add_predicted_stability_json(nlohmann::ordered_json& j, const PredictedStability& p) {
  j["predictor"] = p.predictor;
  j["predictor_holdout_mae"] = p.holdout_mae;
  j["hull_entries"] = p.hull_entries;
  std::vector<double> eh;
  for (double v : p.e_above_hull)
    if (std::isfinite(v)) eh.push_back(v);
  std::sort(eh.begin(), eh.end());
  if (!eh.empty()) j["predicted_e_above_hull_median"] = eh[eh.size() / 2];
}

}  // namespace xtaldiff
