/// @file
/// Pairs predictions with their ground truth for the CSP metrics: each
/// prediction names its ground-truth crystal by material_id, or by
/// "<id>_<k>" as `sample` writes folders of CIFs (io/sample_ids.h).
/// Unreadable predictions are kept as such (they count as invalid).
/// Shared by `eval csp` and the Python module's `eval_csp`.
#pragma once
#include <string>
#include <vector>

#include "eval/csp_metrics.h"
#include "io/dataset.h"
#include "io/formats.h"

namespace xtaldiff {

/// How `eval csp` reads files: ground truth with overlapping atoms allowed
/// (they are scored, as invalid); predictions also keep unreadable records
/// and do not merge generated atoms that nearly coincide.
ReadOptions csp_truth_read_options();
ReadOptions csp_prediction_read_options();

struct CspPairing {
  std::vector<CspTask> tasks;  ///< one per ground-truth record, in its order
  std::size_t unknown_ids = 0;  ///< predictions whose id names no ground truth
};

/// `gt_name` names the ground truth in messages. Throws Error when a
/// material_id appears twice in the ground truth. `only_predicted` drops
/// the ground-truth crystals no prediction names.
CspPairing pair_csp_predictions(const Dataset& gt, const Dataset& pred, const std::string& gt_name,
                                bool only_predicted = false);

}  // namespace xtaldiff
