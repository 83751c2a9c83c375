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
/// ground-truth crystals. Space-group recovery (issue 14, METRICS.md)
/// compares spglib's space group of each ground truth with its prediction's.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "crystal/structure.h"
#include "crystal/symmetry.h"
#include "eval/structure_matcher.h"

#include <nlohmann/json.hpp>

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
  /// Space groups (spglib at CspEvalOptions::symprec; 0 = none found or no
  /// prediction) of the ground truth and of the scored prediction: the best
  /// match when the crystal matched, else the first readable prediction.
  int truth_spacegroup = 0, prediction_spacegroup = 0;
  bool spacegroup_recovered() const { return truth_spacegroup != 0 && prediction_spacegroup == truth_spacegroup; }
};

struct CspResult {
  CspProtocol protocol = CspProtocol::kDiffCsp;
  std::size_t n = 0, matched = 0;
  double match_rate = 0;
  std::optional<double> rmse;
  int k = 0;  ///< most samples any crystal had
  std::size_t truth_valid = 0, predictions = 0, predictions_valid = 0, predictions_unreadable = 0;
  std::size_t crystals_without_prediction = 0;
  /// Space-group recovery: the share of all ground-truth crystals whose
  /// scored prediction has the ground truth's space group, and the same
  /// share among matched crystals (nullopt when nothing matched).
  std::size_t spacegroup_recovered = 0, spacegroup_recovered_matched = 0;
  double sg_recovered = 0;
  std::optional<double> sg_recovered_matched;
  std::vector<CspCrystalResult> crystals;
};

struct CspEvalOptions {
  CspProtocol protocol = CspProtocol::kDiffCsp;
  MatcherOptions matcher = {0.3, 0.5, 10.0, true, true, false};  ///< ltol, stol, angle_tol as the CSP papers
  int threads = 0;  ///< 0: all cores
  /// spglib tolerances of the space-group recovery (pymatgen's
  /// SpacegroupAnalyzer defaults with CDVAE/DiffCSP's symprec); symprec 0
  /// skips the analysis.
  double symprec = kDefaultSymprec;
  double angle_tolerance = kDefaultAngleTolerance;
};

CspResult evaluate_csp(const std::vector<CspTask>& tasks, const CspEvalOptions& options = {});

/// The summary `eval csp --json` prints (keys documented in docs/COMMANDS.md);
/// `unknown_ids` counts predictions that named no ground truth.
nlohmann::ordered_json csp_result_json(const CspResult& r, const CspEvalOptions& options, std::size_t unknown_ids = 0);

}  // namespace xtaldiff
