#include "sample/composition_run.h"

#include <fmt/format.h>

#include <chrono>
#include <set>

#include "eval/validity.h"
#include "io/csv.h"
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

// Options of `sample` that mean nothing for formulas.
void reject_structure_options(const SampleRequest& r) {
  auto no = [](bool given, const char* option) {
    if (given)
      throw Error(std::string(option) + " is for structure models; a composition model samples formulas (options: -n, "
                  "--elements, --require, --system or --prompt, --max-elements, --atoms, --target, --guidance, --steps, --seed)",
                  ErrorKind::kUsage);
  };
  no(!r.formula.empty(), "--formula");
  no(!r.from.empty(), "--from");
  no(r.spacegroup != 0, "--spacegroup");
  no(!r.guide.empty(), "--guide");
  no(!r.predictor.empty(), "--predictor");
  no(r.k != 1, "--k");
  no(r.sampler != "auto", "--sampler");
}

}  // namespace

CompositionRun plan_composition_run(const SampleRequest& r, const CompositionModel& model,
                                    const nlohmann::json& metadata) {
  reject_structure_options(r);
  CompositionRun run;
  CompositionConstraints& c = run.constraints;
  if (!r.elements.empty()) c.allowed = parse_element_list(r.elements, "--elements");
  if (!r.require.empty()) c.required = parse_element_list(r.require, "--require");
  if (!r.system.empty() && !r.prompt.empty())
    throw Error("give --system or --prompt (the same for formulas), not both", ErrorKind::kUsage);
  if (!r.system.empty()) c.system = parse_element_list(r.system, "--system");
  if (!r.prompt.empty()) c.system = parse_element_list(r.prompt, "--prompt");
  c.max_elements = r.max_elements;
  if (!r.atoms.empty()) std::tie(c.min_atoms, c.max_atoms) = parse_atom_range(r.atoms);
  c.check(model.vocabulary());
  run.steps = r.steps > 0 ? r.steps : std::min(100, model.options().steps);

  const DatasetStats stats = DatasetStats::from_metadata(metadata);
  for (const auto& t : r.targets) {
    const PropertyTarget target = PropertyTarget::parse(t);
    if (target.kind != PropertyTarget::Kind::kEqual)
      throw Error("--target " + t + ": a composition model is conditioned on values (COLUMN=VALUE)", ErrorKind::kUsage);
    if (model.condition_index(target.column) < 0) {
      std::string known;
      for (const auto& name : model.options().conditions) known += (known.empty() ? "" : ", ") + name;
      throw Error("--target " + t + ": the model was not trained on " + target.column +
                      (known.empty() ? " (it has no conditions)" : " (its conditions: " + known + ")"),
                  ErrorKind::kUsage);
    }
    run.conditions.emplace_back(target.column, target.value);
    const auto it = stats.properties.find(target.column);
    if (it != stats.properties.end() && it->second.quantiles.size() == 101 &&
        (target.value < it->second.quantiles.front() || target.value > it->second.quantiles.back()))
      run.warnings.push_back(fmt::format("--target {}: outside the training labels ({:.4g} to {:.4g}); the result is "
                                         "an extrapolation",
                                         t, it->second.quantiles.front(), it->second.quantiles.back()));
  }
  std::vector<int> asked = c.allowed;
  asked.insert(asked.end(), c.system.begin(), c.system.end());
  asked.insert(asked.end(), c.required.begin(), c.required.end());
  std::set<int> unseen;
  for (int z : asked)
    if (!stats.elements.empty() && !stats.elements.count(z)) unseen.insert(z);
  for (int z : unseen)
    run.warnings.push_back(element(z).symbol + " was never seen in training; formulas with it are an extrapolation");
  return run;
}

