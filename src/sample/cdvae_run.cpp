#include "sample/cdvae_run.h"

#include <fmt/format.h>

#include "chem/element.h"
#include "eval/csp_pairing.h"
#include "io/formats.h"
#include "ml/runtime.h"
#include "model/dataset_stats.h"
#include "report/sample_report.h"
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
  refuse(!r.guide.empty(), "--guide");
  refuse(!r.predictor.empty(), "--predictor");
  refuse(!r.targets.empty(), "--target");
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

}  // namespace

CdvaeRun run_cdvae_sample(const SampleRequest& r, CdvaeModel& model, const nlohmann::json& metadata,
                          const SampleProgress& progress) {
  refuse_diffusion_options(r);
  CdvaeRun run;
  run.reconstruct = !r.reconstruct.empty();
  const DatasetStats stats = DatasetStats::from_metadata(metadata);
  CdvaeSampleOptions& o = run.options;
  o.steps_per_level = r.langevin_steps > 0 ? r.langevin_steps : model.options().steps_per_level;
  o.step_lr = r.step_lr > 0 ? r.step_lr : model.options().step_lr;
  o.min_sigma = r.min_sigma;
  o.seed = r.seed;
  o.device = r.device;
  o.batch = std::max(1, r.batch_atoms / std::max(1, model.options().max_atoms));
  std::vector<Structure> made;
  std::vector<std::string> ids;
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
    made = cdvae_reconstruct(model, given, o, &run.report, progress);
  } else {
    o.constraints = request_constraints(r, stats);
    made = cdvae_generate(model, r.n, o, &run.report, progress);
    for (int i = 0; i < r.n; ++i) ids.push_back(fmt::format("gen_{}", i));
  }
  run.out.columns = {"sample", "spacegroup"};
  for (std::size_t i = 0; i < made.size(); ++i) {
    if (made[i].species.empty()) continue;  // non-finite: counted in report.failed
    const int sg = spacegroup_of_output(made[i]);
    ++run.spacegroups[sg];
    run.out.records.push_back({ids[i], made[i], {"0", std::to_string(sg)}});
  }
  if (!run.reconstruct) run.constraints_satisfied = check_outputs(o.constraints, run.out);
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
  SampleReportInput page;
  page.title = fmt::format("xtaldiff sample: {} structures from {}", run.out.size(), r.model_path);
  page.manifest = manifest;
  page.structures = &run.out;
  if (outputs.symmetrized_cifs) page.symmetrized_folder = "cifs_symmetrized";
  Dataset truth;
  if (run.reconstruct) {
    truth = read_structures(r.reconstruct, csp_truth_read_options());
    page.ground_truth = &truth;
    page.reference = &truth;
  }
  write_file_atomic(dir + "/report.html", sample_report_html(page));
  staged.commit();
  return manifest;
}

}  // namespace xtaldiff
