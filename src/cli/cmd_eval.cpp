// `xtaldiff eval csp --pred PRED --gt GT`: match rate and RMSE of predicted
// structures against the ground truth (METRICS.md; src/eval/csp_metrics.h).
// PRED may hold several rows per material_id (k samples); both may be CDVAE
// CSV(.gz) files, folders of CIFs named by id, or any structure file.
// Unreadable predictions are reported per record and count as invalid.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <optional>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "chem/composition.h"
#include "eval/convex_hull.h"
#include "eval/csp_metrics.h"
#include "eval/csp_pairing.h"
#include "eval/gen_metrics.h"
#ifdef XTALDIFF_WITH_TORCH
#include "ml/runtime.h"
#include "model/property_model.h"
#endif
#include "io/csv.h"
#include "io/formats.h"
#include "io/sample_ids.h"
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

void run_eval_csp(EvalCspCli& c) {
  c.o.protocol = parse_csp_protocol(c.protocol);
  c.o.threads = c.threads;
  const Dataset gt = read_structures(c.gt, csp_truth_read_options());
  const Dataset pred = read_structures(c.pred, csp_prediction_read_options());
  for (const auto& [idx, msg] : pred.errors) fmt::print(stderr, "warning: unreadable prediction (counted invalid): {}\n", msg);

  const CspPairing pairs = pair_csp_predictions(gt, pred, c.gt, c.only_predicted);
  if (pairs.unknown_ids)
    fmt::print(stderr, "warning: {} predictions name a material_id that is not in {}\n", pairs.unknown_ids, c.gt);
  const CspResult r = evaluate_csp(pairs.tasks, c.o);
  const nlohmann::ordered_json j = csp_result_json(r, c.o, pairs.unknown_ids);
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
  // --stability predicted: E_hull from a property model's formation energy
  // and the hull of a labelled dataset's entries (an estimate, never DFT).
  std::string stability, predictor, hull, hull_column = "formation_energy_per_atom", per_sample;
  bool json = false;
  GenEvalOptions o;
};

// Hull entries: every row of `path` with a numeric `column` (eV/atom).
ConvexHull hull_of(const std::string& path, const std::string& column) {
  const Dataset d = read_structures(path, ReadOptions{});
  const auto col = d.column(column);
  if (!col) throw Error(path + ": no column '" + column + "' for the convex hull (--hull-column)", ErrorKind::kUsage);
  std::vector<HullEntry> entries;
  for (std::size_t i = 0; i < d.size(); ++i)
    if (const auto v = d.number(i, *col); v && std::isfinite(*v))
      entries.push_back({d.records[i].id, d.records[i].structure.composition(), *v});
  if (entries.empty()) throw Error(path + ": no row has a value in column '" + column + "'", ErrorKind::kInput);
  return ConvexHull(std::move(entries));
}

// What `--stability predicted` adds to the report.
struct PredictedStability {
  std::string predictor;
  double holdout_mae = NAN;
  std::size_t hull_entries = 0;
  std::vector<double> formation_energy;  // per sample, NaN for unreadable ones
};

