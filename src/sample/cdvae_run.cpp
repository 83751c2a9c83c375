#include "sample/cdvae_run.h"

#include <fmt/format.h>

#include <algorithm>

#include "chem/element.h"
#include "eval/csp_pairing.h"
#include "io/formats.h"
#include "ml/runtime.h"
#include "model/dataset_stats.h"
#include "model/property_model.h"
#include "util/clock.h"
#include "util/error.h"
#include "util/file_io.h"
#include "util/staged_directory.h"
#include "xtaldiff_version.h"

namespace xtaldiff {
namespace {

// Options of the diffusion samplers a CDVAE has no use for.
void refuse_diffusion_options(const SampleRequest& r) {
  auto refuse = [](bool given, const std::string& what) {
    if (given)
      throw Error(what + ": not for a CDVAE model (it samples de novo with -n, or --reconstruct DATASET)",
                  ErrorKind::kUsage);
  };
  refuse(!r.formula.empty(), "--formula");
  refuse(!r.from.empty(), "--from (for CDVAE's reconstruction use --reconstruct)");
  refuse(!r.system.empty(), "--system");
  refuse(!r.compositions.empty(), "compositions");
  refuse(!r.atoms.empty(), "--atoms (the atom-count head decides)");
  refuse(!r.guide.empty(), "--guide (a CDVAE moves its latents: --target)");
  refuse(!r.predictor.empty() && r.targets.empty(), "--predictor without --target");
  refuse(r.spacegroup != 0, "--spacegroup");
  refuse(r.sampler != "auto" && r.sampler != "langevin", "--sampler " + r.sampler + " (CDVAE samples by annealed Langevin)");
  refuse(r.steps != 0, "--steps (use --langevin-steps: steps per noise level)");
  refuse(r.anneal >= 0 || r.anneal_onset >= 0 || r.polish >= 0, "--anneal / --anneal-onset / --polish");
  refuse(r.precision != "fp32", "--precision " + r.precision);
}

// Every output obeys the constraints; anything else is a bug.
std::size_t check_outputs(const TypeConstraints& c, const Dataset& out) {
  std::size_t ok = 0;
  for (const auto& rec : out.records) {
    const Composition comp = rec.structure.composition();
    bool good = comp.num_elements() > 0 && (c.max_elements == 0 || comp.num_elements() <= c.max_elements);
    for (const auto& [z, amount] : comp.amounts()) good = good && c.allows(z);
    for (int z : c.required) good = good && comp.amount(z) > 0;
    ok += good;
  }
  if (ok != out.size())
    throw Error(fmt::format("internal: {} of {} crystals violate the constraints ({})", out.size() - ok, out.size(),
                            c.describe()),
                ErrorKind::kInternal);
  return ok;
}

// Hit rates of the targets: by the property head at the moved latents, and,
// with --predictor, by that model on the decoded crystals (CDVAE's success
// rate is the latter).
void score_targets(const SampleRequest& r, CdvaeModel& model, const DatasetStats& stats, const torch::Tensor& head,
                   const std::vector<std::size_t>& kept, CdvaeRun& run) {
  LoadedPropertyModel predictor;
  std::vector<std::vector<double>> y;
  if (!r.predictor.empty()) {
    predictor = load_property_model(r.predictor);
    std::vector<Structure> finals;
    for (const auto& rec : run.out.records) finals.push_back(rec.structure);
    y = predict_structures(*predictor.model, finals, parse_device(r.device));
    for (const auto& col : predictor.model->options().columns) run.out.columns.push_back("predicted_" + col);
    for (std::size_t i = 0; i < run.out.size(); ++i)
      for (double v : y[i]) run.out.records[i].values.push_back(fmt::format("{:.6g}", v));
  }
  const std::size_t n = run.out.size();
  for (const auto& t : run.targets) {
    const int c = model.options().property_index(t.column);
    const double sd = model.options().property_stddev[c];
    const double tol = r.target_tolerance >= 0 ? r.target_tolerance : 0.1 * sd;
    std::size_t head_met = 0;
    for (std::size_t i : kept) head_met += t.met(head[i][c].item<double>(), tol);
    nlohmann::json rep = {{"target", t.describe()}, {"tolerance", tol}, {"head_met", head_met},
                          {"head_hit_rate", n ? double(head_met) / n : 0.0}};
    // Where the target value lies among the training labels (CDVAE's
    // success: reaching the best 15 %).
    if (const auto it = stats.properties.find(t.column); it != stats.properties.end() && !it->second.quantiles.empty()) {
      const auto& q = it->second.quantiles;
      rep["training_percentile_of_value"] =
          100.0 * double(std::lower_bound(q.begin(), q.end(), t.value) - q.begin()) / double(q.size() - 1);
      rep["training_p15"] = q[15];
      rep["training_p85"] = q[85];
    }
    std::string by_predictor;
    if (predictor.model) {
      const auto& cols = predictor.model->options().columns;
      const auto found = std::find(cols.begin(), cols.end(), t.column);
      if (found != cols.end()) {
        const std::size_t pc = static_cast<std::size_t>(found - cols.begin());
        std::size_t met = 0;
        for (const auto& row : y) met += t.met(row[pc], tol);
        rep["predictor_met"] = met;
        rep["predictor_hit_rate"] = n ? double(met) / n : 0.0;
        by_predictor = fmt::format(", {}/{} by {} on the decoded crystals", met, n, r.predictor);
      } else {
        rep["predictor_met"] = nullptr;
        rep["note"] = "the predictor does not predict this column";
      }
    }
    run.messages.push_back(fmt::format("target {}: {}/{} latents meet it by the property head{}", t.describe(),
                                       head_met, n, by_predictor));
    run.target_report.push_back(rep);
  }
}

}  // namespace

int cdvae_default_steps(const nlohmann::json& metadata, const CdvaeOptions& options) {
  const auto all = metadata.value("sampler_defaults", nlohmann::json::object());
  if (all.is_object() && all.contains("gen") && all["gen"].is_object() &&
      all["gen"].value("sampler", std::string()) == "langevin") {
    const auto& steps = all["gen"]["steps"];
    if (!steps.is_number_integer() || steps.get<int>() < 1)
      throw Error("the model's sampler_defaults.gen is damaged: " + all["gen"].dump(), ErrorKind::kInput);
    return steps.get<int>();
  }
  return options.steps_per_level;
}

CdvaeRun run_cdvae_sample(const SampleRequest& r, CdvaeModel& model, const nlohmann::json& metadata,
                          const SampleProgress& progress) {
  refuse_diffusion_options(r);
  CdvaeRun run;
  run.reconstruct = !r.reconstruct.empty();
  const DatasetStats stats = DatasetStats::from_metadata(metadata);
  CdvaeSampleOptions& o = run.options;
  o.steps_per_level = r.langevin_steps > 0 ? r.langevin_steps : cdvae_default_steps(metadata, model.options());
  o.step_lr = r.step_lr > 0 ? r.step_lr : model.options().step_lr;
  o.min_sigma = r.min_sigma;
  o.seed = r.seed;
  o.device = r.device;
  o.batch = std::max(1, r.batch_atoms / std::max(1, model.options().max_atoms));
  o.type_update = r.type_update;
  if (r.final_denoise >= 0) o.final_denoise = r.final_denoise > 0;
  for (const auto& t : r.targets) run.targets.push_back(PropertyTarget::parse(t));
  check_latent_targets(model, run.targets);
  std::vector<Structure> made;
  std::vector<std::string> ids;
  torch::Tensor z;
  if (run.reconstruct) {
    if (!r.elements.empty() || !r.require.empty() || !r.prompt.empty() || r.max_elements)
      throw Error("--reconstruct decodes the given crystals: element constraints are for -n", ErrorKind::kUsage);
    ReadOptions ro = csp_truth_read_options();
    const Dataset d = read_structures(r.reconstruct, ro);
    const std::size_t first = std::min<std::size_t>(d.size(), static_cast<std::size_t>(r.skip));
    std::size_t rows = d.size();
    if (r.limit > 0) rows = std::min<std::size_t>(rows, first + static_cast<std::size_t>(r.limit));
    if (first >= rows) throw Error(r.reconstruct + ": no rows to reconstruct", ErrorKind::kUsage);
    std::vector<Structure> given;
    for (std::size_t row = first; row < rows; ++row) {
      const auto& rec = d.records[row];
      for (int z : rec.structure.species)
        if (!stats.empty() && !stats.saw(z))
          throw Error(fmt::format("{}: record {} (material_id {}): {} is not in the model's vocabulary (never seen "
                                  "in training): its encoder cannot represent this crystal",
                                  r.reconstruct, row + 1, rec.id, element(z).symbol),
                      ErrorKind::kInput);
      if (!stats.empty() && static_cast<int>(rec.structure.size()) > stats.max_atoms())
        run.warnings.push_back(fmt::format("{}: record {} (material_id {}) has {} atoms; the model's atom-count head "
                                           "knows at most {}", r.reconstruct, row + 1, rec.id, rec.structure.size(),
                                           stats.max_atoms()));
      given.push_back(rec.structure);
      ids.push_back(rec.id);
    }
    for (std::size_t i = 0; i < given.size(); ++i)
      for (int z : given[i].species)
        if (z < 1 || z > model.vocab())
          throw Error(fmt::format("{}: record {}: Z = {} is outside the model's vocabulary", r.reconstruct,
                                  first + i + 1, z),
                      ErrorKind::kInput);
    z = cdvae_latents(model, given, o.device, o.batch);
    run.latent_source = "encoder mean";
  } else {
    o.constraints = request_constraints(r, stats);
    z = cdvae_prior_latents(model, r.n, o.seed);
    for (int i = 0; i < r.n; ++i) ids.push_back(fmt::format("gen_{}", i));
    // Con-CDVAE: values to condition on are drawn from the conditioned prior.
    bool values = !run.targets.empty() && model.has_prior();
    for (const auto& t : run.targets) values = values && t.kind == PropertyTarget::Kind::kEqual;
    if (values) {
      auto y = torch::full({r.n, static_cast<int64_t>(model.options().properties.size())}, NAN);
      for (const auto& t : run.targets) y.select(1, model.options().property_index(t.column)).fill_(t.value);
      torch::NoGradGuard no_grad;
      model.eval();
      model.to(parse_device(o.device));
      auto [mu, logvar] = model.prior(y);
      z = (mu.to(torch::kCPU) + torch::exp(0.5 * logvar.to(torch::kCPU)) * z).detach();
      run.latent_source = "conditioned prior";
    }
  }
  torch::Tensor start_values, end_values;
  if (!run.targets.empty()) {
    run.latent_steps = r.latent_steps >= 0 ? r.latent_steps : run.latent_source == "conditioned prior" ? 0 : 1000;
    start_values = latent_properties(model, z, o.device);
    z = optimize_latents(model, z, run.targets, run.latent_steps, r.latent_lr, o.device);
    end_values = latent_properties(model, z, o.device);
  }
  made = cdvae_decode(model, z, o, &run.report, progress);
  run.out.columns = {"sample", "spacegroup"};
  const auto& columns = model.options().properties;
  if (!run.targets.empty())
    for (const auto& c : columns) run.out.columns.push_back("latent_start_" + c), run.out.columns.push_back("latent_" + c);
  std::vector<std::size_t> kept;  // rows of z behind each output
  for (std::size_t i = 0; i < made.size(); ++i) {
    if (made[i].species.empty()) continue;  // non-finite: counted in report.failed
    const int sg = spacegroup_of_output(made[i]);
    ++run.spacegroups[sg];
    run.out.records.push_back({ids[i], made[i], {"0", std::to_string(sg)}});
    if (!run.targets.empty())
      for (std::size_t c = 0; c < columns.size(); ++c) {
        run.out.records.back().values.push_back(fmt::format("{:.6g}", start_values[i][c].item<double>()));
        run.out.records.back().values.push_back(fmt::format("{:.6g}", end_values[i][c].item<double>()));
      }
    kept.push_back(i);
  }
  if (!run.reconstruct) run.constraints_satisfied = check_outputs(o.constraints, run.out);
  if (!run.targets.empty()) score_targets(r, model, stats, end_values, kept, run);
  return run;
}

nlohmann::json write_cdvae_run(const std::string& out_dir, const SampleRequest& r, const CdvaeRun& run,
                               const nlohmann::json& metadata, const SampleOutputOptions& outputs,
                               const std::string& command_line) {
  StagedDirectory staged(out_dir);
  const std::string& dir = staged.path();
  const StructureFiles files = write_structure_files(dir, run.out, outputs);
  nlohmann::json spacegroups = nlohmann::json::object();
  for (const auto& [sg, n] : run.spacegroups) spacegroups[std::to_string(sg)] = n;
  const CdvaeSampleOptions& o = run.options;
  const nlohmann::json manifest = {
      {"command", command_line},
      {"model", r.model_path},
      {"model_metadata", metadata},
      {"task", run.reconstruct ? "reconstruct" : "gen"},
      {"reconstruct", run.reconstruct ? nlohmann::json(r.reconstruct) : nlohmann::json(nullptr)},
      {"constraints", run.reconstruct ? nlohmann::json(nullptr) : nlohmann::json(o.constraints.describe())},
      {"constraints_satisfied", run.reconstruct ? nlohmann::json(nullptr) : nlohmann::json(run.constraints_satisfied)},
      {"warnings", run.warnings},
      {"property_optimisation", run.targets.empty() ? nlohmann::json(nullptr)
                                                    : nlohmann::json{{"targets", run.target_report},
                                                                     {"latent_steps", run.latent_steps},
                                                                     {"latent_lr", r.latent_lr},
                                                                     {"predictor", r.predictor}}},
      {"type_update", o.type_update},
      {"final_denoise", o.final_denoise},
      {"latents", run.latent_source},
      {"sampler", "langevin"},
      {"steps_per_level", o.steps_per_level},
      {"step_lr", o.step_lr},
      {"min_sigma", o.min_sigma},
      {"network_evaluations_per_crystal", run.report.network_evaluations},
      {"seed", o.seed},
      {"crystals", run.report.crystals},
      {"written", run.out.size()},
      {"failed_non_finite", run.report.failed},
      {"spacegroups", spacegroups},
      {"refine_symmetry", files.refine_report},
      {"seconds", run.report.seconds},
      {"threads", torch::get_num_threads()},
      {"device", o.device},
      {"finished", now_iso8601()},
      {"xtaldiff_version", XTALDIFF_VERSION}};
  write_file_atomic(dir + "/manifest.json", manifest.dump(2) + "\n");
  write_sample_report_page(dir, r.model_path, manifest, run.out, outputs, r.reconstruct);
  staged.commit();
  return manifest;
}

}  // namespace xtaldiff
