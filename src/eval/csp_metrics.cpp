#include "eval/csp_metrics.h"

#include <algorithm>

#include "eval/validity.h"
#include "util/error.h"
#include "util/parallel.h"

namespace xtaldiff {

CspProtocol parse_csp_protocol(const std::string& name) {
  if (name == "diffcsp") return CspProtocol::kDiffCsp;
  if (name == "cdvae") return CspProtocol::kCdvae;
  if (name == "plain") return CspProtocol::kPlain;
  throw Error("unknown protocol '" + name + "' (diffcsp, cdvae or plain)", ErrorKind::kUsage);
}

const char* csp_protocol_name(CspProtocol p) {
  switch (p) {
    case CspProtocol::kDiffCsp: return "diffcsp";
    case CspProtocol::kCdvae: return "cdvae";
    case CspProtocol::kPlain: return "plain";
  }
  return "?";
}

namespace {

bool is_valid(const Structure& s) {
  if (s.species.empty()) return false;
  try {
    return check_validity(s).valid();
  } catch (const Error&) {
    return false;  // degenerate cell etc.
  }
}

// spglib's space-group number, 0 when it finds none (pymatgen's
// SpacegroupAnalyzer raises there) or the cell is degenerate.
int spacegroup_of(const Structure& s, const CspEvalOptions& o) {
  if (s.species.empty()) return 0;
  try {
    const SpaceGroupInfo info = analyze_symmetry(s, o.symprec, o.angle_tolerance);
    return info.found ? info.number : 0;
  } catch (const Error&) {
    return 0;
  }
}

CspCrystalResult evaluate_one(const CspTask& task, const CspEvalOptions& o, const StructureMatcher& matcher) {
  CspCrystalResult r;
  r.id = task.id;
  r.truth_valid = is_valid(task.truth);
  const Structure* scored = nullptr;  // the prediction whose space group is compared
  for (const auto& pred : task.predictions) {
    if (pred && !scored) scored = &*pred;
    const bool pred_valid = pred && is_valid(*pred);
    r.valid_predictions += pred_valid;
    if (!pred) continue;
    const bool counts = o.protocol == CspProtocol::kPlain ||
                        (o.protocol == CspProtocol::kCdvae && pred_valid) ||
                        (o.protocol == CspProtocol::kDiffCsp && pred_valid && r.truth_valid);
    if (!counts || pred->species.empty()) continue;
    MatchResult m;
    try {
      m = matcher.get_rms_dist(*pred, task.truth);
    } catch (const Error&) {
      continue;  // a degenerate prediction cannot match (DiffCSP: except → None)
    }
    if (m.rms && (!r.rms || *m.rms < *r.rms)) {
      r.matched = true;
      r.rms = m.rms;
      scored = &*pred;
    }
  }
  if (o.symprec > 0) {
    r.truth_spacegroup = spacegroup_of(task.truth, o);
    if (scored) r.prediction_spacegroup = spacegroup_of(*scored, o);
  }
  return r;
}

}  // namespace

CspResult evaluate_csp(const std::vector<CspTask>& tasks, const CspEvalOptions& o) {
  CspResult res;
  res.protocol = o.protocol;
  res.n = tasks.size();
  res.crystals.resize(tasks.size());
  const StructureMatcher matcher(o.matcher);
  parallel_for(tasks.size(), o.threads, [&](std::size_t i) { res.crystals[i] = evaluate_one(tasks[i], o, matcher); }, 8);
  double rms_sum = 0;
  for (std::size_t i = 0; i < tasks.size(); ++i) {
    const auto& c = res.crystals[i];
    res.truth_valid += c.truth_valid;
    res.predictions += tasks[i].predictions.size();
    res.predictions_valid += static_cast<std::size_t>(c.valid_predictions);
    for (const auto& p : tasks[i].predictions) res.predictions_unreadable += !p;
    res.crystals_without_prediction += tasks[i].predictions.empty();
    res.k = std::max(res.k, static_cast<int>(tasks[i].predictions.size()));
    res.spacegroup_recovered += c.spacegroup_recovered();
    if (c.matched) {
      ++res.matched;
      rms_sum += *c.rms;
      res.spacegroup_recovered_matched += c.spacegroup_recovered();
    }
  }
  res.match_rate = res.n ? double(res.matched) / double(res.n) : 0.0;
  res.sg_recovered = res.n ? double(res.spacegroup_recovered) / double(res.n) : 0.0;
  if (res.matched) res.sg_recovered_matched = double(res.spacegroup_recovered_matched) / double(res.matched);
  if (res.matched) res.rmse = rms_sum / double(res.matched);
  return res;
}

nlohmann::ordered_json csp_result_json(const CspResult& r, const CspEvalOptions& o, std::size_t unknown_ids) {
  auto opt = [](const std::optional<double>& v) { return v ? nlohmann::json(*v) : nlohmann::json(nullptr); };
  nlohmann::ordered_json j;
  j["n"] = r.n;
  j["matched"] = r.matched;
  j["match_rate"] = r.match_rate;
  j["rmse"] = opt(r.rmse);
  j["sg_recovered"] = r.sg_recovered;
  j["sg_recovered_matched"] = opt(r.sg_recovered_matched);
  j["symprec"] = o.symprec;
  j["k"] = r.k;
  j["protocol"] = csp_protocol_name(r.protocol);
  j["gt_valid"] = r.truth_valid;
  j["pred_total"] = r.predictions;
  j["pred_valid"] = r.predictions_valid;
  j["pred_unreadable"] = r.predictions_unreadable;
  j["gt_without_prediction"] = r.crystals_without_prediction;
  j["pred_unknown_id"] = unknown_ids;
  j["stol"] = o.matcher.stol;
  j["ltol"] = o.matcher.ltol;
  j["angle_tol"] = o.matcher.angle_tol;
  return j;
}

}  // namespace xtaldiff
