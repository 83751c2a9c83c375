/// @file
/// CSP metrics (match rate and RMSE) as the papers compute them
/// (METRICS.md): each ground-truth crystal against its k predicted
/// structures with StructureMatcher(stol 0.5, ltol 0.3, angle_tol 10).
/// Protocols differ only in which pairs may count:
///  - diffcsp (default): both prediction and ground truth valid
///    (structural + SMACT), as DiffCSP's compute_metrics.py;
///  - cdvae: the prediction valid (CDVAE's original script);
///  - plain: every pair.
/// A crystal matches when any countable sample matches; its rms is the best
/// one; RMSE is the mean over matched crystals; match rate divides by all
/// ground-truth crystals.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "crystal/structure.h"
#include "eval/structure_matcher.h"

namespace xtaldiff {

enum class CspProtocol { kDiffCsp, kCdvae, kPlain };
CspProtocol parse_csp_protocol(const std::string& name);
const char* csp_protocol_name(CspProtocol p);

struct CspTask {
  std::string id;
  Structure truth;
  std::vector<std::optional<Structure>> predictions;  ///< nullopt: unreadable (counts as invalid)
};

struct CspCrystalResult {
  std::string id;
  bool truth_valid = false;
  int valid_predictions = 0;
  bool matched = false;
  std::optional<double> rms;  ///< best rms among matching samples
};

struct CspResult {
  CspProtocol protocol = CspProtocol::kDiffCsp;
  std::size_t n = 0, matched = 0;
  double match_rate = 0;
  std::optional<double> rmse;
  int k = 0;  ///< most samples any crystal had
  std::size_t truth_valid = 0, predictions = 0, predictions_valid = 0, predictions_unreadable = 0;
  std::size_t crystals_without_prediction = 0;
  std::vector<CspCrystalResult> crystals;
};

struct CspEvalOptions {
  CspProtocol protocol = CspProtocol::kDiffCsp;
  MatcherOptions matcher = {0.3, 0.5, 10.0, true, true, false};  ///< ltol, stol, angle_tol as the CSP papers
  int threads = 0;  ///< 0: all cores
};

CspResult evaluate_csp(const std::vector<CspTask>& tasks, const CspEvalOptions& options = {});

}  // namespace xtaldiff
