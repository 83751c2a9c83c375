#include "discover/discover.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <set>

#include "chem/element.h"
#include "eval/structure_matcher.h"
#include "eval/validity.h"
#include "io/composition_file.h"
#include "io/csv.h"
#include "io/dataset.h"
#include "io/formats.h"
#include "io/sample_ids.h"
#include "model/composition_model.h"
#include "model/dataset_stats.h"
#include "model/model_file.h"
#include "model/predicted_stability.h"
#include "model/property_model.h"
#include "report/sample_report.h"
#include "sample/composition_run.h"
#include "sample/request.h"
#include "sample/sample_run.h"
#include "util/clock.h"
#include "util/error.h"
#include "util/file_io.h"
#include "xtaldiff_version.h"

namespace xtaldiff {
namespace fs = std::filesystem;

nlohmann::json DiscoverOptions::identity() const {
  return {{"compositions", compositions}, {"composition_model", composition_model}, {"n", n},
          {"system", system},             {"elements", elements},                   {"require", require},
          {"max_elements", max_elements}, {"targets", targets},                     {"cfg_weight", cfg_weight},
          {"csp_model", csp_model},       {"per_composition", per_composition},     {"max_formula_units", max_formula_units},
          {"sampler", sampler},           {"steps", steps},                         {"chunk", chunk},
          {"seed", seed}};
}

namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// The constraints as element sets, for filtering a file's formulas.
struct ElementFilter {
  std::set<int> allowed, required, system;
  int max_elements = 0;
  bool keeps(const Composition& c) const {
    std::set<int> els;
    for (const auto& [z, n] : c.amounts()) els.insert(z);
    if (!system.empty() && els != system) return false;
    if (!allowed.empty())
      for (int z : els)
        if (!allowed.count(z)) return false;
    for (int z : required)
      if (!els.count(z)) return false;
    return max_elements == 0 || static_cast<int>(els.size()) <= max_elements;
  }
};

ElementFilter element_filter(const DiscoverOptions& o) {
  ElementFilter f;
  auto set_of = [](const std::string& text, const char* what) {
    std::set<int> out;
    if (!text.empty())
      for (int z : parse_element_list(text, what)) out.insert(z);
    return out;
  };
  f.allowed = set_of(o.elements, "--elements");
  f.required = set_of(o.require, "--require");
  f.system = set_of(o.system, "--system");
  f.max_elements = o.max_elements;
  return f;
}

// Stage 1: the formulas, from the file or drawn from the composition model
// (written to DIR/stages/formulas/, read back when resuming).
std::vector<Composition> propose_formulas(const DiscoverOptions& o, const std::string& stages,
                                          const std::string& command_line, nlohmann::json& report) {
  if (!o.compositions.empty()) {
    auto all = read_compositions(o.compositions);
    const ElementFilter filter = element_filter(o);
    std::vector<Composition> kept;
    for (const auto& c : all)
      if (filter.keeps(c)) kept.push_back(c);
    report = {{"source", o.compositions}, {"read", all.size()}, {"outside_the_element_constraints", all.size() - kept.size()}};
    return kept;
  }
  const std::string dir = stages + "/formulas";
  if (fs::exists(dir + "/compositions.csv")) {
    report = {{"source", o.composition_model}, {"resumed", true}};
    return read_compositions(dir + "/compositions.csv");
  }
  LoadedArchive a = read_model_file(o.composition_model);
  auto& model = dynamic_cast<CompositionModel&>(a.ema ? *a.ema : *a.model);
  SampleRequest r;
  r.model_path = o.composition_model;
  r.n = o.n;
  r.elements = o.elements;
  r.require = o.require;
  r.system = o.system;
  r.max_elements = o.max_elements;
  r.targets = o.targets;
  r.cfg_weight = o.cfg_weight;
  r.seed = o.seed;
  r.device = o.device;
  CompositionRun run = plan_composition_run(r, model, a.state.metadata);
  if (!o.quiet)
    for (const auto& w : run.warnings) std::fprintf(stderr, "warning: %s\n", w.c_str());
  run_composition_sampling(run, r, model);
  const auto manifest = write_composition_run(dir, r, run, a.state.metadata, command_line);
  report = {{"source", o.composition_model},
            {"draws", run.sampled.draws},
            {"malformed_draws", run.sampled.malformed},
            {"rejected_draws", run.sampled.rejected},
            {"novel_against_its_training", manifest["novel"]}};
  return run.sampled.compositions;
}

// Stage files are read as `eval csp` reads predictions (sampled atoms that
// coincide are kept, to be judged invalid, not merged or refused), without
// a binary cache beside them.
Dataset read_stage(const std::string& path) {
  ReadOptions ro;
  ro.use_cache = false;
  ro.overlap_tolerance = 0;
  ro.cif.merge_tolerance = 1e-6;
  ro.cif.merge_distinct_sites = false;
  return read_structures(path, ro);
}

// One finished CSP chunk's structures with ids "<cell formula>_<k>".
Dataset sample_chunk(const DiscoverOptions& o, LoadedModel& csp, const std::vector<Composition>& comps, int index,
                     const std::string& path) {
  if (fs::exists(path)) return read_stage(path);
  SampleRequest r;
  r.model_path = o.csp_model;
  r.compositions = comps;
  r.per_composition = o.per_composition;
  r.max_formula_units = o.max_formula_units;
  r.sampler = o.sampler;
  r.steps = o.steps;
  r.seed = o.seed + 1000003ull * (index + 1);
  r.device = o.device;
  SamplePlan plan = plan_sample(r, csp);
  SampleRun run = run_sample_plan(r, plan, csp.for_sampling());
  for (auto& rec : run.out.records) rec.id = sample_file_id(rec.id, rec.values[0]);
  write_cdvae_csv(run.out, path);
  // Read back: later stages see the stored (CIF-rounded) structures whether
  // the chunk was made now or by an earlier, killed run.
  return read_stage(path);
}

std::string number_or_empty(double v) { return std::isfinite(v) ? fmt::format("{:.6f}", v) : std::string(); }

}  // namespace