void run_composition_sampling(CompositionRun& run, const SampleRequest& r, CompositionModel& model) {
  CompositionSampleOptions o;
  o.n = r.n;
  o.steps = run.steps;
  o.seed = r.seed;
  o.cfg_weight = r.cfg_weight;
  o.device = parse_device(r.device);
  for (const auto& [name, value] : run.conditions) o.conditions.emplace_back(model.condition_index(name), value);
  const auto start = std::chrono::steady_clock::now();
  run.sampled = sample_compositions(model, run.constraints, o);
  run.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

std::vector<CompositionRow> composition_rows(const std::vector<Composition>& compositions,
                                             const nlohmann::json& metadata) {
  std::set<std::string> training;
  if (metadata.contains("training_formulas"))
    for (const auto& f : metadata["training_formulas"]) training.insert(f.get<std::string>());
  std::vector<CompositionRow> rows;
  for (const auto& c : compositions) {
    CompositionRow row;
    row.formula = compact_formula(c);
    row.reduced_formula = c.reduced_formula();
    row.num_atoms = static_cast<int>(std::lround(c.num_atoms()));
    row.num_elements = c.num_elements();
    row.smact_valid = composition_valid(c);
    row.novel = !training.count(row.reduced_formula);
    rows.push_back(row);
  }
  return rows;
}

nlohmann::json write_composition_run(const std::string& out_dir, const SampleRequest& r, const CompositionRun& run,
                                     const nlohmann::json& metadata, const std::string& command_line) {
  const auto rows = composition_rows(run.sampled.compositions, metadata);
  std::string csv = "formula,reduced_formula,num_atoms,num_elements,smact_valid,novel";
  for (const auto& [name, value] : run.conditions) csv += "," + csv_escape(name);
  csv += "\n";
  std::size_t valid = 0, novel = 0;
  std::set<std::string> unique;
  for (const auto& row : rows) {
    csv += fmt::format("{},{},{},{},{},{}", row.formula, row.reduced_formula, row.num_atoms, row.num_elements,
                       int(row.smact_valid), int(row.novel));
    for (const auto& [name, value] : run.conditions) csv += fmt::format(",{}", value);
    csv += "\n";
    valid += row.smact_valid;
    novel += row.novel;
    unique.insert(row.reduced_formula);
  }
  const double n = std::max<double>(1, rows.size());
  const auto& c = run.constraints;
  auto symbols = [](const std::vector<int>& zs) {
    nlohmann::json out = nlohmann::json::array();
    for (int z : zs) out.push_back(element(z).symbol);
    return out;
  };
  nlohmann::json conditions = nlohmann::json::object();
  for (const auto& [name, value] : run.conditions) conditions[name] = value;
  const nlohmann::json manifest = {
      {"command", command_line},
      {"model", r.model_path},
      {"task", "composition"},
      {"requested", r.n},
      {"written", rows.size()},
      {"constraints", {{"elements", symbols(c.allowed)}, {"require", symbols(c.required)},
                       {"system", symbols(c.system)}, {"max_elements", c.max_elements},
                       {"atoms", {c.min_atoms, c.max_atoms}}}},
      {"conditions", conditions},
      {"cfg_weight", r.cfg_weight},
      {"warnings", run.warnings},
      {"draws", run.sampled.draws},
      {"malformed_draws", run.sampled.malformed},
      {"rejected_draws", run.sampled.rejected},
      {"draw_limit_reached", run.sampled.exhausted},
      {"steps", run.steps},
      {"network_evaluations_per_draw", run.sampled.network_evaluations},
      {"smact_valid", valid / n},
      {"unique", unique.size() / n},
      {"novel", novel / n},
      {"seed", r.seed},
      {"seconds", run.seconds},
      {"threads", torch::get_num_threads()},
      {"device", r.device},
      {"model_data", metadata.value("data", "")},
      {"finished", now_iso8601()},
      {"xtaldiff_version", XTALDIFF_VERSION}};
  StagedDirectory staged(out_dir);
  write_file_atomic(staged.path() + "/compositions.csv", csv);
  write_file_atomic(staged.path() + "/manifest.json", manifest.dump(2) + "\n");
  staged.commit();
  return manifest;
}

}  // namespace xtaldiff
