#include "report/report_data.h"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <functional>
#include <cmath>
#include <map>
#include <mutex>
#include <set>

#include "chem/element.h"
#include "crystal/symmetry.h"
#include "eval/csp_metrics.h"
#include "io/formats.h"
#include "io/sample_ids.h"
#include "util/error.h"
#include "util/parallel.h"

namespace xtaldiff {
namespace {

using json = nlohmann::json;

// A number with `digits` decimals (the page shows at most that many), or
// null when it is not finite (JSON has no NaN).
json rounded(double v, int digits) {
  if (!std::isfinite(v)) return nullptr;
  const double scale = std::pow(10.0, digits);
  return std::round(v * scale) / scale;
}

// Five decimals, without "-0.00000".
double five_decimals(double x) { return std::abs(x) < 5e-6 ? 0.0 : x; }

// "L00 .. L22|Z1 Z2 ..|x1 y1 z1 ..": a structure's atoms in a string the
// page decodes only when the structure is shown.
std::string atoms_text(const Structure& s) {
  std::string out;
  for (const auto& row : s.lattice.matrix())
    for (double x : row) out += fmt::format("{}{:.5f}", out.empty() ? "" : " ", five_decimals(x));
  out += '|';
  for (std::size_t i = 0; i < s.size(); ++i) out += fmt::format("{}{}", i ? " " : "", s.species[i]);
  out += '|';
  for (std::size_t i = 0; i < s.size(); ++i)
    for (int k = 0; k < 3; ++k) out += fmt::format("{}{:.5f}", i || k ? " " : "", five_decimals(s.frac[i][k]));
  return out;
}

std::string spacegroup_label(int number) {
  return number > 0 ? fmt::format("{} ({})", spacegroup_symbol(number), number) : "none found";
}

// spglib's space group at symprec 0.1, 0 for a cell it finds none for.
int find_spacegroup(const Structure& s) {
  if (s.species.empty()) return 0;
  try {
    const SpaceGroupInfo info = analyze_symmetry(s, kDefaultSymprec);
    return info.found ? info.number : 0;
  } catch (const Error&) {
    return 0;
  }
}

std::size_t distinct_elements(const Structure& s) { return std::set<int>(s.species.begin(), s.species.end()).size(); }

// Counts finished items over the threads and reports them (at most ~200
// calls per run).
class Progress {
 public:
  Progress(const std::function<void(std::size_t, std::size_t)>& f, std::size_t total)
      : f_(f), total_(total), step_(std::max<std::size_t>(1, total / 200)) {}
  void add() {
    const std::size_t d = ++done_;
    if (f_ && (d % step_ == 0 || d == total_)) {
      std::lock_guard<std::mutex> lock(mutex_);
      f_(d, total_);
    }
  }

