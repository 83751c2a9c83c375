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
#include "eval/composition_metrics.h"
#include "eval/csp_metrics.h"
#include "eval/csp_pairing.h"
#include "eval/gen_inputs.h"
#include "eval/gen_metrics.h"
#include "model/predicted_stability.h"  // its functions need LibTorch; its types do not
#ifdef XTALDIFF_WITH_TORCH
#include "ml/runtime.h"
#endif
#include "io/composition_file.h"
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

void run_eval_gen(EvalGenCli& c) {
  if (!c.dataset.empty()) c.o.cutoffs = CoverageCutoffs::for_dataset(c.dataset);
  if (!c.stability.empty() && c.stability != "predicted" && c.stability != "column")
    throw Error("--stability " + c.stability + ": 'column' (the samples' --energy-column) or 'predicted' (a property "
                "model's formation energy against the hull of --hull)", ErrorKind::kUsage);
  GeneratedSamples gen = read_generated_samples(c.samples, c.energy_column);
  for (const auto& [idx, msg] : gen.unreadable) fmt::print(stderr, "warning: unreadable sample (counted invalid): {}\n", msg);
  c.o.e_above_hull = gen.e_above_hull;
  std::optional<PredictedStability> predicted;
  if (c.stability == "predicted") {
#ifndef XTALDIFF_WITH_TORCH
    throw Error("--stability predicted needs a property model: this xtaldiff was built without LibTorch",
                ErrorKind::kUsage);
#else
    configure_threads(c.o.threads);
    predicted = predict_stability(gen.structures, {c.predictor, c.hull.empty() ? c.train : c.hull, c.hull_column});
    c.o.e_above_hull = predicted->e_above_hull;
    if (!c.per_sample.empty()) {
      std::string csv = "id,formula,predicted_formation_energy_per_atom,predicted_e_above_hull\n";
      for (std::size_t i = 0; i < gen.structures.size(); ++i)
        if (gen.structures[i].size())
          csv += fmt::format("{},{},{:.6f},{:.6f}\n", gen.ids[i], gen.structures[i].composition().reduced_formula(),
                             predicted->formation_energy[i], predicted->e_above_hull[i]);
      write_file_atomic(c.per_sample, csv);
    }
#endif
  }
  const auto ref = read_reference_structures(c.ref);
  std::vector<Structure> train;
  if (!c.train.empty()) train = read_reference_structures(c.train);
  const GenResult r = evaluate_generation(gen.structures, ref, c.train.empty() ? nullptr : &train, c.o);
  nlohmann::ordered_json j = gen_result_json(r, c.o, predicted ? "predicted" : c.energy_column);
#ifdef XTALDIFF_WITH_TORCH
  if (predicted) add_predicted_stability_json(j, *predicted);
#endif
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

struct EvalCompCli {
  std::string samples, ref, train;
  bool baselines = false, json = false;
  uint64_t seed = 0;
};

// `eval comp`: generated formulas against a reference and the training set,
// with the baselines beside them (eval/composition_metrics.h).
void run_eval_comp(const EvalCompCli& c) {
  if (c.baselines && c.train.empty()) throw Error("--baselines draws from --train: give it", ErrorKind::kUsage);
  const auto samples = read_compositions(c.samples);
  const auto ref = c.ref.empty() ? std::vector<Composition>{} : read_compositions(c.ref);
  const auto train = c.train.empty() ? std::vector<Composition>{} : read_compositions(c.train);
  std::vector<std::pair<std::string, CompositionMetrics>> rows = {{"samples", evaluate_compositions(samples, ref, train)}};
  if (c.baselines)
    for (const char* kind : {"uniform", "enumerate", "train"})
      rows.emplace_back(kind, evaluate_compositions(baseline_compositions(kind, train, samples.size(), c.seed), ref, train));
  if (c.json) {
    nlohmann::ordered_json j;
    for (const auto& [name, m] : rows) j[name] = m.to_json();
    j["seed"] = c.seed;
    fmt::print("{}\n", j.dump());
    return;
  }
  auto pct = [](const std::optional<double>& v) { return v ? fmt::format("{:.2f} %", 100 * *v) : std::string("-"); };
  auto num = [](const std::optional<double>& v) { return v ? fmt::format("{:.4f}", *v) : std::string("-"); };
  fmt::print("{:<10} {:>7} {:>12} {:>9} {:>9} {:>12} {:>12}\n", "", "n", "SMACT-valid", "unique", "novel",
             "W(#elem)", "TVD(elem)");
  for (const auto& [name, m] : rows)
    fmt::print("{:<10} {:>7} {:>12} {:>9} {:>9} {:>12} {:>12}\n", name, m.n, pct(m.smact_valid), pct(m.unique),
               pct(m.novel), num(m.w_num_elements), num(m.element_frequency_tvd));
  if (!c.ref.empty()) fmt::print("distances against {} ({} formulas)\n", c.ref, ref.size());
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

  auto k = std::make_shared<EvalCompCli>();
  CLI::App* comp = eval->add_subcommand(
      "comp", "SMACT validity, uniqueness, novelty and distribution distances of generated formulas, with baselines");
  comp->add_option("--samples", k->samples, "formulas: a CSV with a formula column (compositions.csv) or structures")
      ->required();
  comp->add_option("--ref", k->ref, "reference formulas or structures (the test split) for the distances");
  comp->add_option("--train", k->train, "training formulas or structures, for novelty and the baselines");
  comp->add_flag("--baselines", k->baselines,
                 "also score as many formulas of each baseline: uniform (random elements of --train, counts 1-6), "
                 "enumerate (a random SMACT-valid composition of a random system) and train (--train's own)");
  comp->add_option("--seed", k->seed, "seed of the baselines' draws")->capture_default_str();
  comp->add_flag("--json", k->json, "one JSON object");
  comp->callback([k] { run_eval_comp(*k); });
}

}  // namespace xtaldiff::cli