nlohmann::ordered_json run_discovery(const DiscoverOptions& o, const std::string& command_line) {
  const auto started = Clock::now();
  // Every check before any work.
  if (o.out.empty()) throw Error("--out is required", ErrorKind::kUsage);
  if (o.compositions.empty() == o.composition_model.empty())
    throw Error("give --compositions FILE or --composition-model MODEL (one of them)", ErrorKind::kUsage);
  if (o.per_composition < 1 || o.max_formula_units < 1 || o.chunk < 1)
    throw Error("--per-composition, --max-formula-units and --chunk must be at least 1", ErrorKind::kUsage);
  if (!o.compositions.empty() && !o.targets.empty())
    throw Error("--target conditions a composition model; a file's formulas are given", ErrorKind::kUsage);
  const ElementFilter filter = element_filter(o);  // parses the element lists (clear errors for unknown symbols)
  (void)filter;
  LoadedModel csp = load_model_file(o.csp_model);
  if (csp.task != "csp" && csp.task != "gen")
    throw Error(o.csp_model + ": a " + csp.task + " model; --csp-model needs a structure model", ErrorKind::kUsage);
  const DatasetStats csp_stats = DatasetStats::from_metadata(csp.state.metadata);
  std::string hull = o.hull;
  if (!o.predictor.empty()) {
    const LoadedPropertyModel p = load_property_model(o.predictor);
    p.model->column_index(o.hull_column);  // throws naming the columns it predicts
    if (hull.empty()) hull = p.metadata.value("data", std::string());
    if (hull.empty() || !fs::exists(hull))
      throw Error("--hull: the labelled entries of the convex hull (the predictor's training data '" + hull +
                      "' is not here)",
                  ErrorKind::kUsage);
  }
  const std::string stages = o.out + "/stages";
  fs::create_directories(stages);
  const std::string identity_path = stages + "/options.json";
  if (fs::exists(identity_path)) {
    const auto saved = nlohmann::json::parse(read_file(identity_path));
    if (saved != o.identity())
      throw Error(o.out + " holds a discover run with other options (" + saved.dump() +
                      "); choose another --out or remove it",
                  ErrorKind::kUsage);
  } else {
    write_file_atomic(identity_path, o.identity().dump(2) + "\n");
  }
  nlohmann::ordered_json funnel, seconds;
  auto say = [&](const std::string& text) {
    if (!o.quiet) std::fprintf(stderr, "%s\n", text.c_str());
  };

  // 1. Formulas.
  auto t = Clock::now();
  nlohmann::json source;
  const std::vector<Composition> proposed = propose_formulas(o, stages, command_line, source);
  funnel["proposed"] = proposed.size();
  seconds["formulas"] = seconds_since(t);
  say(fmt::format("1/6 formulas: {} proposed ({:.1f} s)", proposed.size(), seconds["formulas"].get<double>()));

  // 2. Screen.
  t = Clock::now();
  std::vector<Composition> screened;
  std::set<std::string> seen;
  std::size_t unique = 0, valid = 0, known_elements = 0;
  const int min_n = csp_stats.num_atoms.empty() ? 1 : csp_stats.min_atoms();
  const int max_n = csp_stats.num_atoms.empty() ? 1 << 20 : csp_stats.max_atoms();
  for (const auto& c : proposed) {
    const Composition reduced = c.reduced();
    if (!seen.insert(reduced.reduced_formula()).second) continue;
    ++unique;
    if (!composition_valid(reduced)) continue;
    ++valid;
    bool known = true;
    for (const auto& [z, n] : reduced.amounts()) known = known && (csp_stats.elements.empty() || csp_stats.saw(z));
    if (!known) continue;
    ++known_elements;
    const int unit = static_cast<int>(std::lround(reduced.num_atoms()));
    bool fits = false;
    for (int z = 1; unit * z <= max_n && !fits; ++z) fits = unit * z >= min_n;
    if (fits) screened.push_back(reduced);
  }
  funnel["unique_formulas"] = unique;
  funnel["smact_valid"] = valid;
  funnel["elements_known_to_the_csp_model"] = known_elements;
  funnel["fit_its_atom_counts"] = screened.size();
  seconds["screen"] = seconds_since(t);
  say(fmt::format("2/6 screen: {} unique, {} SMACT-valid, {} with elements the CSP model saw, {} within its atom "
                  "counts ({}-{})",
                  unique, valid, known_elements, screened.size(), min_n, max_n));
  if (screened.empty()) throw Error("no formula passed the screen: nothing to predict structures for", ErrorKind::kInput);

  // 3. Structures, chunk by chunk.
  t = Clock::now();
  Dataset structures;
  const std::size_t chunks = (screened.size() + o.chunk - 1) / o.chunk;
  std::size_t resumed = 0;
  for (std::size_t i = 0; i < chunks; ++i) {
    const std::string path = fmt::format("{}/csp_{:05d}.csv", stages, i);
    resumed += fs::exists(path);
    const std::vector<Composition> part(screened.begin() + i * o.chunk,
                                        screened.begin() + std::min(screened.size(), (i + 1) * o.chunk));
    Dataset d = sample_chunk(o, csp, part, static_cast<int>(i), path);
    if (structures.columns.empty()) structures.columns = d.columns;
    for (auto& rec : d.records) structures.records.push_back(std::move(rec));
    say(fmt::format("3/6 structures: chunk {}/{}, {} structures so far ({:.0f} s)", i + 1, chunks, structures.size(),
                    seconds_since(t)));
  }
  funnel["structures"] = structures.size();
  seconds["structures"] = seconds_since(t);

  // 4. Structural validity.
  std::vector<std::size_t> ok;
  for (std::size_t i = 0; i < structures.size(); ++i)
    if (structure_valid(structures.records[i].structure)) ok.push_back(i);
  funnel["structurally_valid"] = ok.size();
  say(fmt::format("4/6 valid: {} of {} structures", ok.size(), structures.size()));

  // 5. Predicted stability.
  t = Clock::now();
  std::vector<double> formation(structures.size(), NAN), e_hull(structures.size(), NAN);
  nlohmann::json stability = nullptr;
  if (!o.predictor.empty()) {
    std::vector<Structure> valid_structures;
    for (auto i : ok) valid_structures.push_back(structures.records[i].structure);
    const PredictedStability p = predict_stability(valid_structures, {o.predictor, hull, o.hull_column});
    for (std::size_t k = 0; k < ok.size(); ++k) formation[ok[k]] = p.formation_energy[k], e_hull[ok[k]] = p.e_above_hull[k];
    stability = {{"predictor", o.predictor},
                 {"predictor_holdout_mae", p.holdout_mae},
                 {"hull", hull},
                 {"hull_entries", p.hull_entries},
                 {"threshold", o.stable_threshold},
                 {"note", "predicted from unrelaxed structures: a screening estimate, never DFT"}};
  }
  seconds["stability"] = seconds_since(t);
  say(fmt::format("5/6 stability: {}", o.predictor.empty() ? std::string("no --predictor, not ranked by energy")
                                                             : fmt::format("predicted for {} structures", ok.size())));

  // 6. Duplicates: within each reduced formula, lowest predicted E_hull first.
  t = Clock::now();
  std::vector<std::size_t> order = ok;
  auto energy_key = [&](std::size_t i) { return std::isfinite(e_hull[i]) ? e_hull[i] : INFINITY; };
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return energy_key(a) < energy_key(b); });
  const StructureMatcher matcher;
  std::map<std::string, std::vector<std::size_t>> kept_by_formula;
  std::map<std::size_t, int> merged;
  std::vector<std::size_t> candidates;
  for (std::size_t i : order) {
    const Structure& s = structures.records[i].structure;
    auto& kept = kept_by_formula[s.composition().reduced_formula()];
    bool duplicate = false;
    for (std::size_t j : kept)
      if (matcher.fit(structures.records[j].structure, s)) {
        ++merged[j];
        duplicate = true;
        break;
      }
    if (duplicate) continue;
    kept.push_back(i);
    candidates.push_back(i);
  }
  funnel["unique_structures"] = candidates.size();
  std::size_t stable = 0;
  for (std::size_t i : candidates) stable += std::isfinite(e_hull[i]) && e_hull[i] <= o.stable_threshold;
  if (!o.predictor.empty()) funnel["predicted_stable"] = stable;
  seconds["dedupe"] = seconds_since(t);
  say(fmt::format("6/6 unique: {} structures{}", candidates.size(),
                  o.predictor.empty() ? std::string()
                                      : fmt::format(", {} with predicted E_hull ≤ {} eV/atom", stable, o.stable_threshold)));

  // Outputs: ranked candidates, their CIFs, the report and the manifest.
  std::set<std::string> hull_formulas;
  if (!hull.empty())
    for (const auto& c : read_compositions(hull)) hull_formulas.insert(c.reduced_formula());
  const auto sg_column = structures.column("spacegroup");  // spglib at symprec 0.1, by the sampler
  Dataset ranked;
  ranked.columns = {"rank", "reduced_formula", "spacegroup", "predicted_formation_energy_per_atom",
                    "predicted_e_above_hull", "novel", "duplicates_merged"};
  std::string csv = "rank,id,formula,reduced_formula,num_atoms,spacegroup,predicted_formation_energy_per_atom,"
                    "predicted_e_above_hull,predicted_stable,novel,duplicates_merged,cif\n";
  for (std::size_t r = 0; r < candidates.size(); ++r) {
    const std::size_t i = candidates[r];
    const Record& rec = structures.records[i];
    const Composition comp = rec.structure.composition();
    const std::string sg = sg_column ? rec.values[*sg_column] : std::string();
    const bool novel = !hull_formulas.empty() && !hull_formulas.count(comp.reduced_formula());
    const std::string cif = fmt::format("cifs/{:05d}_{}.cif", r + 1, rec.id);
    csv += fmt::format("{},{},{},{},{},{},{},{},{},{},{},{}\n", r + 1, csv_escape(rec.id), compact_formula(comp),
                       comp.reduced_formula(), rec.structure.size(), sg, number_or_empty(formation[i]),
                       number_or_empty(e_hull[i]),
                       std::isfinite(e_hull[i]) ? std::to_string(int(e_hull[i] <= o.stable_threshold)) : "",
                       hull_formulas.empty() ? "" : std::to_string(int(novel)), merged[i], cif);
    Record out{fmt::format("{:05d}_{}", r + 1, rec.id), rec.structure,
               {std::to_string(r + 1), comp.reduced_formula(), sg, number_or_empty(formation[i]),
                number_or_empty(e_hull[i]), hull_formulas.empty() ? "" : std::to_string(int(novel)),
                std::to_string(merged[i])}};
    ranked.records.push_back(std::move(out));
  }
  write_structures(ranked, o.out + "/cifs/");
  write_file_atomic(o.out + "/candidates.csv", csv);
  seconds["total"] = seconds_since(started);
  const nlohmann::ordered_json manifest = {
      {"command", command_line},
      {"options", o.identity()},
      {"formulas", source},
      {"funnel", funnel},
      {"stability", stability},
      {"chunks", chunks},
      {"chunks_resumed", resumed},
      {"seconds", seconds},
      {"finished", now_iso8601()},
      {"xtaldiff_version", XTALDIFF_VERSION}};
  write_file_atomic(o.out + "/manifest.json", manifest.dump(2) + "\n");
  SampleReportInput page;
  page.title = fmt::format("xtaldiff discover: {} candidates", candidates.size());
  page.manifest = manifest;
  page.structures = &ranked;
  page.cif_folder = "cifs";
  page.find_spacegroups = false;
  write_file_atomic(o.out + "/report.html", sample_report_html(page));
  return manifest;
}

}  // namespace xtaldiff
