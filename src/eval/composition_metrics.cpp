#include "eval/composition_metrics.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <random>
#include <set>

#include "eval/gen_metrics.h"
#include "eval/validity.h"
#include "util/error.h"

namespace xtaldiff {
namespace {

// Share of formulas holding each element, normalised to sum 1.
std::map<int, double> element_frequencies(const std::vector<Composition>& comps) {
  std::map<int, double> f;
  double total = 0;
  for (const auto& c : comps)
    for (const auto& [z, n] : c.amounts()) f[z] += 1, total += 1;
  for (auto& [z, v] : f) v /= std::max(total, 1.0);
  return f;
}

std::vector<double> element_counts(const std::vector<Composition>& comps) {
  std::vector<double> out;
  for (const auto& c : comps) out.push_back(c.num_elements());
  return out;
}

}  // namespace

nlohmann::ordered_json CompositionMetrics::to_json() const {
  auto opt = [](const std::optional<double>& v) { return v ? nlohmann::json(*v) : nlohmann::json(nullptr); };
  return {{"n", n},
          {"smact_valid", smact_valid},
          {"unique", unique},
          {"novel", opt(novel)},
          {"w_num_elements", opt(w_num_elements)},
          {"element_frequency_tvd", opt(element_frequency_tvd)}};
}

CompositionMetrics evaluate_compositions(const std::vector<Composition>& samples,
                                         const std::vector<Composition>& reference,
                                         const std::vector<Composition>& train) {
  CompositionMetrics m;
  m.n = samples.size();
  if (samples.empty()) return m;
  std::set<std::string> seen, training;
  for (const auto& c : train) training.insert(c.reduced_formula());
  std::size_t valid = 0, novel = 0;
  for (const auto& c : samples) {
    valid += composition_valid(c);
    const std::string f = c.reduced_formula();
    seen.insert(f);
    novel += !training.count(f);
  }
  const double n = static_cast<double>(samples.size());
  m.smact_valid = valid / n;
  m.unique = seen.size() / n;
  if (!train.empty()) m.novel = novel / n;
  if (!reference.empty()) {
    m.w_num_elements = wasserstein_1d(element_counts(samples), element_counts(reference));
    const auto p = element_frequencies(samples), q = element_frequencies(reference);
    std::set<int> zs;
    for (const auto& [z, v] : p) zs.insert(z);
    for (const auto& [z, v] : q) zs.insert(z);
    double tvd = 0;
    for (int z : zs) {
      const auto a = p.find(z), b = q.find(z);
      tvd += std::abs((a == p.end() ? 0.0 : a->second) - (b == q.end() ? 0.0 : b->second));
    }
    m.element_frequency_tvd = 0.5 * tvd;
  }
  return m;
}

std::vector<Composition> baseline_compositions(const std::string& kind, const std::vector<Composition>& train,
                                               std::size_t n, uint64_t seed) {
  if (kind != "uniform" && kind != "enumerate" && kind != "train")
    throw Error("baseline " + kind + ": uniform, enumerate or train", ErrorKind::kUsage);
  if (train.empty()) throw Error("baselines need the training formulas (--train)", ErrorKind::kUsage);
  std::mt19937_64 rng(seed);
  std::vector<Composition> out;
  if (kind == "train") {
    std::uniform_int_distribution<std::size_t> row(0, train.size() - 1);
    for (std::size_t i = 0; i < n; ++i) out.push_back(train[row(rng)]);
    return out;
  }
  std::set<int> element_set;
  std::vector<int> ks;
  for (const auto& c : train) {
    for (const auto& [z, a] : c.amounts()) element_set.insert(z);
    ks.push_back(c.num_elements());
  }
  const std::vector<int> elements(element_set.begin(), element_set.end());
  std::uniform_int_distribution<std::size_t> pick_k(0, ks.size() - 1);
  std::uniform_int_distribution<int> coeff(1, 6);
  for (std::size_t i = 0; i < n; ++i) {
    const int k = std::min<int>(ks[pick_k(rng)], static_cast<int>(elements.size()));
    std::vector<int> system = elements;
    std::shuffle(system.begin(), system.end(), rng);
    system.resize(k);
    auto draw = [&] {
      std::map<int, double> amounts;
      for (int z : system) amounts[z] = coeff(rng);
      return Composition(amounts);
    };
    Composition c = draw();
    if (kind == "enumerate")
      for (int attempt = 0; attempt < 200 && !composition_valid(c); ++attempt) c = draw();
    out.push_back(c);
  }
  return out;
}

}  // namespace xtaldiff
