// `xtaldiff eval csp --pred PRED --gt GT`: match rate and RMSE of predicted
// structures against the ground truth (METRICS.md; src/eval/csp_metrics.h).
// PRED may hold several rows per material_id (k samples); both may be CDVAE
// CSV(.gz) files, folders of CIFs named by id, or any structure file.
// Unreadable predictions are reported per record and count as invalid.
#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "eval/csp_metrics.h"
#include "eval/gen_metrics.h"
#include "io/csv.h"
#include "io/formats.h"
#include "util/file_io.h"
#include "util/error.h"

namespace xtaldiff::cli {
namespace {

struct EvalCspCli {
  std::string pred, gt, protocol = "diffcsp";
  std::string per_crystal;  // CSV of every ground-truth crystal's result
  bool json = false, only_predicted = false;
  int threads = 0;
  CspEvalOptions o;
};

// Folder-of-CIF ids written by `sample` are "<id>_<k>": map them back.
std::string task_id(const std::string& id, const std::map<std::string, std::size_t>& known) {
  if (known.count(id)) return id;
  const auto us = id.rfind('_');
  if (us != std::string::npos && known.count(id.substr(0, us))) return id.substr(0, us);
  return id;
}

void run_eval_csp(EvalCspCli& c) {
  c.o.protocol = parse_csp_protocol(c.protocol);
  c.o.threads = c.threads;
  ReadOptions gro;
  gro.overlap_tolerance = 0;
  const Dataset gt = read_structures(c.gt, gro);
  ReadOptions pro = gro;
  pro.keep_going = true;
  pro.cif.merge_tolerance = 1e-6;  // generated atoms that nearly coincide are scored, not merged
  const Dataset pred = read_structures(c.pred, pro);
  for (const auto& [idx, msg] : pred.errors) fmt::print(stderr, "warning: unreadable prediction (counted invalid): {}\n", msg);

  std::map<std::string, std::size_t> index;
  std::vector<CspTask> tasks(gt.size());
  for (std::size_t i = 0; i < gt.size(); ++i) {
    if (index.count(gt.records[i].id)) throw Error(c.gt + ": material_id '" + gt.records[i].id + "' appears twice");
    index[gt.records[i].id] = i;
    tasks[i].id = gt.records[i].id;
    tasks[i].truth = gt.records[i].structure;
  }
  std::vector<bool> unreadable(pred.size(), false);
  for (const auto& e : pred.errors) unreadable[e.first] = true;
  std::size_t unknown = 0;
  for (std::size_t i = 0; i < pred.size(); ++i) {
    auto it = index.find(task_id(pred.records[i].id, index));
    if (it == index.end()) {
      ++unknown;
      continue;
    }
    if (unreadable[i]) tasks[it->second].predictions.emplace_back(std::nullopt);
    else tasks[it->second].predictions.emplace_back(pred.records[i].structure);
  }
  if (unknown) fmt::print(stderr, "warning: {} predictions name a material_id that is not in {}\n", unknown, c.gt);
  if (c.only_predicted)
    tasks.erase(std::remove_if(tasks.begin(), tasks.end(), [](const CspTask& t) { return t.predictions.empty(); }),
                tasks.end());
  const CspResult r = evaluate_csp(tasks, c.o);
  auto opt = [](const std::optional<double>& v) { return v ? nlohmann::json(*v) : nlohmann::json(nullptr); };
  nlohmann::ordered_json j;
  j["n"] = r.n;
  j["matched"] = r.matched;
  j["match_rate"] = r.match_rate;
  j["rmse"] = opt(r.rmse);
  j["sg_recovered"] = r.sg_recovered;
  j["sg_recovered_matched"] = opt(r.sg_recovered_matched);
  j["symprec"] = c.o.symprec;
  j["k"] = r.k;
  j["protocol"] = csp_protocol_name(r.protocol);
  j["gt_valid"] = r.truth_valid;
  j["pred_total"] = r.predictions;
  j["pred_valid"] = r.predictions_valid;
  j["pred_unreadable"] = r.predictions_unreadable;
  j["gt_without_prediction"] = r.crystals_without_prediction;
  j["pred_unknown_id"] = unknown;
  j["stol"] = c.o.matcher.stol;
  j["ltol"] = c.o.matcher.ltol;
  j["angle_tol"] = c.o.matcher.angle_tol;
  if (!c.per_crystal.empty()) {
    std::string csv = "material_id,truth_valid,valid_predictions,matched,rms,truth_spacegroup,prediction_spacegroup\n";
    for (const auto& x : r.crystals)
      csv += fmt::format("{},{},{},{},{},{},{}\n", csv_escape(x.id), int(x.truth_valid), x.valid_predictions,
                         int(x.matched), x.rms ? fmt::format("{:.6g}", *x.rms) : "", x.truth_spacegroup,
                         x.prediction_spacegroup);
    write_file_atomic(c.per_crystal, csv);
  }
  if (c.json) {
    fmt::print("{}\n", j.dump());
    return;
  }
  fmt::print("CSP evaluation ({} protocol), {} ground-truth crystals, k = {}\n", j["protocol"].get<std::string>(), r.n, r.k);
  fmt::print("  match rate  {:.2f} % ({} matched)\n", 100 * r.match_rate, r.matched);
  fmt::print("  RMSE        {}\n", r.rmse ? fmt::format("{:.4f}", *r.rmse) : "n/a (nothing matched)");
  if (c.o.symprec > 0)
    fmt::print("  space group recovered {:.2f} % of all, {} of matched (spglib, symprec {})\n", 100 * r.sg_recovered,
               r.sg_recovered_matched ? fmt::format("{:.2f} %", 100 * *r.sg_recovered_matched) : "n/a",
               c.o.symprec);
  fmt::print("  valid       ground truth {}/{}, predictions {}/{} ({} unreadable)\n", r.truth_valid, r.n,
             r.predictions_valid, r.predictions, r.predictions_unreadable);
  if (r.crystals_without_prediction) fmt::print("  {} ground-truth crystals had no prediction\n", r.crystals_without_prediction);
}

struct EvalGenCli {
  std::string samples, ref, train, dataset, energy_column = "e_above_hull";
  bool json = false;
  GenEvalOptions o;
};

std::vector<Structure> structures_of(const std::string& path, bool lenient) {
  ReadOptions ro;
  ro.overlap_tolerance = 0;
  ro.keep_going = lenient;
  if (lenient) ro.cif.merge_tolerance = 1e-6;
  Dataset d = read_structures(path, ro);
  for (const auto& [idx, msg] : d.errors) fmt::print(stderr, "warning: unreadable sample (counted invalid): {}\n", msg);
  std::vector<Structure> out;
  for (auto& r : d.records) out.push_back(std::move(r.structure));
  return out;
}

void run_eval_gen(EvalGenCli& c) {
  if (!c.dataset.empty()) c.o.cutoffs = CoverageCutoffs::for_dataset(c.dataset);
  std::vector<Structure> gen;
  {
    ReadOptions ro;
    ro.overlap_tolerance = 0;
    ro.keep_going = true;
    ro.cif.merge_tolerance = 1e-6;
    Dataset d = read_structures(c.samples, ro);
    for (const auto& [idx, msg] : d.errors) fmt::print(stderr, "warning: unreadable sample (counted invalid): {}\n", msg);
    if (auto col = d.column(c.energy_column)) {
      for (std::size_t i = 0; i < d.size(); ++i) c.o.e_above_hull.push_back(d.number(i, *col).value_or(NAN));
    }
    for (auto& r : d.records) gen.push_back(std::move(r.structure));
  }
  const auto ref = structures_of(c.ref, false);
  std::vector<Structure> train;
  if (!c.train.empty()) train = structures_of(c.train, false);
  const GenResult r = evaluate_generation(gen, ref, c.train.empty() ? nullptr : &train, c.o);
  nlohmann::ordered_json j;
  j["n"] = r.n;
  j["struct_validity"] = r.struct_validity;
  j["comp_validity"] = r.comp_validity;
  j["validity"] = r.validity;
  j["cov_recall"] = r.cov_recall;
  j["cov_precision"] = r.cov_precision;
  j["wdist_density"] = r.wdist_density;
  j["wdist_num_elems"] = r.wdist_num_elems;
  j["uniqueness"] = r.uniqueness;
  if (r.novelty) j["novelty"] = *r.novelty;
  if (r.stability) j["stability"] = *r.stability;
  if (r.sun) j["sun"] = *r.sun;
  j["property_samples"] = r.property_samples;
  j["seed"] = c.o.seed;
  j["cov_cutoffs"] = {c.o.cutoffs.structure, c.o.cutoffs.composition};
  if (c.json) {
    fmt::print("{}\n", j.dump());
    return;
  }
  fmt::print("generation metrics, {} samples (reference {}: {} crystals)\n", r.n, c.ref, ref.size());
  fmt::print("  validity      structural {:.2f} %, compositional {:.2f} %, both {:.2f} %\n", 100 * r.struct_validity,
             100 * r.comp_validity, 100 * r.validity);
  fmt::print("  coverage      COV-R {:.2f} %, COV-P {:.2f} % (cutoffs {} / {})\n", 100 * r.cov_recall,
             100 * r.cov_precision, c.o.cutoffs.structure, c.o.cutoffs.composition);
  fmt::print("  Wasserstein   density {:.4f}, #elements {:.4f} ({} valid samples, seed {})\n", r.wdist_density,
             r.wdist_num_elems, r.property_samples, c.o.seed);
  fmt::print("  uniqueness    {:.2f} %\n", 100 * r.uniqueness);
  if (r.novelty) fmt::print("  novelty       {:.2f} %\n", 100 * *r.novelty);
  if (r.stability)
    fmt::print("  stable        {:.2f} % (column {} ≤ {} eV/atom)\n", 100 * *r.stability, c.energy_column,
               c.o.stability_threshold);
  if (r.sun) fmt::print("  S.U.N.        {:.2f} %\n", 100 * *r.sun);
}

}  // namespace

void add_eval_command(CLI::App& app) {
  CLI::App* eval = app.add_subcommand("eval", "Score structures with the published metrics");
  eval->require_subcommand(1);
  auto c = std::make_shared<EvalCspCli>();
  CLI::App* csp = eval->add_subcommand("csp", "Match rate and RMSE of predicted structures against the ground truth");
  csp->add_option("--pred", c->pred, "predictions: CDVAE CSV (k rows per material_id allowed) or folder of CIFs")->required();
  csp->add_option("--gt", c->gt, "ground truth: CDVAE CSV or folder of CIFs")->required();
  csp->add_option("--protocol", c->protocol, "diffcsp (both valid), cdvae (prediction valid) or plain")->capture_default_str();
  csp->add_option("--stol", c->o.matcher.stol, "StructureMatcher site tolerance")->capture_default_str();
  csp->add_option("--ltol", c->o.matcher.ltol, "StructureMatcher length tolerance")->capture_default_str();
  csp->add_option("--angle-tol", c->o.matcher.angle_tol, "StructureMatcher angle tolerance")->capture_default_str();
  csp->add_option("--threads", c->threads, "threads (0: all cores)")->capture_default_str();
  csp->add_option("--symprec", c->o.symprec, "spglib tolerance (Å) of the space-group recovery; 0 skips it")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  csp->add_flag("--only-predicted", c->only_predicted,
                "score only ground-truth crystals that have a prediction (a partial run); default: all");
  csp->add_flag("--json", c->json, "one JSON object");
  csp->add_option("--per-crystal", c->per_crystal,
                  "also write a CSV: material_id, truth_valid, valid_predictions, matched, rms (the best match's), "
                  "truth_spacegroup, prediction_spacegroup");
  csp->callback([c] { run_eval_csp(*c); });

  auto g = std::make_shared<EvalGenCli>();
  CLI::App* gen = eval->add_subcommand("gen", "Validity, coverage, property distances, uniqueness, novelty of generated crystals");
  gen->add_option("--samples", g->samples, "generated structures (any format; unreadable records count invalid)")->required();
  gen->add_option("--ref", g->ref, "reference set (the test split)")->required();
  gen->add_option("--train", g->train, "training set, for novelty");
  gen->add_option("--dataset", g->dataset, "coverage cutoffs of perov_5, carbon_24 or mp_20 (default: mp_20's 0.4 / 10)");
  gen->add_option("--n-property", g->o.n_property, "valid samples drawn for the Wasserstein distances")->capture_default_str();
  gen->add_option("--seed", g->o.seed, "seed of that draw")->capture_default_str();
  gen->add_option("--threads", g->o.threads, "threads (0: all cores)")->capture_default_str();
  gen->add_option("--energy-column", g->energy_column,
                  "column of the samples with the energy above hull (eV/atom) for stability and S.U.N.")
      ->capture_default_str();
  gen->add_option("--stability-threshold", g->o.stability_threshold, "eV/atom")->capture_default_str();
  gen->add_flag("--json", g->json, "one JSON object");
  gen->callback([g] { run_eval_gen(*g); });
}

}  // namespace xtaldiff::cli
