#include "sample/sample_run.h"

#include <fmt/format.h>
#include <torch/torch.h>

#include <cmath>

#include "chem/composition.h"
#include "crystal/symmetrize.h"
#include "crystal/symmetry.h"
#include "eval/csp_pairing.h"
#include "io/cif.h"
#include "io/extxyz.h"
#include "io/formats.h"
#include "io/sample_ids.h"
#include "ml/runtime.h"
#include "report/sample_report.h"
#include "util/clock.h"
#include "util/error.h"
#include "util/file_io.h"
#include "util/staged_directory.h"
#include "xtaldiff_version.h"

namespace xtaldiff {
namespace {

int spacegroup_or_zero(const Structure& s) {
  try {
    return analyze_symmetry(s, kDefaultSymprec).number;
  } catch (const Error&) {
    return 0;  // degenerate cell: no space group
  }
}

// What the property model predicts for the outputs (appended as
// predicted_* columns) and how many meet each target.
void predict_and_score_targets(const SampleRequest& r, const SamplePlan& plan, SampleRun& run) {
  const LoadedPropertyModel& reporter = plan.reporter();
  std::vector<Structure> finals;
  for (const auto& rec : run.out.records) finals.push_back(rec.structure);
  const auto y = predict_structures(*reporter.model, finals, parse_device(r.device));
  const auto& cols = reporter.model->options().columns;
  for (const auto& col : cols) run.out.columns.push_back("predicted_" + col);
  for (std::size_t i = 0; i < run.out.size(); ++i)
    for (std::size_t k = 0; k < cols.size(); ++k) run.out.records[i].values.push_back(fmt::format("{:.6g}", y[i][k]));
  const auto mae = reporter.metadata.value("holdout_mae", nlohmann::json::object());
  const std::size_t n = run.out.size();
  for (const auto& target : plan.targets) {
    const auto found = std::find(cols.begin(), cols.end(), target.column);
    if (found == cols.end()) {
      run.target_report.push_back(
          {{"target", target.describe()}, {"met", nullptr}, {"note", "the property model does not predict this column"}});
      continue;
    }
    const std::size_t col = static_cast<std::size_t>(found - cols.begin());
    const double tol = r.target_tolerance >= 0 ? r.target_tolerance : mae.value(target.column, 0.1);
    std::size_t met = 0;
    double sum = 0;
    for (const auto& row : y) met += target.met(row[col], tol), sum += row[col];
    const double mean = n ? sum / n : 0.0;
    run.target_report.push_back({{"target", target.describe()},
                                 {"tolerance", tol},
                                 {"met", met},
                                 {"hit_rate", n ? double(met) / n : 0.0},
                                 {"mean_predicted", mean},
                                 {"predictor_holdout_mae", mae.value(target.column, nlohmann::json(nullptr))}});
    run.messages.push_back(fmt::format("target {}: {}/{} crystals met (predicted; tolerance {:.3g}), mean predicted {:.4f}",
                                       target.describe(), met, n, tol, mean));
  }
}

// Every de novo crystal obeys the request: anything else is a bug.
std::size_t check_constraints(const SamplePlan& plan, const Dataset& out) {
  const TypeConstraints& c = plan.constraints;
  std::size_t satisfied = 0;
  for (const auto& r : out.records) {
    const Composition comp = r.structure.composition();
    bool ok = comp.num_elements() > 0 && (c.max_elements == 0 || comp.num_elements() <= c.max_elements);
    for (const auto& [z, amount] : comp.amounts()) ok = ok && c.allows(z);
    for (int z : c.required) ok = ok && comp.amount(z) > 0;
    satisfied += ok;
  }
  if (satisfied != out.size())
    throw Error(fmt::format("internal: {} of {} crystals violate the constraints ({})", out.size() - satisfied,
                            out.size(), c.describe()),
                ErrorKind::kInternal);
  return satisfied;
}

// DIR/cifs_symmetrized/: the group spglib finds at symprec 0.1 with the
// asymmetric unit; a cell spglib cannot standardise keeps its P1 file, and
// is counted.
std::size_t write_symmetrized_cifs(const Dataset& named, const std::string& dir) {
  std::size_t kept_p1 = 0;
  std::vector<std::pair<std::string, std::string>> files;
  for (const auto& r : named.records) {
    const std::string stem = safe_file_stem(r.id);
    try {
      files.emplace_back(stem + ".cif", write_cif_symmetrized(r.structure, stem, kDefaultSymprec));
    } catch (const Error&) {
      files.emplace_back(stem + ".cif", write_cif_p1(r.structure, stem));
      ++kept_p1;
    }
  }
  make_directories(dir + "/cifs_symmetrized");
  for (const auto& [name, text] : files) write_file_atomic(dir + "/cifs_symmetrized/" + name, text);
  return kept_p1;
}

// DIR/samples_refined.csv: a second file, never the headline samples.csv.
nlohmann::json write_refined(const Dataset& out, double symprec, const std::string& dir) {
  Dataset refined = out;
  std::size_t kept_raw = 0;
  double max_shift = 0;
  for (auto& r : refined.records) {
    const auto sym = symmetrize(r.structure, symprec);
    if (!sym) {
      ++kept_raw;
      continue;
    }
    r.structure = sym->structure;
    r.values[1] = std::to_string(sym->spacegroup);
    max_shift = std::max(max_shift, sym->max_shift);
  }
  write_cdvae_csv(refined, dir + "/samples_refined.csv");
  return {{"file", "samples_refined.csv"}, {"symprec", symprec}, {"kept_raw", kept_raw},
          {"max_shift_angstrom", max_shift}};
}

}  // namespace

StructureFiles write_structure_files(const std::string& dir, const Dataset& out, const SampleOutputOptions& outputs) {
  StructureFiles files;
  Dataset named = out;  // CIF file names: id_sample
  for (auto& rec : named.records) rec.id = sample_file_id(rec.id, rec.values[0]);
  write_structures(named, dir + "/cifs/");
  if (outputs.symmetrized_cifs) files.kept_p1 = write_symmetrized_cifs(named, dir);
  if (outputs.refine_symmetry > 0) files.refine_report = write_refined(out, outputs.refine_symmetry, dir);
  write_file_atomic(dir + "/samples.extxyz", write_extxyz(out));
  write_cdvae_csv(out, dir + "/samples.csv");
  return files;
}

int spacegroup_of_output(const Structure& s) { return spacegroup_or_zero(s); }

void write_sample_report_page(const std::string& dir, const std::string& model_path, const nlohmann::json& manifest,
                              const Dataset& out, const SampleOutputOptions& outputs, const std::string& truth_path) {
  SampleReportInput page;
  page.title = fmt::format("xtaldiff sample: {} structures from {}", out.size(), model_path);
  page.manifest = manifest;
  page.structures = &out;
  if (outputs.symmetrized_cifs) page.symmetrized_folder = "cifs_symmetrized";
  // Predictions of a dataset's rows: each beside its ground truth, and the
  // distributions against the dataset's.
  Dataset truth;
  if (!truth_path.empty()) {
    truth = read_structures(truth_path, csp_truth_read_options());
    page.ground_truth = &truth;
    page.reference = &truth;
  }
  write_file_atomic(dir + "/report.html", sample_report_html(page));
}

SampleRun run_sample_plan(const SampleRequest& r, SamplePlan& plan, DiffusionModel& model, const SampleProgress& progress) {
  SampleRun run;
  const PropertyGuidance guidance = make_guidance(plan, r);
  SampleOptions so = plan.options;
  if (guidance.model) so.guidance = &guidance;
  const auto structures = sample_crystals(model, plan.crystal_tasks, plan.constraints, so, &run.report, progress);

  Dataset& out = run.out;
  out.columns = {"sample", "spacegroup"};
  const auto& values = plan.conditions.values;
  for (std::size_t i = 0; i < plan.tasks.size(); ++i) {
    if (structures[i].species.empty()) continue;  // failed after retries: in run.report
    const int sg = spacegroup_or_zero(structures[i]);
    ++run.spacegroups[sg];
    out.records.push_back(
        {plan.tasks[i].id, structures[i], {std::to_string(plan.tasks[i].sample_index), std::to_string(sg)}});
    if (!values.empty())
      for (double v : values[i]) out.records.back().values.push_back(std::isfinite(v) ? fmt::format("{:.6g}", v) : "");
  }
  if (!values.empty())
    for (const auto& col : model.net_options().condition_properties) out.columns.push_back("condition_" + col);
  if (r.spacegroup) {
    const std::size_t hits = run.spacegroups.count(r.spacegroup) ? run.spacegroups.at(r.spacegroup) : 0;
    const double rate = out.size() ? double(hits) / out.size() : 0.0;
    run.spacegroup_report = {{"requested", r.spacegroup}, {"guidance", r.cfg_weight}, {"symprec", kDefaultSymprec},
                             {"hits", hits}, {"hit_rate", rate}};
    run.messages.push_back(fmt::format("space group {}: {}/{} crystals have it at symprec {} ({:.1f} %)", r.spacegroup,
                                       hits, out.size(), kDefaultSymprec, 100 * rate));
  }
  if (plan.reporter().model)
    predict_and_score_targets(r, plan, run);
  else if (!plan.targets.empty())
    run.messages.push_back("no property model to report the outputs' values: pass --predictor PROPERTY_MODEL");
  run.constraints_satisfied = check_constraints(plan, out);
  return run;
}

nlohmann::json write_sample_run(const std::string& out_dir, const SampleRequest& r, const SamplePlan& plan,
                                const SampleRun& run, const LoadedModel& loaded, const SampleOutputOptions& outputs,
                                const std::string& command_line) {
  StagedDirectory staged(out_dir);
  const std::string& dir = staged.path();
  const StructureFiles files = write_structure_files(dir, run.out, outputs);
  const std::size_t kept_p1 = files.kept_p1;
  const nlohmann::json& refine_report = files.refine_report;

  const SampleOptions& so = plan.options;
  const auto& diffusion = loaded.for_sampling().diffusion_options();
  const bool guided = plan.guide.model != nullptr;
  nlohmann::json spacegroups = nlohmann::json::object();
  for (const auto& [sg, n] : run.spacegroups) spacegroups[std::to_string(sg)] = n;
  const nlohmann::json manifest = {
      {"command", command_line},
      {"model", r.model_path},
      {"model_metadata", loaded.state.metadata},
      {"task", plan.denovo ? "gen" : "csp"},
      {"constraints", plan.denovo ? nlohmann::json(plan.constraints.describe()) : nlohmann::json(nullptr)},
      {"extrapolations", plan.extrapolations},
      {"constraints_satisfied", plan.denovo ? nlohmann::json(run.constraints_satisfied) : nlohmann::json(nullptr)},
      {"guidance", guided ? nlohmann::json{{"property_model", r.guide},
                                           {"scale", r.guidance_scale},
                                           {"targets", run.target_report},
                                           {"property_model_metadata", plan.guide.metadata}}
                          : nlohmann::json(nullptr)},
      {"spacegroup_condition", run.spacegroup_report},
      {"property_condition", plan.conditions.values.empty()
                                 ? nlohmann::json(nullptr)
                                 : nlohmann::json{{"columns", plan.conditions.report}, {"guidance", r.cfg_weight}}},
      {"property_predictions", plan.reporter().model ? nlohmann::json{{"property_model", plan.reporter_path(r)},
                                                                      {"targets", run.target_report}}
                                                     : nlohmann::json(nullptr)},
      {"sampler", sampler_name(so.kind)},
      {"sampler_source", plan.sampler_source},
      {"steps", so.steps > 0 ? so.steps : diffusion.steps},
      {"network_evaluations_per_crystal", run.report.network_evaluations},
      {"lattice_clip", so.lattice_clip},
      {"lattice_clip_per_atom", so.lattice_clip_per_atom},
      {"first_lattice_step", so.first_lattice_step_zero ? "zero" : "network"},
      {"precision", so.precision},
      {"coord_objective", diffusion.coord_objective},
      {"refine_symmetry", refine_report},
      {"anneal", so.anneal},
      {"anneal_onset", so.anneal_onset},
      {"polish", so.polish > 0 ? nlohmann::json{{"evaluations", so.polish}, {"time", so.polish_time}}
                               : nlohmann::json(nullptr)},
      {"start_time", so.start_time > 0 ? nlohmann::json(so.start_time) : nlohmann::json(nullptr)},
      {"step_lr", so.step_lr >= 0 ? so.step_lr : diffusion.step_lr},
      {"seed", so.seed},
      {"crystals", run.report.crystals},
      {"written", run.out.size()},
      {"spacegroups", spacegroups},
      {"symmetrized_cifs", outputs.symmetrized_cifs ? nlohmann::json{{"folder", "cifs_symmetrized"},
                                                                      {"symprec", kDefaultSymprec},
                                                                      {"kept_p1", kept_p1}}
                                                    : nlohmann::json(nullptr)},
      {"retried_non_finite", run.report.retried},
      {"failed_non_finite", run.report.failed},
      {"seconds", run.report.seconds},
      {"threads", torch::get_num_threads()},
      {"device", so.device},
      {"finished", now_iso8601()},
      {"xtaldiff_version", XTALDIFF_VERSION}};
  write_file_atomic(dir + "/manifest.json", manifest.dump(2) + "\n");
  write_sample_report_page(dir, r.model_path, manifest, run.out, outputs, r.from);
  staged.commit();
  return manifest;
}

}  // namespace xtaldiff
