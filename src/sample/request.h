/// @file
/// What a user asks a model for, in one place, and the plan that answers it.
/// A SampleRequest names one composition source (a formula, a dataset's
/// rows, a chemical system's compositions) or none (de novo generation, with
/// element constraints and an atom count or range), the conditions (space
/// group, property targets, a guiding property model) and the sampler.
/// plan_sample() turns it into tasks once and checks it once, against the
/// model, before any work: an impossible request throws a usage Error and
/// nothing is sampled or written. Requests outside what the model learned
/// are not refused; the plan lists them as extrapolations.
///
/// The sampler policy lives here: "auto" is the model's own recommendation
/// when its metadata records one ("sampler_defaults", set by `xtaldiff model
/// --set-default-sampler` from a measured sweep), else the built-in defaults
/// measured on the shipped Perov-5 models.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "model/model_file.h"
#include "model/property_model.h"
#include "model/dataset_stats.h"
#include "sample/property_condition.h"
#include "sample/sampler.h"
#include "sample/type_constraints.h"

namespace xtaldiff {

struct SampleRequest {
  std::string model_path;  ///< for messages and the manifest
  // Composition source: at most one of formula, from, system (none: de novo).
  std::string formula;     ///< CSP of one composition, e.g. "SrTiO3" or "Ba2Ti2O6"
  int z = 0;               ///< formula units per cell (formula); 0 = as written
  std::string atoms;       ///< "10" (formula or de novo) or "4-12" (de novo)
  int n = 1;               ///< samples of formula, or de novo crystals
  std::string from;        ///< a dataset: one CSP task per row
  int k = 1, skip = 0, limit = 0;
  std::string system;      ///< "Li-P-S-Cl": CSP of every valid composition
  int max_coeff = 6, per_composition = 1;
  /// CSP of each of these compositions (`discover`): the multiples of its
  /// reduced formula whose atom counts lie within the model's training
  /// range, at most `max_formula_units` of them (smallest first), with
  /// per_composition samples each; task ids are the cell formulas ("Li6P2S8").
  std::vector<Composition> compositions;
  int max_formula_units = 2;
  // De novo element constraints.
  std::string elements, require, prompt;
  int max_elements = 0;
  // Conditions.
  std::vector<std::string> targets;  ///< "band_gap=3.0", "heat_ref<0.5"
  int spacegroup = 0;
  double cfg_weight = 1.0;           ///< classifier-free guidance weight
  std::string guide;                 ///< property model steering sampling
  double guidance_scale = 1.0;
  std::string predictor;             ///< property model that only reports
  double target_tolerance = -1;      ///< < 0: the predictor's held-out MAE
  // Sampler.
  std::string sampler = "auto";
  int steps = 0;                     ///< 0: auto's, or the model's T
  double anneal = -1;                ///< < 0: the model's default
  double anneal_onset = -1;          ///< < 0: the model's default, else 1
  int polish = -1;                   ///< < 0: the model's default (flow models; sampler.h)
  int polish_time = 20;
  int start_time = 0;                ///< > 0: start from the --from structures noised to this time (sampler.h)
  double lattice_clip = -1;          ///< < 0: from the training set
  double lattice_clip_per_atom = -1; ///< Å per cube root of the atom count; < 0: none
  std::string first_lattice_step = "zero";  ///< "zero" or "network" (SampleOptions::first_lattice_step_zero)
  double step_lr = -1;
  std::string precision = "fp32";
  std::string device = "cpu";
  uint64_t seed = 0;
  int batch_atoms = 8192;
  // CDVAE models (sample/cdvae_run.h).
  std::string reconstruct;           ///< a dataset: decode each row's latent mean (ids kept)
  int langevin_steps = 0;            ///< Langevin steps per noise level; 0: the model's
  double min_sigma = 0;              ///< skip noise levels below this σ (Å)
  std::string type_update = "composition";  ///< sample/cdvae_sampler.h, CdvaeSampleOptions::type_update
  int final_denoise = -1;            ///< CdvaeSampleOptions::final_denoise: 0 / 1; < 0: the built-in default
  int latent_steps = -1;             ///< --target: Adam steps on the latents (CDVAE's optimisation); < 0: 1000,
                                     ///< or 0 when the latents come from a conditioned prior
  double latent_lr = 1e-3;           ///< --target: their rate
};

/// One crystal of the run: `id` names its composition or row, and
/// `sample_index` which of that id's samples it is.
struct SampleTask {
  std::string id;
  int sample_index = 0;
  std::vector<int> species;  ///< empty: de novo
  int num_atoms = 0;         ///< de novo atom count
  std::optional<Structure> start{};  ///< --start-time: the --from row to start from
};

/// The sampler "auto" resolves to for one kind of request.
struct SamplerDefault {
  SamplerKind kind = SamplerKind::kOde;
  int steps = 20;
  double anneal = -1;  ///< < 0: the built-in (10 for flow models, else 0)
  std::string source;  ///< "model" (its metadata) or "built-in"
};

/// "auto" for a CSP (`denovo` false) or de novo request: the model's
/// recorded default, else the built-in one.
/// `unimat_tensor`: a UniMat generation model (its built-in is DDIM).
SamplerDefault default_sampler(const nlohmann::json& metadata, bool denovo, bool unimat_tensor = false);

/// metadata["sampler_defaults"][csp|gen] from "ode:100:10" (sampler, steps,
/// anneal; anneal optional); a usage Error for anything else.
nlohmann::json parse_sampler_default(const std::string& text);

struct SamplePlan {
  bool denovo = false;
  std::vector<SampleTask> tasks;
  std::vector<CrystalTask> crystal_tasks;  ///< the sampler's view of tasks
  TypeConstraints constraints;             ///< de novo only
  std::vector<PropertyTarget> targets;
  PropertyConditionPlan conditions;        ///< classifier-free property values
  SampleOptions options;                   ///< guidance is set by run_sample_plan
  std::string sampler_source;              ///< "request", "model" or "built-in"
  LoadedPropertyModel guide, predictor;
  /// [{id, reason}]: compositions or atom counts outside what the model learned.
  nlohmann::json extrapolations = nlohmann::json::array();
  std::vector<std::string> notes;          ///< for the user: e.g. compositions skipped
  std::vector<std::string> warnings;       ///< stated warnings (targets outside the labels)
  /// The model that reports predicted values of the outputs: --predictor, else --guide (may be empty).
  const LoadedPropertyModel& reporter() const { return predictor.model ? predictor : guide; }
  const std::string& reporter_path(const SampleRequest& r) const { return predictor.model ? r.predictor : r.guide; }
};

/// Tasks, constraints, conditions and sampler options of `request` under
/// `model`, every check done (see the file comment).
SamplePlan plan_sample(const SampleRequest& request, LoadedModel& model);
/// The classifier guidance of the plan's guide model (empty without one);
/// it points into `plan`, so it lives no longer than the plan.
PropertyGuidance make_guidance(const SamplePlan& plan, const SampleRequest& request);

// Pieces of the plan, public for their tests.

/// The element constraints of a de novo request (--elements, --require,
/// --prompt, --max-elements), each element checked against what the model
/// saw; without --elements / --prompt, the allowed elements are the
/// training set's.
TypeConstraints request_constraints(const SampleRequest& request, const DatasetStats& stats);

/// "10" → {10, 10}; "4-12" → {4, 12}.
std::pair<int, int> parse_atom_range(const std::string& text);
/// "Li,P,S,Cl", "Li P S Cl" or "Li-P-S-Cl" → atomic numbers (each once).
std::vector<int> parse_element_list(const std::string& text, const char* what);
/// Atom count for CSP of `comp`: the multiple of its formula unit that the
/// training histogram holds most often (the smallest multiple inside the
/// histogram's range when none is in it); 0 when none fits.
int atoms_for_composition(const Composition& comp, const DatasetStats& stats);

}  // namespace xtaldiff
