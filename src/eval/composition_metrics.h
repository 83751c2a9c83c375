/// @file
/// Metrics of generated formulas (issue 20), as Dong et al. and Chemeleon
/// report them: SMACT validity (validity.h), uniqueness and novelty of the
/// reduced formulas, and how far their distribution lies from a reference
/// set's: the 1-D Wasserstein distance of the number of elements and the
/// total-variation distance of the element frequencies (each formula counts
/// once per element it holds; frequencies normalised over all such counts).
/// Plus the baselines such numbers need beside them, drawn with a seed:
///  - "uniform": k distinct elements drawn uniformly from the training
///    set's elements, k from the training distribution of element counts,
///    each count uniform on 1..6;
///  - "enumerate": the same random chemical system, then a random
///    SMACT-valid composition of it with coefficients 1..6 (what sampling
///    `enumerate`'s lists gives; up to 200 tries, else the last draw);
///  - "train": formulas drawn from the training set itself.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "chem/composition.h"

namespace xtaldiff {

struct CompositionMetrics {
  std::size_t n = 0;
  double smact_valid = 0, unique = 0;
  std::optional<double> novel;                   ///< against the training formulas, when given
  std::optional<double> w_num_elements;          ///< against the reference, when given
  std::optional<double> element_frequency_tvd;   ///< against the reference, when given
  nlohmann::ordered_json to_json() const;
};

/// Metrics of `samples`; `reference` (e.g. the test split) and `train`
/// (for novelty) may be empty.
CompositionMetrics evaluate_compositions(const std::vector<Composition>& samples,
                                         const std::vector<Composition>& reference,
                                         const std::vector<Composition>& train);

/// `n` formulas of baseline `kind` ("uniform", "enumerate" or "train")
/// drawn from `train`'s elements and element counts; an Error for another kind.
std::vector<Composition> baseline_compositions(const std::string& kind, const std::vector<Composition>& train,
                                               std::size_t n, uint64_t seed);

}  // namespace xtaldiff
