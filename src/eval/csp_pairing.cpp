#include "eval/csp_pairing.h"

#include <algorithm>
#include <map>

#include "io/sample_ids.h"
#include "util/error.h"

namespace xtaldiff {

ReadOptions csp_truth_read_options() {
  ReadOptions o;
  o.overlap_tolerance = 0;
  return o;
}

ReadOptions csp_prediction_read_options() {
  ReadOptions o = csp_truth_read_options();
  o.keep_going = true;
  o.cif.merge_tolerance = 1e-6;  // generated atoms that coincide are scored, not merged
  o.cif.merge_distinct_sites = false;
  return o;
}

CspPairing pair_csp_predictions(const Dataset& gt, const Dataset& pred, const std::string& gt_name,
                                bool only_predicted) {
  CspPairing out;
  std::map<std::string, std::size_t> index;
  out.tasks.resize(gt.size());
  for (std::size_t i = 0; i < gt.size(); ++i) {
    if (index.count(gt.records[i].id))
      throw Error(gt_name + ": material_id '" + gt.records[i].id + "' appears twice");
    index[gt.records[i].id] = i;
    out.tasks[i].id = gt.records[i].id;
    out.tasks[i].truth = gt.records[i].structure;
  }
  std::vector<bool> unreadable(pred.size(), false);
  for (const auto& e : pred.errors) unreadable[e.first] = true;
  for (std::size_t i = 0; i < pred.size(); ++i) {
    const std::string id = source_id_of(pred.records[i].id, [&](const std::string& s) { return index.count(s) > 0; });
    auto it = index.find(id);
    if (it == index.end()) {
      ++out.unknown_ids;
      continue;
    }
    if (unreadable[i]) out.tasks[it->second].predictions.emplace_back(std::nullopt);
    else out.tasks[it->second].predictions.emplace_back(pred.records[i].structure);
  }
  if (only_predicted)
    out.tasks.erase(std::remove_if(out.tasks.begin(), out.tasks.end(),
                                   [](const CspTask& t) { return t.predictions.empty(); }),
                    out.tasks.end());
  return out;
}

}  // namespace xtaldiff
