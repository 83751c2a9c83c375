// `xtaldiff sample`: structures from a trained model.
//   --formula SrTiO3 [--z 2 | --atoms 10] [-n 8]   one composition, n samples (CSP)
//   --from DATASET [--k 20]                        one CSP task per row (its composition
//                                                  and atom count), k samples each
//   --system Li-P-S-Cl --max-coeff 6 --per-composition 4
//                                                  CSP for every valid composition of the system
//   -n 1000 [--atoms 10 | --atoms 4-12] [--elements Li,P,S,Cl] [--require Li]
//           [--max-elements 3] [--prompt "Ba Ti O"]
//                                                  de novo (generation models), constraints
//                                                  enforced on every sample
// Writes DIR/cifs/*.cif, DIR/samples.extxyz, DIR/samples.csv (CDVAE layout,
// read by `xtaldiff eval csp`) and DIR/manifest.json.
#include <fmt/format.h>
#include <unistd.h>

#include <chrono>
#include <ctime>
#include <filesystem>
#include <map>
#include <random>
#include <set>
#include <nlohmann/json.hpp>

#include "chem/composition.h"
#include "chem/element.h"
#include "crystal/symmetrize.h"
#include "crystal/symmetry.h"
#include "eval/enumerate.h"
#include "cli/commands.h"
#include "xtaldiff_version.h"
#include "io/cif.h"
#include "io/extxyz.h"
#include "io/formats.h"
#include "io/sample_ids.h"
#include "ml/runtime.h"
#include "model/model_file.h"
#include "model/property_model.h"
#include "model/training_stats.h"
#include "sample/property_condition.h"
#include "report/sample_report.h"
#include "sample/sampler.h"
#include "util/clock.h"
#include "util/error.h"
#include "util/file_io.h"
#include "util/staged_directory.h"