 private:
  const std::function<void(std::size_t, std::size_t)>& f_;
  std::size_t total_, step_;
  std::atomic<std::size_t> done_{0};
  std::mutex mutex_;
};

// A column is plotted when it has values and every value is a number.
bool numeric_column(const Dataset& d, std::size_t c) {
  bool any = false;
  for (std::size_t i = 0; i < d.size(); ++i) {
    const std::string& v = d.records[i].values[c];
    if (v.empty()) continue;
    if (!d.number(i, c)) return false;
    any = true;
  }
  return any;
}

// The manifest's main fields, in reading order, as [name, text] pairs.
json run_rows(const json& m) {
  json rows = json::array();
  auto text = [](const json& v) {
    if (v.is_string()) return v.get<std::string>();
    if (v.is_number_float()) return fmt::format("{:.6g}", v.get<double>());
    return v.dump();
  };
  for (const char* key : {"command", "structures", "model", "task", "sampler", "steps", "network_evaluations_per_crystal",
                          "precision", "seed", "device", "threads", "constraints", "finished", "xtaldiff_version"})
    if (m.contains(key) && !m[key].is_null()) rows.push_back({key, text(m[key])});
  if (m.contains("seconds") && m["seconds"].is_number()) {
    const double s = m["seconds"].get<double>();
    const double n = m.value("crystals", 0.0);
    rows.push_back({"sampling time", fmt::format("{:.1f} s{}", s, n > 0 && s > 0 ? fmt::format(" ({:.2f} crystals/s)", n / s) : "")});
  }
  if (m.contains("failed_non_finite")) rows.push_back({"failed (non-finite after retries)", text(m["failed_non_finite"])});
  const auto meta = m.value("model_metadata", json::object());
  if (meta.contains("epochs") || meta.contains("hours"))
    rows.push_back({"model training", fmt::format("{} epochs, {:.2f} h on {}", text(meta.value("epochs", json("?"))),
                                                  meta.value("hours", 0.0), text(meta.value("data", json("?"))))});
  return rows;
}

// The space-group condition and property targets the manifest reports.
json target_rows(const json& m) {
  json rows = json::array();
  if (m.contains("spacegroup_condition") && m["spacegroup_condition"].is_object()) {
    const auto& c = m["spacegroup_condition"];
    const int sg = c.value("requested", 0);
    rows.push_back({{"target", fmt::format("space group {} ({}), guidance {}", spacegroup_symbol(sg), sg,
                                           c.value("guidance", json(1)).dump())},
                    {"met", c.value("hits", json(0)).dump()},
                    {"hit_rate", c.value("hit_rate", json(nullptr))},
                    {"mean_predicted", nullptr},
                    {"tolerance", nullptr}});
  }
  const json* targets = nullptr;
  if (m.contains("property_predictions") && m["property_predictions"].is_object())
    targets = &m["property_predictions"]["targets"];
  else if (m.contains("guidance") && m["guidance"].is_object())
    targets = &m["guidance"]["targets"];
  if (targets && targets->is_array())
    for (const auto& t : *targets) {
      const json target = t.value("target", json("?"));
      rows.push_back({{"target", target.is_string() ? target.get<std::string>() : target.dump()},
                      {"met", t.contains("met") ? t["met"].dump() : "–"},
                      {"hit_rate", t.value("hit_rate", json(nullptr))},
                      {"mean_predicted", t.value("mean_predicted", json(nullptr))},
                      {"tolerance", t.value("tolerance", json(nullptr))}});
    }
  return rows;
}

// Densities, volumes per atom, atom and element counts, space groups and
// property columns of the reference set.
json reference_data(const Dataset& ref, const std::vector<std::string>& plotted_columns, int threads, Progress& progress) {
  const auto sg_col = ref.column("spacegroup.number") ? ref.column("spacegroup.number") : ref.column("spacegroup");
  std::vector<int> sg(ref.size(), 0);
  parallel_for(ref.size(), threads, [&](std::size_t i) {
    const auto n = sg_col ? ref.number(i, *sg_col) : std::nullopt;
    sg[i] = n ? static_cast<int>(*n) : find_spacegroup(ref.records[i].structure);
    progress.add();
  });
  json out = {{"name", ref.source}};
  json density = json::array(), vpa = json::array(), atoms = json::array(), elements = json::array();
  for (const auto& r : ref.records) {
    const Structure& s = r.structure;
    if (s.species.empty()) continue;
    density.push_back(rounded(s.density(), 4));
    vpa.push_back(rounded(s.volume() / s.size(), 3));
    atoms.push_back(s.size());
    elements.push_back(distinct_elements(s));
  }
  out["density"] = density;
  out["volume_per_atom"] = vpa;
  out["atoms"] = atoms;
  out["elements"] = elements;
  out["spacegroups"] = sg;
  json properties = json::object();
  for (const auto& name : plotted_columns) {
    const auto c = ref.column(name);
    if (!c) continue;
    json values = json::array();
    for (std::size_t i = 0; i < ref.size(); ++i)
      if (const auto v = ref.number(i, *c)) values.push_back(rounded(*v, 5));
    properties[name] = values;
  }
  out["properties"] = properties;
  return out;
}

}  // namespace

json report_data(const SampleReportInput& in, SampleReportSummary* summary_out) {
  static const Dataset kEmpty;
  const Dataset& data = in.structures ? *in.structures : kEmpty;
  const std::size_t n = data.size();
  // spglib numbers at symprec 0.1: `sample`'s column, or MP-20's.
  const auto sg_col = data.column("spacegroup") ? data.column("spacegroup") : data.column("spacegroup.number");
  const auto sample_col = data.column("sample");
  const bool want_sg = sg_col || in.find_spacegroups;

  // Ground truth: which crystal each structure predicts.
  std::vector<long> truth_of(n, -1);
  std::map<std::string, std::size_t> truth_index;
  if (in.ground_truth) {
    for (std::size_t g = 0; g < in.ground_truth->size(); ++g) {
      if (truth_index.count(in.ground_truth->records[g].id))
        throw Error(in.ground_truth->source + ": material_id '" + in.ground_truth->records[g].id + "' appears twice");
      truth_index[in.ground_truth->records[g].id] = g;
    }
    for (std::size_t i = 0; i < n; ++i) {
      const std::string id = sample_col ? sample_file_id(data.records[i].id, data.records[i].values[*sample_col])
                                        : data.records[i].id;
      const auto it = truth_index.find(source_id_of(id, [&](const std::string& s) { return truth_index.count(s) > 0; }));
      if (it != truth_index.end()) truth_of[i] = static_cast<long>(it->second);
    }
  }
  const std::size_t matched_items = in.ground_truth ? n : 0;
  Progress progress(in.progress, n + (in.reference ? in.reference->size() : 0) + matched_items);

  std::vector<Validity> validity(n);
  std::vector<int> spacegroup(n, 0);
  parallel_for(n, in.threads, [&](std::size_t i) {
    const Structure& s = data.records[i].structure;
    validity[i] = in.validity ? in.validity->at(i) : check_validity(s);
    if (sg_col) {
      const auto v = data.number(i, *sg_col);
      spacegroup[i] = v ? static_cast<int>(*v) : 0;
    } else if (want_sg) {
      spacegroup[i] = find_spacegroup(s);
    }
    progress.add();
  });

  // CSP: every prediction against its ground truth (the per-row match and
  // RMS), and the run's numbers as `eval csp --only-predicted` gives them.
  json csp = nullptr;
  std::vector<CspCrystalResult> per_prediction(n);
  std::vector<long> gt_slot;  // ground-truth record -> index in the page's "gt" list
  json gt_list = json::array();
  if (in.ground_truth) {
    const Dataset& gt = *in.ground_truth;
    std::vector<CspTask> one_each;
    std::vector<std::size_t> predicted;
    for (std::size_t i = 0; i < n; ++i) {
      if (truth_of[i] < 0) continue;
      one_each.push_back({data.records[i].id, gt.records[truth_of[i]].structure, {data.records[i].structure}});
      predicted.push_back(i);
    }
    // Space groups are known for the predictions already: the matcher
    // runs without them, and the ground truth's are found once each.
    CspEvalOptions options;
    options.threads = in.threads;
    options.symprec = 0;
    const CspResult rows = evaluate_csp(one_each, options);
    for (std::size_t k = 0; k < predicted.size(); ++k) {
      per_prediction[predicted[k]] = rows.crystals[k];
      progress.add();
    }
    std::vector<int> truth_sg(gt.size(), -1);
    for (std::size_t i = 0; i < n; ++i)
      if (truth_of[i] >= 0) truth_sg[truth_of[i]] = 0;
    parallel_for(gt.size(), in.threads, [&](std::size_t g) {
      if (truth_sg[g] == 0) truth_sg[g] = find_spacegroup(gt.records[g].structure);
    });
    // Space-group recovery as eval csp scores it: per ground-truth crystal,
    // the best match, else its first prediction.
    std::map<long, std::size_t> scored;  // ground truth -> prediction
    for (std::size_t i = 0; i < n; ++i) {
      if (truth_of[i] < 0) continue;
      auto it = scored.find(truth_of[i]);
      const auto& r = per_prediction[i];
      if (it == scored.end()) scored[truth_of[i]] = i;
      else if (r.matched && (!per_prediction[it->second].matched || *r.rms < *per_prediction[it->second].rms))
        it->second = i;
    }
    // The run's numbers from the per-prediction matches, as eval csp scores
    // k samples: a crystal matches when one prediction does, with the best
    // rms; the RMSE averages those.
    std::size_t recovered = 0, matched = 0;
    double rms_sum = 0;
    for (const auto& [g, i] : scored) {
      recovered += truth_sg[g] > 0 && spacegroup[i] == truth_sg[g];
      if (per_prediction[i].matched) ++matched, rms_sum += *per_prediction[i].rms;
    }
    csp = {{"pairs", scored.size()},
           {"matched", matched},
           {"rmse", matched ? rounded(rms_sum / matched, 6) : json(nullptr)},
           {"sg_recovered", recovered},
           {"unpaired", n - predicted.size()},
           {"protocol", csp_protocol_name(rows.protocol)}};
    gt_slot.assign(gt.size(), -1);
    for (std::size_t i = 0; i < n; ++i) {
      if (truth_of[i] < 0 || gt_slot[truth_of[i]] >= 0) continue;
      gt_slot[truth_of[i]] = static_cast<long>(gt_list.size());
      const Record& r = gt.records[truth_of[i]];
      const int sg = truth_sg[truth_of[i]];
      gt_list.push_back({{"id", r.id},
                         {"f", r.structure.composition().reduced_formula()},
                         {"sg", sg},
                         {"sgs", spacegroup_label(sg)},
                         {"s", atoms_text(r.structure)}});
    }
  }

  SampleReportSummary summary;
  summary.structures = n;
  std::set<std::string> formulas;
  std::set<int> groups;
  std::set<int> zs;
  std::vector<std::size_t> extra;
  for (std::size_t c = 0; c < data.columns.size(); ++c)
    if (c != sg_col && c != sample_col) extra.push_back(c);
  json records = json::array();
  for (std::size_t i = 0; i < n; ++i) {
    const Record& r = data.records[i];
    const Structure& s = r.structure;
    const bool empty = s.species.empty();
    summary.structurally_valid += validity[i].structural;
    summary.compositionally_valid += validity[i].compositional;
    summary.valid += validity[i].valid();
    const std::string formula = empty ? "(empty)" : s.composition().reduced_formula();
    formulas.insert(formula);
    if (want_sg) groups.insert(spacegroup[i]);
    zs.insert(s.species.begin(), s.species.end());
    const std::string id = sample_col ? sample_file_id(r.id, r.values[*sample_col]) : r.id;
    json abc = json::array();
    if (!empty) {
      for (double x : s.lattice.lengths()) abc.push_back(rounded(x, 4));
      for (double x : s.lattice.angles()) abc.push_back(rounded(x, 3));
    }
    json values = json::array();
    for (auto c : extra) values.push_back(c < r.values.size() ? r.values[c] : "");
    json rec = {{"id", id},
                {"f", formula},
                {"n", s.size()},
                {"ne", distinct_elements(s)},
                {"sg", want_sg ? json(spacegroup[i]) : json(nullptr)},
                {"sgs", want_sg ? spacegroup_label(spacegroup[i]) : ""},
                {"abc", abc},
                {"vpa", empty ? json(nullptr) : rounded(s.volume() / s.size(), 4)},
                {"rho", empty ? json(nullptr) : rounded(s.density(), 4)},
                {"d", empty || s.size() < 2 ? json(nullptr) : rounded(min_pair_distance(s), 4)},
                {"ok", validity[i].valid() ? 2 : !validity[i].structural ? 0 : 1},
                {"v", values},
                {"s", empty ? "||" : atoms_text(s)}};
    if (!in.cif_folder.empty()) rec["cif"] = in.cif_folder + "/" + safe_file_stem(id) + ".cif";
    if (!in.symmetrized_folder.empty()) rec["cifs"] = in.symmetrized_folder + "/" + safe_file_stem(id) + ".cif";
    if (in.ground_truth) {
      rec["gt"] = truth_of[i] >= 0 ? gt_slot[truth_of[i]] : -1;
      rec["m"] = truth_of[i] >= 0 && per_prediction[i].matched ? 1 : 0;
      rec["rms"] = per_prediction[i].rms ? rounded(*per_prediction[i].rms, 6) : json(nullptr);
    }
    records.push_back(std::move(rec));
  }
  for (std::size_t i = 0; i < n; ++i)
    if (truth_of[i] >= 0) {
      const auto& z = in.ground_truth->records[truth_of[i]].structure.species;
      zs.insert(z.begin(), z.end());
    }
  summary.distinct_formulas = formulas.size();
  summary.distinct_spacegroups = groups.size();
  if (summary_out) *summary_out = summary;

  json elements = json::object();
  for (int z : zs) {
    const Element& e = element(z);
    elements[std::to_string(z)] = {e.symbol, e.covalent_radius.value_or(1.5)};
  }
  json columns = json::array(), numeric = json::array();
  std::vector<std::string> plotted;
  for (std::size_t k = 0; k < extra.size(); ++k) {
    columns.push_back(data.columns[extra[k]]);
    if (numeric_column(data, extra[k])) {
      numeric.push_back({k, data.columns[extra[k]]});
      plotted.push_back(data.columns[extra[k]]);
    }
  }
  json out = {{"title", in.title},
              {"run", run_rows(in.manifest)},
              {"targets", target_rows(in.manifest)},
              {"summary",
               {{"structures", summary.structures},
                {"structurally_valid", summary.structurally_valid},
                {"compositionally_valid", summary.compositionally_valid},
                {"valid", summary.valid},
                {"distinct_formulas", summary.distinct_formulas},
                {"distinct_spacegroups", summary.distinct_spacegroups}}},
              {"elements", elements},
              {"columns", columns},
              {"numeric_columns", numeric},
              {"cif_folder", in.cif_folder},
              {"symmetrized_folder", in.symmetrized_folder},
              {"structures", records},
              {"csp", csp},
              {"gt", in.ground_truth ? gt_list : json(nullptr)},
              {"reference", in.reference ? reference_data(*in.reference, plotted, in.threads, progress) : json(nullptr)}};
  return out;
}

}  // namespace xtaldiff