PredictedStability predict_stability(EvalGenCli& c, const std::vector<Structure>& gen, const std::vector<std::string>& ids) {
#ifndef XTALDIFF_WITH_TORCH
  (void)gen, (void)ids;
  throw Error("--stability predicted needs a property model: this xtaldiff was built without LibTorch", ErrorKind::kUsage);
#else
  if (c.predictor.empty())
    throw Error("--stability predicted needs --predictor MODEL (a property model of " + c.hull_column + ")",
                ErrorKind::kUsage);
  const std::string hull_path = c.hull.empty() ? c.train : c.hull;
  if (hull_path.empty())
    throw Error("--stability predicted needs --hull DATA (or --train): the labelled entries of the convex hull",
                ErrorKind::kUsage);
  configure_threads(c.o.threads);
  LoadedPropertyModel model = load_property_model(c.predictor);
  const int k = model.model->column_index(c.hull_column);
  if (k < 0)
    throw Error(c.predictor + " does not predict '" + c.hull_column + "' (train one with --task property --column " +
                    c.hull_column + ")",
                ErrorKind::kUsage);
  const ConvexHull hull = hull_of(hull_path, c.hull_column);
  PredictedStability p;
  p.predictor = c.predictor;
  p.hull_entries = hull.entries().size();
  p.holdout_mae = model.metadata.value("holdout_mae", nlohmann::json::object()).value(c.hull_column, NAN);
  std::vector<Structure> readable;
  std::vector<std::size_t> where;
  for (std::size_t i = 0; i < gen.size(); ++i)
    if (gen[i].size()) readable.push_back(gen[i]), where.push_back(i);
  const auto y = predict_structures(*model.model, readable, torch::Device("cpu"));
  p.formation_energy.assign(gen.size(), NAN);
  c.o.e_above_hull.assign(gen.size(), NAN);
  std::string csv = "id,formula,predicted_formation_energy_per_atom,predicted_e_above_hull\n";
  for (std::size_t r = 0; r < readable.size(); ++r) {
    const std::size_t i = where[r];
    const double e = y[r][static_cast<std::size_t>(k)];
    p.formation_energy[i] = e;
    const Composition comp = gen[i].composition();
    c.o.e_above_hull[i] = hull.energy_above_hull(comp, e);
    csv += fmt::format("{},{},{:.6f},{:.6f}\n", ids[i], comp.reduced_formula(), e, c.o.e_above_hull[i]);
  }
  if (!c.per_sample.empty()) write_file_atomic(c.per_sample, csv);
  return p;
#endif
}

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
  std::vector<std::string> ids;
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
    for (const auto& r : d.records) ids.push_back(r.id);
  }
  if (!c.stability.empty() && c.stability != "predicted" && c.stability != "column")
    throw Error("--stability " + c.stability + ": 'column' (the samples' --energy-column) or 'predicted' (a property "
                "model's formation energy against the hull of --hull)", ErrorKind::kUsage);
  std::optional<PredictedStability> predicted;
  if (c.stability == "predicted") predicted = predict_stability(c, gen, ids);
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
  if (r.stability) {
    j["stability_source"] = predicted ? "predicted" : c.energy_column;
    j["stability_threshold"] = c.o.stability_threshold;
  }
  if (predicted) {
    j["predictor"] = predicted->predictor;
    j["predictor_holdout_mae"] = predicted->holdout_mae;
    j["hull_entries"] = predicted->hull_entries;
    std::vector<double> eh;
    for (double v : c.o.e_above_hull)
      if (std::isfinite(v)) eh.push_back(v);
    std::sort(eh.begin(), eh.end());
    if (!eh.empty()) j["predicted_e_above_hull_median"] = eh[eh.size() / 2];
  }
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
  if (r.stability && predicted)
    fmt::print("  stable        {:.2f} % predicted: E_hull ≤ {} eV/atom against {} entries of {}, formation energy by "
               "{} (held-out MAE {:.3f} eV/atom); an estimate, not DFT\n",
               100 * *r.stability, c.o.stability_threshold, predicted->hull_entries, c.hull.empty() ? c.train : c.hull,
               predicted->predictor, predicted->holdout_mae);
  else if (r.stability)
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
  gen->add_option("--stability", g->stability,
                  "column (the samples' --energy-column, default) or predicted (--predictor's formation energy against "
                  "the convex hull of --hull)");
  gen->add_option("--predictor", g->predictor, "--stability predicted: property model of --hull-column");
  gen->add_option("--hull", g->hull, "--stability predicted: labelled entries of the hull (default: --train)");
  gen->add_option("--hull-column", g->hull_column, "formation energy column (eV/atom) of --hull")->capture_default_str();
  gen->add_option("--per-sample", g->per_sample,
                  "--stability predicted: CSV of each sample's predicted formation energy and E_hull");
  gen->add_option("--stability-threshold", g->o.stability_threshold, "eV/atom")->capture_default_str();
  gen->add_flag("--json", g->json, "one JSON object");
  gen->callback([g] { run_eval_gen(*g); });
}

}  // namespace xtaldiff::cli
