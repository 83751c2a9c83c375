#include "sample/request.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <set>

#include "chem/composition.h"
#include "chem/element.h"
#include "eval/enumerate.h"
#include "io/formats.h"
#include "util/error.h"

namespace xtaldiff {
namespace {

// Built-in "auto" (docs/RESULTS.md, "Quality against network evaluations"):
// the fastest setting within one point of the best quality measured on the
// shipped Perov-5 models: for CSP the match rate on the full test set, for
// de novo generation the structural and compositional validity (500
// samples against 600 at 1000 steps).
constexpr SamplerKind kBuiltInCspSampler = SamplerKind::kOde;
constexpr int kBuiltInCspSteps = 20;
constexpr SamplerKind kBuiltInGenSampler = SamplerKind::kAncestral;
constexpr int kBuiltInGenSteps = 200;
// UniMat generation models (docs/RESULTS.md, "Perov-5 generation with
// UniMat"): 100 DDPM posterior steps of the whole tensor had the best
// validity of the sweep on its first 24 epochs (65.6 % against 64.0 at 200 steps and 59.8 for
// DDIM at 100).
constexpr SamplerKind kBuiltInUniMatGenSampler = SamplerKind::kAncestral;
constexpr int kBuiltInUniMatGenSteps = 100;
// Flow models sample with anti-annealing S = 10 (Perov-5 test, ode 20: RMSE
// 0.169 → 0.073 and space-group recovery 41 → 68 % for 54.7 → 51.8 % match;
// S = 0 restores the plain ODE).
constexpr double kBuiltInFlowAnneal = 10.0;

// Clamp of the lattice's clean estimate in strided / ODE steps: 1.5 times the
// longest cell vector of the training set, or 30 Å for model files that
// predate that statistic (longer than any Perov-5, Carbon-24 or MP-20 cell
// vector after Niggli reduction).
double default_lattice_clip(const DatasetStats& stats) {
  return stats.lattice_max_length > 0 ? 1.5 * stats.lattice_max_length : 30.0;
}

std::string symbol_of(int z) { return element(z).symbol; }

// The allowed / required elements of a de novo request, checked against
// what the model saw in training.
TypeConstraints constraints_from(const SampleRequest& r, const DatasetStats& stats) {
  TypeConstraints t;
  if (!r.prompt.empty() && (!r.elements.empty() || !r.require.empty()))
    throw Error("--prompt already names the elements: give it without --elements / --require", ErrorKind::kUsage);
  if (!r.prompt.empty()) t.allowed = t.required = parse_element_list(r.prompt, "--prompt");
  if (!r.elements.empty()) t.allowed = parse_element_list(r.elements, "--elements");
  if (!r.require.empty()) t.required = parse_element_list(r.require, "--require");
  t.max_elements = r.max_elements;
  if (!stats.elements.empty()) {
    for (const auto* list : {&t.allowed, &t.required})
      for (int z : *list)
        if (!stats.saw(z))
          throw Error("the model never saw " + symbol_of(z) + " in training (its " +
                          std::to_string(stats.elements.size()) + " elements are listed by `xtaldiff info` on its data)",
                      ErrorKind::kUsage);
    if (t.allowed.empty()) t.allowed = stats.element_list();  // never an element the model cannot place
  }
  // Impossible combinations are refused by check_sample_request, per task.
  std::sort(t.allowed.begin(), t.allowed.end());
  return t;
}

// Atom counts for n de novo crystals: the training histogram restricted to
// the requested range (uniform over the range where the histogram has no
// mass there).
std::vector<int> draw_atom_counts(const SampleRequest& r, const DatasetStats& stats, int min_atoms) {
  int lo = 1, hi = 1 << 20;
  if (!r.atoms.empty()) std::tie(lo, hi) = parse_atom_range(r.atoms);
  lo = std::max(lo, min_atoms);
  std::vector<int> values;
  std::vector<double> weights;
  for (const auto& [n, count] : stats.num_atoms)
    if (n >= lo && n <= hi) values.push_back(n), weights.push_back(static_cast<double>(count));
  if (values.empty()) {
    if (r.atoms.empty())
      throw Error(stats.num_atoms.empty() ? "the model file has no atom-count histogram: give --atoms"
                                          : "no training crystal has at least " + std::to_string(min_atoms) +
                                                " atoms: give --atoms",
                  ErrorKind::kUsage);
    if (hi < lo) throw Error("--atoms " + r.atoms + ": fewer atoms than required elements", ErrorKind::kUsage);
    for (int n = lo; n <= hi; ++n) values.push_back(n), weights.push_back(1.0);
  }
  std::mt19937_64 rng(r.seed * 2654435761ULL + 17);
  std::discrete_distribution<std::size_t> pick(weights.begin(), weights.end());
  std::vector<int> out(r.n);
  for (int& v : out) v = values[pick(rng)];
  return out;
}

std::vector<int> species_of(const Composition& reduced, int formula_units) {
  std::vector<int> species;
  for (int zz : reduced.elements_by_electronegativity())
    species.insert(species.end(), static_cast<std::size_t>(std::lround(reduced.amount(zz))) * formula_units, zz);
  return species;
}

std::vector<int> species_for_formula(const SampleRequest& r) {
  const Composition comp = Composition::parse(r.formula);
  if (Composition::is_chemical_system(r.formula))
    throw Error("--formula " + r.formula + ": a chemical system has no fixed composition (CSP needs a formula)",
                ErrorKind::kUsage);
  if (!comp.is_integer()) throw Error("--formula " + r.formula + ": amounts must be integers", ErrorKind::kUsage);
  const Composition reduced = comp.reduced();
  const int unit = static_cast<int>(std::lround(reduced.num_atoms()));
  const int atoms = r.atoms.empty() ? 0 : parse_atom_range(r.atoms).first;
  if (!r.atoms.empty() && parse_atom_range(r.atoms).second != atoms)
    throw Error("--atoms " + r.atoms + ": a range is for de novo generation; a formula needs one atom count",
                ErrorKind::kUsage);
  if (r.z > 0 && atoms > 0) throw Error("give --z or --atoms, not both", ErrorKind::kUsage);
  int z = 0;
  if (r.z > 0) {
    z = r.z;
  } else if (atoms > 0) {
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

std::vector<SampleTask> system_tasks(const SampleRequest& r, const DatasetStats& stats,
                                     std::vector<std::string>& notes) {
  std::vector<int> elements;
  const Composition system = Composition::parse(r.system);  // amounts() refers into it
  for (const auto& [z, amount] : system.amounts()) elements.push_back(z);
  EnumerateOptions eo;
  eo.max_coeff = r.max_coeff;
  std::vector<SampleTask> tasks;
  std::size_t skipped = 0;
  for (const auto& comp : enumerate_compositions(elements, eo)) {
    const int atoms = atoms_for_composition(comp, stats);
    if (atoms == 0) {
      ++skipped;
      continue;
    }
    const auto species = species_of(comp, atoms / static_cast<int>(std::lround(comp.num_atoms())));
    for (int i = 0; i < r.per_composition; ++i) tasks.push_back({comp.reduced_formula(), i, species, 0});
  }
  if (skipped)
    notes.push_back(fmt::format("{} compositions of {} skipped: no multiple of their formula unit is an atom count the "
                                "model was trained on",
                                skipped, r.system));
  if (tasks.empty()) throw Error("--system " + r.system + ": no composition fits the model's atom counts", ErrorKind::kUsage);
  return tasks;
}

std::vector<SampleTask> composition_list_tasks(const SampleRequest& r, const DatasetStats& stats,
                                              std::vector<std::string>& notes) {
  std::vector<SampleTask> tasks;
  std::size_t skipped = 0;
  const int min_n = stats.num_atoms.empty() ? 1 : stats.min_atoms();
  const int max_n = stats.num_atoms.empty() ? std::numeric_limits<int>::max() : stats.max_atoms();
  for (const auto& comp : r.compositions) {
    const Composition reduced = comp.reduced();
    const int unit = static_cast<int>(std::lround(reduced.num_atoms()));
    int used = 0;
    for (int z = 1; used < r.max_formula_units && unit * z <= max_n; ++z) {
      if (unit * z < min_n) continue;
      const auto species = species_of(reduced, z);
      const std::string id = compact_formula(Composition::from_species(species));
      for (int i = 0; i < r.per_composition; ++i) tasks.push_back({id, i, species, 0});
      ++used;
    }
    skipped += used == 0;
  }
  if (skipped)
    notes.push_back(fmt::format("{} compositions skipped: no multiple of their formula unit has an atom count within the "
                                "model's training range ({}-{})",
                                skipped, min_n, max_n));
  if (tasks.empty()) throw Error("no composition fits the model's atom counts", ErrorKind::kUsage);
  return tasks;
}

std::vector<SampleTask> dataset_tasks(const SampleRequest& r) {
  ReadOptions ro;
  ro.overlap_tolerance = 0;
  const Dataset d = read_structures(r.from, ro);
  const std::size_t first = std::min<std::size_t>(d.size(), static_cast<std::size_t>(r.skip));
  std::size_t rows = d.size();
  if (r.limit > 0) rows = std::min<std::size_t>(rows, first + static_cast<std::size_t>(r.limit));
  if (first >= rows) throw Error(r.from + ": --skip " + std::to_string(r.skip) + " leaves no rows", ErrorKind::kUsage);
  std::vector<SampleTask> tasks;
  for (std::size_t row = first; row < rows; ++row)
    for (int i = 0; i < r.k; ++i) {
      tasks.push_back({d.records[row].id, i, d.records[row].structure.species, 0});
      if (r.start_time > 0) tasks.back().start = d.records[row].structure;
    }
  return tasks;
}

// Targets on columns the network is not conditioned on need a property model to steer them.
void check_targets_are_steerable(const SampleRequest& r, const std::vector<PropertyTarget>& targets,
                                 const CspNetOptions& net) {
  if (!r.guide.empty() && targets.empty()) throw Error("--guide needs at least one --target", ErrorKind::kUsage);
  if (!r.guide.empty()) return;
  for (const auto& t : targets) {
    if (net.property_index(t.column) >= 0) continue;
    std::string have;
    for (const auto& col : net.condition_properties) have += (have.empty() ? "" : ", ") + col;
    throw Error("--target " + t.describe() + ": " + r.model_path +
                    (have.empty() ? " is not conditioned on properties" : " is conditioned on " + have + " only") +
                    "; steer it with --guide PROPERTY_MODEL (train one with --task property), or train the "
                    "generation model with --condition " + t.column,
                ErrorKind::kUsage);
  }
}

// Compositions outside what the model learned still get structures; the
// plan lists each id once with the reason.
nlohmann::json find_extrapolations(const std::vector<SampleTask>& tasks, const DatasetStats& stats) {
  nlohmann::json out = nlohmann::json::array();
  std::set<std::string> seen;
  for (const auto& t : tasks) {
    if (seen.count(t.id)) continue;
    const std::string why =
        t.species.empty() ? atom_count_reason(stats, t.num_atoms) : extrapolation_reason(stats, t.species);
    if (why.empty()) continue;
    seen.insert(t.id);
    out.push_back({{"id", t.id}, {"reason", why}});
  }
  return out;
}

SamplerKind sampler_kind_or_throw(const std::string& name, const std::string& where) {
  try {
    return parse_sampler(name);
  } catch (const Error& e) {
    throw Error(where + ": " + e.what(), ErrorKind::kUsage);
  }
}

}  // namespace

SamplerDefault default_sampler(const nlohmann::json& metadata, bool denovo, bool unimat_tensor) {
  const char* key = denovo ? "gen" : "csp";
  const auto all = metadata.value("sampler_defaults", nlohmann::json::object());
  if (all.is_object() && all.contains(key)) {
    const auto& d = all[key];
    try {
      SamplerDefault out;
      out.kind = sampler_kind_or_throw(d.at("sampler").get<std::string>(), "sampler_defaults");
      out.steps = d.at("steps").get<int>();
      out.anneal = d.value("anneal", -1.0);
      out.source = "model";
      if (out.steps < 0) throw Error("sampler_defaults: negative steps", ErrorKind::kInput);
      return out;
    } catch (const nlohmann::json::exception& e) {
      throw Error(std::string("the model's sampler_defaults.") + key + " is damaged: " + e.what(), ErrorKind::kInput);
    }
  }
  // A UniMat generation model has no score to correct with.
  if (unimat_tensor) return {kBuiltInUniMatGenSampler, kBuiltInUniMatGenSteps, -1, "built-in"};
  if (denovo) return {kBuiltInGenSampler, kBuiltInGenSteps, -1, "built-in"};
  return {kBuiltInCspSampler, kBuiltInCspSteps, -1, "built-in"};
}

nlohmann::json parse_sampler_default(const std::string& text) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  while (true) {
    const auto colon = text.find(':', start);
    parts.push_back(text.substr(start, colon - start));
    if (colon == std::string::npos) break;
    start = colon + 1;
  }
  const std::string usage = "'" + text + "': expected SAMPLER:STEPS[:ANNEAL], e.g. ode:100:10";
  if (parts.size() < 2 || parts.size() > 3) throw Error(usage, ErrorKind::kUsage);
  nlohmann::json out;
  out["sampler"] = sampler_name(sampler_kind_or_throw(parts[0], "'" + text + "'"));
  auto number = [&](const std::string& s) {
    try {
      std::size_t used = 0;
      const double v = std::stod(s, &used);
      if (used == s.size() && std::isfinite(v) && v >= 0) return v;
    } catch (const std::exception&) {
    }
    throw Error(usage, ErrorKind::kUsage);
  };
  const double steps = number(parts[1]);
  if (steps != std::floor(steps) || steps < 1 || steps > 100000) throw Error(usage, ErrorKind::kUsage);
  out["steps"] = static_cast<int>(steps);
  if (parts.size() == 3) out["anneal"] = number(parts[2]);
  return out;
}

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

std::vector<int> parse_element_list(const std::string& text, const char* what) {
  std::vector<int> out;
  std::string token;
  auto flush = [&] {
    if (token.empty()) return;
    const auto z = find_element(token);
    if (!z) throw Error(std::string(what) + " " + text + ": unknown element '" + token + "'", ErrorKind::kUsage);
    const int number = *z;  // a plain int: GCC 12 warns (falsely) of a dangling pointer into the optional
    if (std::find(out.begin(), out.end(), number) == out.end()) out.push_back(number);
    token.clear();
  };
  for (char ch : text) {
    if (ch == ',' || ch == ' ' || ch == '-') flush();
    else token += ch;
  }
  flush();
  if (out.empty()) throw Error(std::string(what) + ": no elements given", ErrorKind::kUsage);
  return out;
}

int atoms_for_composition(const Composition& comp, const DatasetStats& stats) {
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

SamplePlan plan_sample(const SampleRequest& r, LoadedModel& loaded) {
  const int sources = !r.formula.empty() + !r.from.empty() + !r.system.empty() + !r.compositions.empty();
  if (sources > 1) throw Error("give at most one of --formula, --from or --system", ErrorKind::kUsage);
  SamplePlan plan;
  plan.denovo = sources == 0;
  if (!plan.denovo && (!r.elements.empty() || !r.require.empty() || !r.prompt.empty() || r.max_elements))
    throw Error("--elements, --require, --prompt and --max-elements constrain de novo generation; with a fixed "
                "composition (--formula, --from, --system) they have nothing to choose",
                ErrorKind::kUsage);
  DiffusionModel& model = loaded.for_sampling();
  const CspNetOptions& net = model.net_options();
  const DatasetStats stats = DatasetStats::from_metadata(loaded.state.metadata);
  if (plan.denovo && model.unimat_options() && model.generative() && !r.atoms.empty())
    throw Error("--atoms " + r.atoms + ": a UniMat generation model's tensor decides how many atoms a crystal has "
                "(which slots come out occupied); drop --atoms, or filter the outputs",
                ErrorKind::kUsage);

  // Property targets: steered by classifier-free guidance where the model is
  // conditioned on the column, by a property model's gradient (guide), or both.
  for (const auto& text : r.targets) plan.targets.push_back(PropertyTarget::parse(text));
  check_targets_are_steerable(r, plan.targets, net);
  if (!r.guide.empty()) plan.guide = load_property_model(r.guide);
  if (!r.predictor.empty()) plan.predictor = load_property_model(r.predictor);

  if (plan.denovo) {
    if (model.generative()) plan.constraints = constraints_from(r, stats);
    const int min_atoms = static_cast<int>(
        std::set<int>(plan.constraints.required.begin(), plan.constraints.required.end()).size());
    const auto counts = model.generative() ? draw_atom_counts(r, stats, std::max(1, min_atoms)) : std::vector<int>(r.n, 1);
    for (int i = 0; i < r.n; ++i) plan.tasks.push_back({fmt::format("gen_{:06d}", i), 0, {}, counts[i]});
  } else if (!r.formula.empty()) {
    const auto species = species_for_formula(r);
    const std::string id = Composition::from_species(species).reduced_formula();
    for (int i = 0; i < r.n; ++i) plan.tasks.push_back({id, i, species, 0});
  } else if (!r.system.empty()) {
    plan.tasks = system_tasks(r, stats, plan.notes);
  } else if (!r.compositions.empty()) {
    plan.tasks = composition_list_tasks(r, stats, plan.notes);
  } else {
    plan.tasks = dataset_tasks(r);
  }
  // A generation model inpaints the known types of a composition: an
  // element it never learned has no meaningful type vector.
  if (!plan.denovo && model.generative() && !stats.elements.empty())
    for (const auto& t : plan.tasks)
      for (int z : t.species)
        if (!stats.saw(z)) throw Error(t.id + ": the model never saw " + symbol_of(z) + " in training", ErrorKind::kUsage);
  plan.extrapolations = find_extrapolations(plan.tasks, stats);

  SampleOptions& so = plan.options;
  const SamplerDefault auto_default =
      default_sampler(loaded.state.metadata, plan.denovo, model.unimat_options() && model.generative());
  if (r.sampler == "auto") {
    so.kind = auto_default.kind;
    so.steps = r.steps ? r.steps : auto_default.steps;
    plan.sampler_source = auto_default.source;
  } else {
    so.kind = parse_sampler(r.sampler);
    so.steps = r.steps;  // 0: the model's T
    plan.sampler_source = "request";
  }
  const double built_in_anneal = model.flow() ? kBuiltInFlowAnneal : 0.0;
  so.anneal = r.anneal >= 0 ? r.anneal
              : (r.sampler == "auto" && auto_default.anneal >= 0) ? auto_default.anneal
                                                                   : built_in_anneal;
  so.anneal_onset = r.anneal_onset > 0 ? r.anneal_onset : 1.0;
  so.polish = r.polish >= 0 ? r.polish : 0;
  so.polish_time = r.polish_time;
  so.start_time = r.start_time;
  if (r.start_time > 0 && r.from.empty())
    throw Error("--start-time starts from the structures of --from DATASET; give one", ErrorKind::kUsage);
  so.step_lr = r.step_lr;
  so.seed = r.seed;
  so.device = r.device;
  so.batch_atoms = r.batch_atoms;
  so.spacegroup = r.spacegroup;
  so.cfg_weight = r.cfg_weight;
  so.precision = r.precision;
  so.lattice_clip = r.lattice_clip >= 0 ? r.lattice_clip : default_lattice_clip(stats);
  so.lattice_clip_per_atom = r.lattice_clip_per_atom >= 0 ? r.lattice_clip_per_atom : 0.0;
  if (r.first_lattice_step != "zero" && r.first_lattice_step != "network")
    throw Error("--first-lattice-step " + r.first_lattice_step + ": zero or network", ErrorKind::kUsage);
  so.first_lattice_step_zero = r.first_lattice_step == "zero";

  for (const auto& t : plan.tasks) {
    plan.crystal_tasks.push_back({t.species, t.num_atoms});
    plan.crystal_tasks.back().start = t.start;
  }
  plan.conditions = plan_property_conditions(net, stats.properties, plan.targets, plan.tasks.size(), r.seed);
  if (!plan.conditions.values.empty())
    for (std::size_t i = 0; i < plan.tasks.size(); ++i) plan.crystal_tasks[i].properties = plan.conditions.values[i];
  for (const auto& c : plan.conditions.report)
    if (c.contains("warning")) plan.warnings.push_back("--target " + c["warning"].get<std::string>());

  // Everything the sampler would refuse, refused now, before any work.
  PropertyGuidance guidance = make_guidance(plan, r);
  SampleOptions checked = so;
  if (guidance.model) checked.guidance = &guidance;
  check_sample_request(model, plan.crystal_tasks, plan.constraints, checked);
  return plan;
}

TypeConstraints request_constraints(const SampleRequest& r, const DatasetStats& stats) {
  return constraints_from(r, stats);
}

PropertyGuidance make_guidance(const SamplePlan& plan, const SampleRequest& r) {
  PropertyGuidance g;
  if (!plan.guide.model) return g;
  g.model = plan.guide.model.get();
  g.scale = r.guidance_scale;
  for (const auto& t : plan.targets) {
    g.targets.push_back(t);
    g.target_columns.push_back(plan.guide.model->column_index(t.column));
  }
  return g;
}

}  // namespace xtaldiff
