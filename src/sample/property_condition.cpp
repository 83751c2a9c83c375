#include "sample/property_condition.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>

#include "util/error.h"

namespace xtaldiff {
namespace {

// F(y): the level of y under the piecewise-linear quantile function.
double cdf(const std::vector<double>& q, double y) {
  const std::size_t n = q.size();
  if (y <= q.front()) return 0.0;
  if (y >= q.back()) return 1.0;
  const auto it = std::upper_bound(q.begin(), q.end(), y);
  const std::size_t hi = static_cast<std::size_t>(it - q.begin()), lo = hi - 1;
  const double frac = q[hi] > q[lo] ? (y - q[lo]) / (q[hi] - q[lo]) : 0.0;
  return (static_cast<double>(lo) + frac) / static_cast<double>(n - 1);
}

// F⁻¹(p).
double inverse_cdf(const std::vector<double>& q, double p) {
  const double x = std::clamp(p, 0.0, 1.0) * static_cast<double>(q.size() - 1);
  const std::size_t lo = std::min(static_cast<std::size_t>(x), q.size() - 2);
  return q[lo] + (x - static_cast<double>(lo)) * (q[lo + 1] - q[lo]);
}

}  // namespace

double quantile_mass(const std::vector<double>& q, double lo, double hi) {
  if (q.size() < 2 || hi < lo) return 0.0;
  return cdf(q, hi) - cdf(q, lo);
}

double quantile_draw(const std::vector<double>& q, double lo, double hi, double u) {
  if (q.size() < 2) throw Error("property statistics: fewer than two quantiles");
  const double p_lo = cdf(q, lo), p_hi = cdf(q, hi);
  if (p_hi <= p_lo) return hi <= q.front() ? hi : lo;  // below the data: its upper bound; above: its lower
  return std::clamp(inverse_cdf(q, p_lo + u * (p_hi - p_lo)), lo, hi);
}

PropertyConditionPlan plan_property_conditions(const CspNetOptions& net,
                                               const std::map<std::string, LabelStats>& property_stats,
                                               const std::vector<PropertyTarget>& targets, std::size_t tasks,
                                               uint64_t seed) {
  const auto& columns = net.condition_properties;
  const double inf = std::numeric_limits<double>::infinity();
  PropertyConditionPlan plan;
  std::vector<double> lo(columns.size(), -inf), hi(columns.size(), inf), exact(columns.size(), NAN);
  std::vector<bool> used(columns.size(), false);
  for (const auto& t : targets) {
    const int k = net.property_index(t.column);
    if (k < 0) continue;
    used[k] = true;
    if (t.kind == PropertyTarget::Kind::kEqual) {
      if (std::isfinite(exact[k]) && exact[k] != t.value)
        throw Error("--target: two values for " + t.column, ErrorKind::kUsage);
      exact[k] = t.value;
    } else if (t.kind == PropertyTarget::Kind::kBelow) {
      hi[k] = std::min(hi[k], t.value);
    } else {
      lo[k] = std::max(lo[k], t.value);
    }
  }
  std::vector<std::vector<double>> quantiles(columns.size());
  for (std::size_t k = 0; k < columns.size(); ++k) {
    if (!used[k]) {
      plan.report.push_back({{"column", columns[k]}, {"condition", "none"}});
      continue;
    }
    if (lo[k] > hi[k])
      throw Error("--target: the ranges given for " + columns[k] + " do not overlap", ErrorKind::kUsage);
    if (std::isfinite(exact[k])) {
      if (exact[k] < lo[k] || exact[k] > hi[k])
        throw Error("--target: " + columns[k] + " = " + std::to_string(exact[k]) + " is outside the range also given",
                    ErrorKind::kUsage);
    }
    const auto label = property_stats.find(columns[k]);
    if (label != property_stats.end()) quantiles[k] = label->second.quantiles;
    const bool have_quantiles = !quantiles[k].empty();
    if (have_quantiles && (quantiles[k].size() < 2 || !std::is_sorted(quantiles[k].begin(), quantiles[k].end())))
      throw Error("damaged model file: the label quantiles of " + columns[k] + " are not sorted");
    if (!have_quantiles && !std::isfinite(exact[k]))  // a range is drawn from them; a value needs them only to warn
      throw Error("damaged model file: no label quantiles for the conditioning column " + columns[k]);
    const double q_lo = have_quantiles ? quantiles[k].front() : -inf, q_hi = have_quantiles ? quantiles[k].back() : inf;
    const std::string seen = fmt::format("training labels of {} span {:.4g} to {:.4g}", columns[k], q_lo, q_hi);
    if (std::isfinite(exact[k])) {
      nlohmann::json r = {{"column", columns[k]}, {"condition", "value"}, {"value", exact[k]}};
      if (exact[k] < q_lo || exact[k] > q_hi)
        r["warning"] = fmt::format("{} = {:.4g} lies outside what the model learned ({}): an extrapolation",
                                   columns[k], exact[k], seen);
      plan.report.push_back(r);
      continue;
    }
    const double mass = quantile_mass(quantiles[k], lo[k], hi[k]);
    nlohmann::json r = {{"column", columns[k]}, {"condition", "range"}, {"training_share_in_range", mass},
                        {"values", mass > 0 ? "drawn from the training labels in the range" : "the range's bound"}};
    if (mass <= 0)
      r["warning"] = fmt::format("no training label of {} lies in the range asked for ({}): the range's bound is used, "
                                 "an extrapolation",
                                 columns[k], seen);
    r["low"] = std::isfinite(lo[k]) ? nlohmann::json(lo[k]) : nlohmann::json(nullptr);
    r["high"] = std::isfinite(hi[k]) ? nlohmann::json(hi[k]) : nlohmann::json(nullptr);
    plan.report.push_back(r);
  }
  std::mt19937_64 rng(seed * 6364136223846793005ULL + 1442695040888963407ULL);
  std::uniform_real_distribution<double> uniform(0.0, 1.0);
  bool any = std::any_of(used.begin(), used.end(), [](bool u) { return u; });
  if (!any) return plan;
  plan.values.assign(tasks, std::vector<double>(columns.size(), NAN));
  for (std::size_t i = 0; i < tasks; ++i)
    for (std::size_t k = 0; k < columns.size(); ++k) {
      if (!used[k]) continue;
      plan.values[i][k] = std::isfinite(exact[k]) ? exact[k] : quantile_draw(quantiles[k], lo[k], hi[k], uniform(rng));
    }
  return plan;
}

}  // namespace xtaldiff