namespace xtaldiff::cli {
namespace {

struct SampleCli {
  std::string model, formula, from, out, sampler = "auto", device = "cpu";
  std::string atoms, elements, require, prompt, system;
  int z = 0, n = 1, k = 1, steps = 0, threads = 0, limit = 0, skip = 0, batch_atoms = 8192;
  int max_elements = 0, max_coeff = 6, per_composition = 1;
  std::string guide;                  // property model
  std::string predictor;              // property model that only reports
  std::vector<std::string> targets;   // "band_gap=3.0", "heat_ref<0.5"
  double guidance_scale = 1.0, target_tolerance = -1;
  int spacegroup = 0;                 // classifier-free space-group conditioning
  double cfg_weight = 1.0;
  double lattice_clip = -1;           // < 0: from the model's training set
  std::string precision = "fp32";
  double anneal = -1;                 // < 0: the model's default (flow models) or none
  double refine_symmetry = 0;         // > 0: also write samples_refined.csv at this symprec
  double step_lr = -1;
  uint64_t seed = 0;
  bool quiet = false;
  bool symmetrized_cifs = false;      // also DIR/cifs_symmetrized/
};

struct Task {
  std::string id;
  int sample_index;
  std::vector<int> species;  // empty: de novo
  int num_atoms;             // de novo atom count
};

// Clamp of the lattice's clean estimate in strided / ODE steps: 1.5 times the
// longest cell vector of the training set, or 30 Å for model files that
// predate that statistic (longer than any Perov-5, Carbon-24 or MP-20 cell
// vector after Niggli reduction).
double default_lattice_clip(const nlohmann::json& metadata) {
  const auto stats = metadata.value("dataset_stats", nlohmann::json::object());
  const double longest = stats.value("lattice_max_length", 0.0);
  return longest > 0 ? 1.5 * longest : 30.0;
}

// The default sampler ("auto"): the fastest setting that stays within one
// point of the best quality measured on the shipped models (docs/RESULTS.md, "Quality
// against network evaluations"): for CSP the match rate on the full Perov-5
// test set, for de novo generation the structural and compositional
// validity on Perov-5 (500 samples against 600 at 1000 steps).
constexpr SamplerKind kDefaultCspSampler = SamplerKind::kOde;
constexpr int kDefaultCspSteps = 20;
constexpr SamplerKind kDefaultGenSampler = SamplerKind::kAncestral;
constexpr int kDefaultGenSteps = 200;
// Flow models sample with anti-annealing S = 10 (Perov-5 test, ode 20: RMSE
// 0.169 → 0.073 and space-group recovery 41 → 68 % for 54.7 → 51.8 % match;
// S = 0 restores the plain ODE).
constexpr double kDefaultFlowAnneal = 10.0;

// --sampler / --steps as given, or the defaults above; explicit steps of 0
// mean the model's T.
std::pair<SamplerKind, int> resolve_sampler(const std::string& name, int steps, bool denovo) {
  if (name != "auto") return {parse_sampler(name), steps};
  if (denovo) return {kDefaultGenSampler, steps ? steps : kDefaultGenSteps};
  return {kDefaultCspSampler, steps ? steps : kDefaultCspSteps};
}

// Flow models: the measured anti-annealing (docs/RESULTS.md, Perov-5 flow CSP).
double default_anneal(CspModel& model) { return model.flow() ? kDefaultFlowAnneal : 0.0; }

// "10" → {10, 10}; "4-12" → {4, 12}.
std::pair<int, int> parse_atom_range(const std::string& text) {
  auto number = [&](const std::string& s) {
    try {
      std::size_t used = 0;
      const int v = std::stoi(s, &used);
      if (used == s.size() && v > 0) return v;
    } catch (const std::exception&) {
    }
    throw Error("--atoms " + text + ": expected a positive atom count (10) or a range (4-12)", ErrorKind::kUsage);
  };
  const auto dash = text.find('-');
  if (dash == std::string::npos) return {number(text), number(text)};
  const int lo = number(text.substr(0, dash)), hi = number(text.substr(dash + 1));
  if (lo > hi) throw Error("--atoms " + text + ": empty range", ErrorKind::kUsage);
  return {lo, hi};
}

// "Li,P,S,Cl", "Li P S Cl" or "Li-P-S-Cl" → atomic numbers.
std::vector<int> parse_element_list(const std::string& text, const char* option) {
  std::vector<int> out;
  std::string token;
  auto flush = [&] {
    if (token.empty()) return;
    const auto z = find_element(token);
    if (!z) throw Error(std::string(option) + " " + text + ": unknown element '" + token + "'", ErrorKind::kUsage);
    const int number = *z;  // a plain int: GCC 12 warns (falsely) of a dangling pointer into the optional
    if (std::find(out.begin(), out.end(), number) == out.end()) out.push_back(number);
    token.clear();
  };
  for (char ch : text) {
    if (ch == ',' || ch == ' ' || ch == '-') flush();
    else token += ch;
  }
  flush();
  if (out.empty()) throw Error(std::string(option) + ": no elements given", ErrorKind::kUsage);
  return out;
}

std::string symbol_of(int z) { return element(z).symbol; }

// The allowed / required elements of a de novo request, checked against
// what the model saw in training.
TypeConstraints constraints_from(const SampleCli& c, const TrainingStats& stats) {
  TypeConstraints t;
  if (!c.prompt.empty() && (!c.elements.empty() || !c.require.empty()))
    throw Error("--prompt already names the elements: give it without --elements / --require", ErrorKind::kUsage);
  if (!c.prompt.empty()) t.allowed = t.required = parse_element_list(c.prompt, "--prompt");
  if (!c.elements.empty()) t.allowed = parse_element_list(c.elements, "--elements");
  if (!c.require.empty()) t.required = parse_element_list(c.require, "--require");
  t.max_elements = c.max_elements;
  if (!stats.elements.empty()) {
    for (const auto* list : {&t.allowed, &t.required})
      for (int z : *list)
        if (!stats.saw(z))
          throw Error("the model never saw " + symbol_of(z) + " in training (its " +
                          std::to_string(stats.elements.size()) + " elements are listed by `xtaldiff info` on its data)",
                      ErrorKind::kUsage);
    if (t.allowed.empty()) t.allowed = stats.elements;  // never an element the model cannot place
  }
  // Impossible combinations are refused by check_feasible, per task, before any work.
  std::sort(t.allowed.begin(), t.allowed.end());
  return t;
}

// Atom counts for n de novo crystals: the training histogram restricted to
// --atoms (uniform over the range where the histogram has no mass there).
std::vector<int> draw_atom_counts(const SampleCli& c, const TrainingStats& stats, int min_atoms) {
  int lo = 1, hi = 1 << 20;
  if (!c.atoms.empty()) std::tie(lo, hi) = parse_atom_range(c.atoms);
  lo = std::max(lo, min_atoms);
  std::vector<int> values;
  std::vector<double> weights;
  for (const auto& [n, count] : stats.num_atoms)
    if (n >= lo && n <= hi) values.push_back(n), weights.push_back(static_cast<double>(count));
  if (values.empty()) {
    if (c.atoms.empty())
      throw Error(stats.num_atoms.empty() ? "the model file has no atom-count histogram: give --atoms"
                                          : "no training crystal has at least " + std::to_string(min_atoms) +
                                                " atoms: give --atoms",
                  ErrorKind::kUsage);
    if (hi < lo) throw Error("--atoms " + c.atoms + ": fewer atoms than required elements", ErrorKind::kUsage);
    for (int n = lo; n <= hi; ++n) values.push_back(n), weights.push_back(1.0);
  }
  std::mt19937_64 rng(c.seed * 2654435761ULL + 17);
  std::discrete_distribution<std::size_t> pick(weights.begin(), weights.end());
  std::vector<int> out(c.n);
  for (int& v : out) v = values[pick(rng)];
  return out;
}

// Atom count for CSP of `comp` under a model: the multiple of its formula
// unit that the training histogram holds most often (the smallest multiple
// inside the histogram's range when none is in it); 0 when none fits.
int atoms_for_composition(const Composition& comp, const TrainingStats& stats) {
  const int unit = static_cast<int>(std::lround(comp.num_atoms()));
  if (stats.num_atoms.empty()) return unit;
  const int max_n = stats.max_atoms(), min_n = stats.min_atoms();
  int best = 0;
  long best_count = 0;
  for (int n = unit; n <= max_n; n += unit) {
    auto it = stats.num_atoms.find(n);
    if (it != stats.num_atoms.end() && it->second > best_count) best = n, best_count = it->second;
  }
  if (best) return best;
  for (int n = unit; n <= max_n; n += unit)
    if (n >= min_n) return n;
  return 0;
}

std::vector<int> species_of(const Composition& reduced, int formula_units) {
  std::vector<int> species;
  for (int zz : reduced.elements_by_electronegativity())
    species.insert(species.end(), static_cast<std::size_t>(std::lround(reduced.amount(zz))) * formula_units, zz);
  return species;
}

std::vector<int> species_for_formula(const SampleCli& c) {
  const Composition comp = Composition::parse(c.formula);
  if (Composition::is_chemical_system(c.formula))
    throw Error("--formula " + c.formula + ": a chemical system has no fixed composition (CSP needs a formula)",
                ErrorKind::kUsage);
  if (!comp.is_integer()) throw Error("--formula " + c.formula + ": amounts must be integers", ErrorKind::kUsage);
  const Composition reduced = comp.reduced();
  const int unit = static_cast<int>(std::lround(reduced.num_atoms()));
  int z = 0;
  const int atoms = c.atoms.empty() ? 0 : parse_atom_range(c.atoms).first;
  if (!c.atoms.empty() && parse_atom_range(c.atoms).second != atoms)
    throw Error("--atoms " + c.atoms + ": a range is for de novo generation; a formula needs one atom count",
                ErrorKind::kUsage);
  if (c.z > 0 && atoms > 0) throw Error("give --z or --atoms, not both", ErrorKind::kUsage);
  if (c.z > 0) z = c.z;
  else if (atoms > 0) {
    if (atoms % unit != 0)
      throw Error(fmt::format("--atoms {}: not a multiple of {} atoms per formula unit of {}", atoms, unit,
                              reduced.reduced_formula()),
                  ErrorKind::kUsage);
    z = atoms / unit;
  } else {
    z = static_cast<int>(std::lround(comp.formula_units()));  // as written: Ba2Ti2O6 → 2
  }
  return species_of(reduced, z);
}

void run_sample(const SampleCli& c, const std::string& command_line) {
  const int sources = !c.formula.empty() + !c.from.empty() + !c.system.empty();
  if (sources > 1) throw Error("give at most one of --formula, --from or --system", ErrorKind::kUsage);
  const bool denovo = sources == 0;
  if (!denovo && (!c.elements.empty() || !c.require.empty() || !c.prompt.empty() || c.max_elements))
    throw Error("--elements, --require, --prompt and --max-elements constrain de novo generation; with a fixed "
                "composition (--formula, --from, --system) they have nothing to choose",
                ErrorKind::kUsage);
  configure_threads(c.threads);
  LoadedModel loaded = load_model_file(c.model);
  const TrainingStats stats = TrainingStats::from_metadata(loaded.state.metadata);
  // Property targets: steered by classifier-free guidance where the model is
  // conditioned on the column, by a property model's gradient (--guide), or
  // both; every target and model is checked before any work.
  std::vector<PropertyTarget> targets;
  for (const auto& text : c.targets) targets.push_back(PropertyTarget::parse(text));
  const CspNetOptions& net = loaded.for_sampling().net_options();
  if (!c.guide.empty() && targets.empty()) throw Error("--guide needs at least one --target", ErrorKind::kUsage);
  if (c.guide.empty())
    for (const auto& t : targets)
      if (net.property_index(t.column) < 0) {
        std::string have;
        for (const auto& col : net.condition_properties) have += (have.empty() ? "" : ", ") + col;
        throw Error("--target " + t.describe() + ": " + c.model +
                        (have.empty() ? " is not conditioned on properties" : " is conditioned on " + have + " only") +
                        "; steer it with --guide PROPERTY_MODEL (train one with --task property), or train the "
                        "generation model with --condition " + t.column,
                    ErrorKind::kUsage);
      }
  LoadedPropertyModel guide, predictor;
  PropertyGuidance guidance;
  if (!c.guide.empty()) {
    guide = load_property_model(c.guide);
    guidance.model = guide.model.get();
    guidance.scale = c.guidance_scale;
    for (const auto& t : targets) {
      guidance.targets.push_back(t);
      guidance.target_columns.push_back(guide.model->column_index(t.column));
    }
    if (guide.model->options().steps != loaded.for_sampling().diffusion_options().steps)
      throw Error(c.guide + " was trained for T = " + std::to_string(guide.model->options().steps) + ", " + c.model +
                      " has T = " + std::to_string(loaded.for_sampling().diffusion_options().steps),
                  ErrorKind::kUsage);
  }
  if (!c.predictor.empty()) predictor = load_property_model(c.predictor);
  // The model that reports predicted values of the outputs: --predictor, else --guide.
  const LoadedPropertyModel& reporter = predictor.model ? predictor : guide;
  const bool generative = loaded.for_sampling().generative();
  std::vector<Task> tasks;
  TypeConstraints constraints;
  if (denovo) {
    if (!generative)
      throw Error(c.model + " is a CSP model (trained with --task csp): it predicts structures for a given "
                  "composition (--formula, --from, --system); de novo generation needs a model trained with --task gen",
                  ErrorKind::kUsage);
    constraints = constraints_from(c, stats);
    const int min_atoms = static_cast<int>(std::set<int>(constraints.required.begin(), constraints.required.end()).size());
    const auto counts = draw_atom_counts(c, stats, std::max(1, min_atoms));
    for (int i = 0; i < c.n; ++i) {
      check_feasible(constraints, counts[i], loaded.for_sampling().net_options().vocab);
      tasks.push_back({fmt::format("gen_{:06d}", i), 0, {}, counts[i]});
    }
  } else if (!c.formula.empty()) {
    const auto species = species_for_formula(c);
    const std::string id = Composition::from_species(species).reduced_formula();
    for (int i = 0; i < c.n; ++i) tasks.push_back({id, i, species, 0});
  } else if (!c.system.empty()) {
    std::vector<int> elements;
    const Composition system = Composition::parse(c.system);  // amounts() refers into it
    for (const auto& [z, amount] : system.amounts()) elements.push_back(z);
    EnumerateOptions eo;
    eo.max_coeff = c.max_coeff;
    std::size_t skipped = 0;
    for (const auto& comp : enumerate_compositions(elements, eo)) {
      const int atoms = atoms_for_composition(comp, stats);
      if (atoms == 0) {
        ++skipped;
        continue;
      }
      const auto species = species_of(comp, atoms / static_cast<int>(std::lround(comp.num_atoms())));
      for (int i = 0; i < c.per_composition; ++i) tasks.push_back({comp.reduced_formula(), i, species, 0});
    }
    if (!c.quiet && skipped)
      fmt::print(stderr, "{} compositions of {} skipped: no multiple of their formula unit is an atom count the model was "
                 "trained on\n",
                 skipped, c.system);
    if (tasks.empty()) throw Error("--system " + c.system + ": no composition fits the model's atom counts", ErrorKind::kUsage);
  } else {
    ReadOptions ro;
    ro.overlap_tolerance = 0;
    const Dataset d = read_structures(c.from, ro);
    const std::size_t first = std::min<std::size_t>(d.size(), static_cast<std::size_t>(c.skip));
    std::size_t rows = d.size();
    if (c.limit > 0) rows = std::min<std::size_t>(rows, first + static_cast<std::size_t>(c.limit));
    if (first >= rows) throw Error(c.from + ": --skip " + std::to_string(c.skip) + " leaves no rows", ErrorKind::kUsage);
    for (std::size_t r = first; r < rows; ++r)
      for (int i = 0; i < c.k; ++i) tasks.push_back({d.records[r].id, i, d.records[r].structure.species, 0});
  }
  if (!denovo && generative && !stats.elements.empty())
    for (const auto& t : tasks)
      for (int z : t.species)
        if (!stats.saw(z))
          throw Error(t.id + ": the model never saw " + symbol_of(z) + " in training", ErrorKind::kUsage);
  // Compositions outside what the model learned still get structures, with
  // a warning here and in the manifest: the result is an extrapolation.
  nlohmann::json extrapolations = nlohmann::json::array();
  {
    std::set<std::string> warned;
    for (const auto& t : tasks) {
      if (warned.count(t.id)) continue;
      const std::string why =
          t.species.empty() ? atom_count_reason(stats, t.num_atoms) : extrapolation_reason(stats, t.species);
      if (why.empty()) continue;
      warned.insert(t.id);
      extrapolations.push_back({{"id", t.id}, {"reason", why}});
    }
    if (!c.quiet && !extrapolations.empty()) {
      const std::size_t shown = std::min<std::size_t>(extrapolations.size(), 5);
      for (std::size_t i = 0; i < shown; ++i)
        fmt::print(stderr, "warning: {}: {}; its structures are an extrapolation of {}\n",
                   extrapolations[i]["id"].get<std::string>(), extrapolations[i]["reason"].get<std::string>(), c.model);
      if (extrapolations.size() > shown)
        fmt::print(stderr, "warning: {} more compositions lie outside the model's training set (manifest.json, "
                   "\"extrapolations\")\n", extrapolations.size() - shown);
    }
  }
  SampleOptions so;
  const auto [kind, steps] = resolve_sampler(c.sampler, c.steps, denovo);
  so.kind = kind;
  so.steps = steps;
  so.step_lr = c.step_lr;
  so.seed = c.seed;
  so.device = c.device;
  so.batch_atoms = c.batch_atoms;
  so.spacegroup = c.spacegroup;
  so.cfg_weight = c.cfg_weight;
  so.precision = c.precision;
  so.anneal = c.anneal >= 0 ? c.anneal : default_anneal(loaded.for_sampling());
  so.lattice_clip = c.lattice_clip >= 0 ? c.lattice_clip : default_lattice_clip(loaded.state.metadata);
  if (guidance.model) so.guidance = &guidance;
  std::vector<CrystalTask> crystal_tasks;
  for (const auto& t : tasks) crystal_tasks.push_back({t.species, t.num_atoms});
  const PropertyConditionPlan plan = plan_property_conditions(
      net, loaded.state.metadata.value("dataset_stats", nlohmann::json::object()).value("properties", nlohmann::json::object()),
      targets, tasks.size(), c.seed);
  if (!plan.values.empty())
    for (std::size_t i = 0; i < tasks.size(); ++i) crystal_tasks[i].properties = plan.values[i];
  if (!c.quiet)
    for (const auto& r : plan.report)
      if (r.contains("warning")) fmt::print(stderr, "warning: --target {}\n", r["warning"].get<std::string>());
  const bool tty = isatty(fileno(stderr)) && !c.quiet;
  const auto start = std::chrono::steady_clock::now();
  // Called after every time step: a terminal line is redrawn at most once a
  // second, a log gets a line every 30 s (and the last one).
  double last_print = -1e9, last_done = -1;
  auto progress = [&](double done, std::size_t total) {
    if (c.quiet || done == last_done) return;
    const double el = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (done < total && el - last_print < (tty ? 1.0 : 30.0)) return;
    last_print = el;
    last_done = done;
    const double rate = done / std::max(el, 1e-9);
    fmt::print(stderr, "{}sampled {:.0f}/{} crystals ({:.1f} %), {:.2f} crystals/s, ETA {}{}", tty ? "\r" : "", done,
               total, 100.0 * done / std::max<std::size_t>(total, 1), rate,
               rate > 0 ? format_duration((total - done) / rate) : std::string("?"), tty ? "   " : "\n");
  };
  SampleReport report;
  const auto structures = sample_crystals(loaded.for_sampling(), crystal_tasks, constraints, so, &report, progress);
  if (tty) fmt::print(stderr, "\n");

  // Every output reports the space group spglib finds at symprec 0.1.
  Dataset out;
  out.columns = {"sample", "spacegroup"};
  std::map<int, std::size_t> spacegroups;
  for (std::size_t i = 0; i < tasks.size(); ++i) {
    if (structures[i].species.empty()) continue;  // failed after retries: reported below
    int sg = 0;
    try {
      sg = analyze_symmetry(structures[i], kDefaultSymprec).number;
    } catch (const Error&) {
      sg = 0;  // degenerate cell: no space group
    }
    ++spacegroups[sg];
    out.records.push_back({tasks[i].id, structures[i], {std::to_string(tasks[i].sample_index), std::to_string(sg)}});
    if (!plan.values.empty())
      for (double v : plan.values[i])
        out.records.back().values.push_back(std::isfinite(v) ? fmt::format("{:.6g}", v) : "");
  }
  if (!plan.values.empty())
    for (const auto& col : net.condition_properties) out.columns.push_back("condition_" + col);
  // Space-group conditioned runs report how many outputs have the group.
  nlohmann::json spacegroup_report = nullptr;
  if (c.spacegroup) {
    const std::size_t hits = spacegroups.count(c.spacegroup) ? spacegroups.at(c.spacegroup) : 0;
    const double rate = out.size() ? double(hits) / out.size() : 0.0;
    spacegroup_report = {{"requested", c.spacegroup}, {"guidance", c.cfg_weight}, {"symprec", 0.1},
                         {"hits", hits}, {"hit_rate", rate}};
    if (!c.quiet)
      fmt::print(stderr, "space group {}: {}/{} crystals have it at symprec 0.1 ({:.1f} %)\n", c.spacegroup, hits,
                 out.size(), 100 * rate);
  }
  // Runs with a property model (--guide or --predictor) report what it
  // predicts for the final crystals, and how many meet each target.
  nlohmann::json target_report = nlohmann::json::array();
  if (reporter.model) {
    std::vector<Structure> finals;
    for (const auto& r : out.records) finals.push_back(r.structure);
    const auto y = predict_structures(*reporter.model, finals, parse_device(c.device));
    const auto& cols = reporter.model->options().columns;
    for (const auto& col : cols) out.columns.push_back("predicted_" + col);
    for (std::size_t i = 0; i < out.size(); ++i)
      for (std::size_t k = 0; k < cols.size(); ++k) out.records[i].values.push_back(fmt::format("{:.6g}", y[i][k]));
    const auto mae = reporter.metadata.value("holdout_mae", nlohmann::json::object());
    for (const auto& target : targets) {
      const auto found = std::find(cols.begin(), cols.end(), target.column);
      if (found == cols.end()) {
        target_report.push_back({{"target", target.describe()}, {"met", nullptr},
                                 {"note", "the property model does not predict this column"}});
        continue;
      }
      const std::size_t col = static_cast<std::size_t>(found - cols.begin());
      const double tol = c.target_tolerance >= 0 ? c.target_tolerance : mae.value(target.column, 0.1);
      std::size_t met = 0;
      double sum = 0;
      for (const auto& row : y) met += target.met(row[col], tol), sum += row[col];
      target_report.push_back({{"target", target.describe()},
                               {"tolerance", tol},
                               {"met", met},
                               {"hit_rate", out.size() ? double(met) / out.size() : 0.0},
                               {"mean_predicted", out.size() ? sum / out.size() : 0.0},
                               {"predictor_holdout_mae", mae.value(target.column, nlohmann::json(nullptr))}});
      if (!c.quiet)
        fmt::print(stderr, "target {}: {}/{} crystals met (predicted; tolerance {:.3g}), mean predicted {:.4f}\n",
                   target.describe(), met, out.size(), tol, out.size() ? sum / out.size() : 0.0);
    }
  } else if (!targets.empty() && !c.quiet) {
    fmt::print(stderr, "no property model to report the outputs' values: pass --predictor PROPERTY_MODEL\n");
  }
  // Every de novo crystal is checked against the request: a violation is a
  // bug, and the run says so instead of writing it.
  std::size_t satisfied = 0;
  for (const auto& r : out.records) {
    const Composition comp = r.structure.composition();
    bool ok = comp.num_elements() > 0 && (constraints.max_elements == 0 || comp.num_elements() <= constraints.max_elements);
    for (const auto& [z, amount] : comp.amounts()) ok = ok && constraints.allows(z);
    for (int z : constraints.required) ok = ok && comp.amount(z) > 0;
    satisfied += ok;
  }
  if (satisfied != out.size())
    throw Error(fmt::format("internal: {} of {} crystals violate the constraints ({})", out.size() - satisfied,
                            out.size(), constraints.describe()),
                ErrorKind::kInternal);
  // Everything is written into a staging folder that replaces DIR at the
  // end: a failed or killed run leaves an earlier DIR as it was, and a
  // re-run never mixes its files with stale ones.
  StagedDirectory staged(c.out);
  const std::string& dir = staged.path();
  Dataset named = out;  // CIF file names: id_sample
  for (auto& r : named.records) r.id = sample_file_id(r.id, r.values[0]);
  write_structures(named, dir + "/cifs/");
  std::size_t kept_p1 = 0;
  if (c.symmetrized_cifs) {
    // The space group spglib finds at symprec 0.1, with the asymmetric unit;
    // a cell spglib cannot standardise keeps its P1 file, and is counted.
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
  }
  // --refine-symmetry: a second file, never the headline samples.csv.
  nlohmann::json refine_report = nullptr;
  if (c.refine_symmetry > 0) {
    Dataset refined = out;
    std::size_t kept_raw = 0;
    double max_shift = 0;
    for (auto& r : refined.records) {
      const auto sym = symmetrize(r.structure, c.refine_symmetry);
      if (!sym) {
        ++kept_raw;
        continue;
      }
      r.structure = sym->structure;
      r.values[1] = std::to_string(sym->spacegroup);
      max_shift = std::max(max_shift, sym->max_shift);
    }
    write_cdvae_csv(refined, dir + "/samples_refined.csv");
    refine_report = {{"file", "samples_refined.csv"}, {"symprec", c.refine_symmetry},
                     {"kept_raw", kept_raw}, {"max_shift_angstrom", max_shift}};
  }
  write_file_atomic(dir + "/samples.extxyz", write_extxyz(out));
  write_cdvae_csv(out, dir + "/samples.csv");
  const nlohmann::json manifest = {
      {"command", command_line},
      {"model", c.model},
      {"model_metadata", loaded.state.metadata},
      {"task", denovo ? "gen" : "csp"},
      {"constraints", denovo ? nlohmann::json(constraints.describe()) : nlohmann::json(nullptr)},
      {"extrapolations", extrapolations},
      {"constraints_satisfied", denovo ? nlohmann::json(satisfied) : nlohmann::json(nullptr)},
      {"guidance", guidance.model ? nlohmann::json{{"property_model", c.guide},
                                                   {"scale", guidance.scale},
                                                   {"targets", target_report},
                                                   {"property_model_metadata", guide.metadata}}
                                  : nlohmann::json(nullptr)},
      {"spacegroup_condition", spacegroup_report},
      {"property_condition", plan.values.empty() ? nlohmann::json(nullptr)
                                                 : nlohmann::json{{"columns", plan.report}, {"guidance", c.cfg_weight}}},
      {"property_predictions", reporter.model ? nlohmann::json{{"property_model", predictor.model ? c.predictor : c.guide},
                                                               {"targets", target_report}}
                                              : nlohmann::json(nullptr)},
      {"sampler", sampler_name(so.kind)},
      {"steps", so.steps > 0 ? so.steps : loaded.for_sampling().diffusion_options().steps},
      {"network_evaluations_per_crystal", report.network_evaluations},
      {"lattice_clip", so.lattice_clip},
      {"precision", so.precision},
      {"coord_objective", loaded.for_sampling().diffusion_options().coord_objective},
      {"refine_symmetry", refine_report},
      {"anneal", so.anneal},
      {"step_lr", so.step_lr >= 0 ? so.step_lr : loaded.for_sampling().diffusion_options().step_lr},
      {"seed", so.seed},
      {"crystals", report.crystals},
      {"written", out.size()},
      {"spacegroups", [&] {
         nlohmann::json j = nlohmann::json::object();
         for (const auto& [sg, n] : spacegroups) j[std::to_string(sg)] = n;
         return j;
       }()},
      {"symmetrized_cifs", c.symmetrized_cifs ? nlohmann::json{{"folder", "cifs_symmetrized"}, {"symprec", 0.1},
                                                                  {"kept_p1", kept_p1}}
                                              : nlohmann::json(nullptr)},
      {"retried_non_finite", report.retried},
      {"failed_non_finite", report.failed},
      {"seconds", report.seconds},
      {"threads", torch::get_num_threads()},
      {"device", c.device},
      {"finished", now_iso8601()},
      {"xtaldiff_version", XTALDIFF_VERSION}};
  write_file_atomic(dir + "/manifest.json", manifest.dump(2) + "\n");
  SampleReportInput page;
  page.title = fmt::format("xtaldiff sample: {} structures from {}", out.size(), c.model);
  page.manifest = manifest;
  page.structures = &out;
  if (c.symmetrized_cifs) page.symmetrized_folder = "cifs_symmetrized";
  write_file_atomic(dir + "/report.html", sample_report_html(page));
  staged.commit();
  if (!c.quiet)
    fmt::print(stderr, "wrote {} structures to {} ({:.1f} s, {} network evaluations each{})\n", out.size(), c.out,
               report.seconds, report.network_evaluations,
               report.retried ? fmt::format(", {} re-sampled after non-finite values", report.retried) : "");
  if (report.failed)
    throw Error(fmt::format("{} crystals were still non-finite after {} retries and were not written", report.failed,
                            so.max_retries),
                ErrorKind::kInput);
}

}  // namespace

void add_sample_command(CLI::App& app) {
  auto c = std::make_shared<SampleCli>();
  CLI::App* cmd = app.add_subcommand("sample", "Sample crystal structures: for compositions (CSP) or de novo under constraints");
  cmd->add_option("--model", c->model, "model file")->required();
  cmd->add_option("--formula", c->formula, "composition, e.g. SrTiO3 or Ba2Ti2O6");
  cmd->add_option("--z", c->z, "formula units per cell");
  cmd->add_option("--atoms", c->atoms,
                  "atoms per cell: with --formula a multiple of the reduced formula; de novo a count or a range (4-12)");
  cmd->add_option("-n", c->n, "samples for --formula, or de novo crystals")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--elements", c->elements, "de novo: only these elements (Li,P,S,Cl)");
  cmd->add_option("--require", c->require, "de novo: each of these elements appears (Li)");
  cmd->add_option("--max-elements", c->max_elements, "de novo: at most this many distinct elements")->check(CLI::PositiveNumber);
  cmd->add_option("--prompt", c->prompt, "de novo: exactly these elements, counts free (\"Ba Ti O\")");
  cmd->add_option("--guide", c->guide, "property model steering sampling towards --target values");
  cmd->add_option("--predictor", c->predictor,
                  "property model that predicts the outputs' values for the report (no steering; default: --guide)");
  cmd->add_option("--target", c->targets, "property target: COLUMN=VALUE, COLUMN<VALUE or COLUMN>VALUE (repeatable)");
  cmd->add_option("--guidance-scale", c->guidance_scale, "strength of the property guidance")->capture_default_str();
  cmd->add_option("--target-tolerance", c->target_tolerance,
                  "a COLUMN=VALUE target is met within this (default: the predictor's held-out MAE)");
  cmd->add_option("--spacegroup", c->spacegroup,
                  "space group 1..230 to condition on (models trained with --condition spacegroup)")
      ->check(CLI::Range(1, 230));
  cmd->add_option("--guidance", c->cfg_weight,
                  "classifier-free guidance weight of --spacegroup and of --target on conditioned columns (0 unconditional, 1 "
                  "conditional, >1 sharper)")
      ->capture_default_str();
  cmd->add_option("--refine-symmetry", c->refine_symmetry,
                  "also write samples_refined.csv: each output symmetrised to the space group spglib finds at this "
                  "tolerance (Å), same cell and atoms (samples.csv stays the raw sampler's)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--anneal", c->anneal,
                  "flow models: velocity anti-annealing S, v·(1 + S·(1 − τ)) (default: the model's measured best; 0 = "
                  "plain ODE)");
  cmd->add_option("--precision", c->precision, "network arithmetic: fp32 or bf16")->capture_default_str();
  cmd->add_option("--lattice-clip", c->lattice_clip,
                  "clamp (Å) of the lattice's clean estimate in strided and ODE steps (default: 1.5 times the longest "
                  "training cell vector; 0: none)")
      ->check(CLI::Range(0.0, 1000.0));
  cmd->add_option("--system", c->system, "CSP for every valid composition of a chemical system (Li-P-S-Cl)");
  cmd->add_option("--max-coeff", c->max_coeff, "--system: largest coefficient")->capture_default_str();
  cmd->add_option("--per-composition", c->per_composition, "--system: samples per composition")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--from", c->from, "dataset: one task per row (same composition and atom count)");
  cmd->add_option("--k", c->k, "samples per row of --from")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--limit", c->limit, "only the first N rows of --from (after --skip)")->check(CLI::NonNegativeNumber);
  cmd->add_option("--skip", c->skip, "leave out the first N rows of --from (split a long run in parts)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--out", c->out, "output folder")->required();
  cmd->add_option("--steps", c->steps, "time steps (default: auto's, or the model's T with an explicit --sampler)");
  cmd->add_option("--sampler", c->sampler,
                  "auto (CSP: ode, 20 steps; de novo: ancestral, 200 steps), pc, ancestral, ode or heun")
      ->capture_default_str();
  cmd->add_option("--step-lr", c->step_lr, "Langevin corrector step (default: the model's)");
  cmd->add_option("--seed", c->seed, "random seed")->capture_default_str();
  cmd->add_option("--device", c->device, "cpu or cuda")->capture_default_str();
  cmd->add_option("--threads", c->threads, "CPU threads (0: all cores)")->capture_default_str();
  cmd->add_option("--batch-atoms", c->batch_atoms, "atoms per network batch")->capture_default_str();
  cmd->add_flag("--symmetrized-cifs", c->symmetrized_cifs,
                "also write DIR/cifs_symmetrized/: each structure in its space group at symprec 0.1 (asymmetric unit)");
  cmd->add_flag("-q,--quiet", c->quiet, "no progress output");
  cmd->callback([c] {
    std::string line = "xtaldiff sample --model " + c->model;
    if (!c->formula.empty()) line += " --formula " + c->formula + " -n " + std::to_string(c->n);
    else if (c->from.empty() && c->system.empty()) line += " -n " + std::to_string(c->n);
    if (c->z) line += " --z " + std::to_string(c->z);
    if (!c->atoms.empty()) line += " --atoms " + c->atoms;
    if (!c->elements.empty()) line += " --elements " + c->elements;
    if (!c->require.empty()) line += " --require " + c->require;
    if (!c->prompt.empty()) line += " --prompt \"" + c->prompt + "\"";
    if (c->max_elements) line += " --max-elements " + std::to_string(c->max_elements);
    if (!c->guide.empty()) line += fmt::format(" --guide {} --guidance-scale {}", c->guide, c->guidance_scale);
    if (!c->predictor.empty()) line += " --predictor " + c->predictor;
    for (const auto& t : c->targets) line += " --target \"" + t + "\"";
    if (c->spacegroup) line += fmt::format(" --spacegroup {}", c->spacegroup);
    if (c->spacegroup || !c->targets.empty()) line += fmt::format(" --guidance {}", c->cfg_weight);
    if (!c->system.empty())
      line += fmt::format(" --system {} --max-coeff {} --per-composition {}", c->system, c->max_coeff, c->per_composition);
    if (!c->from.empty()) line += " --from " + c->from + " --k " + std::to_string(c->k);
    if (c->skip) line += " --skip " + std::to_string(c->skip);
    if (c->limit) line += " --limit " + std::to_string(c->limit);
    line += " --sampler " + c->sampler + " --seed " + std::to_string(c->seed) + " --out " + c->out;
    if (c->steps) line += " --steps " + std::to_string(c->steps);
    if (c->precision != "fp32") line += " --precision " + c->precision;
    if (c->lattice_clip >= 0) line += fmt::format(" --lattice-clip {}", c->lattice_clip);
    run_sample(*c, line);
  });
}

}  // namespace xtaldiff::cli
