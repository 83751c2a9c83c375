/// @file
/// Property values to condition a property-conditioned generation model on
/// (classifier-free guidance, CspNetOptions::condition_properties), from the
/// user's targets. `band_gap=3.0` conditions every crystal on 3.0. A range
/// (`formation_energy_per_atom<-1.0`, or a `<` and a `>` target on one
/// column) has no single value: each crystal is conditioned on its own value
/// drawn from the training labels' distribution (the 101 quantiles the
/// trainer keeps in dataset_stats.properties) restricted to the range, so
/// the requests look like the labels the network learnt from. A range the
/// training labels never reach is conditioned on its bound (and reported).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "model/cspnet.h"
#include "model/dataset_stats.h"
#include "model/property_model.h"

namespace xtaldiff {

struct PropertyConditionPlan {
  /// Per task, one value per conditioning column of the network (NaN = none).
  std::vector<std::vector<double>> values;
  /// Per conditioning column: "value" / "range" / "none" and, for ranges,
  /// the interval and the share of training labels inside it.
  nlohmann::json report = nlohmann::json::array();
};

/// `targets` whose column the network is conditioned on (others are left
/// to classifier guidance); `property_stats`: DatasetStats::properties.
/// Contradictory targets on one column (`x=1` with `x<0`, `x<0` with `x>1`)
/// are a usage error.
PropertyConditionPlan plan_property_conditions(const CspNetOptions& net,
                                               const std::map<std::string, LabelStats>& property_stats,
                                               const std::vector<PropertyTarget>& targets, std::size_t tasks,
                                               uint64_t seed);

/// A value of the distribution given by `quantiles` (equally spaced
/// levels 0..1, piecewise linear between them) restricted to [lo, hi], for
/// a uniform u in [0, 1]; the nearest bound when no mass lies inside.
double quantile_draw(const std::vector<double>& quantiles, double lo, double hi, double u);
/// Share of the distribution of `quantiles` inside [lo, hi].
double quantile_mass(const std::vector<double>& quantiles, double lo, double hi);

}  // namespace xtaldiff
