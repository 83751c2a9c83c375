// `xtaldiff discover`: formulas → SMACT screen → CSP structures → validity →
// predicted stability → duplicates removed → ranked candidates
// (discover/discover.h). The option table; the pipeline is the library's.
#include <fmt/format.h>

#include "cli/commands.h"
#include "discover/discover.h"
#include "ml/runtime.h"

namespace xtaldiff::cli {

void add_discover_command(CLI::App& app) {
  auto o = std::make_shared<DiscoverOptions>();
  auto threads = std::make_shared<int>(0);
  CLI::App* cmd = app.add_subcommand(
      "discover", "From formulas to ranked crystal structures: screen, CSP, validity, predicted E_hull, duplicates");
  auto* file = cmd->add_option("--compositions", o->compositions,
                               "formulas to try: a CSV with a formula column, or any structure file or dataset");
  auto* model = cmd->add_option("--composition-model", o->composition_model,
                                "or draw -n formulas from this composition model");
  file->excludes(model);
  cmd->add_option("-n", o->n, "formulas drawn from --composition-model")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--system", o->system, "formulas of exactly these elements (Li-P-S-Cl)");
  cmd->add_option("--elements", o->elements, "formulas of these elements only (Li,P,S,Cl)");
  cmd->add_option("--require", o->require, "formulas holding each of these elements");
  cmd->add_option("--max-elements", o->max_elements, "formulas of at most this many elements")->check(CLI::PositiveNumber);
  cmd->add_option("--target", o->targets, "--composition-model condition, COLUMN=VALUE (repeatable)");
  cmd->add_option("--guidance", o->cfg_weight, "classifier-free guidance weight of --target")->capture_default_str();
  cmd->add_option("--csp-model", o->csp_model, "structure model predicting each formula's crystal")->required();
  cmd->add_option("--per-composition", o->per_composition, "structures per formula unit count")->capture_default_str();
  cmd->add_option("--max-formula-units", o->max_formula_units,
                  "try up to this many multiples of each formula unit (smallest first, within the model's atom counts)")
      ->capture_default_str();
  cmd->add_option("--sampler", o->sampler, "CSP sampler (auto: the model's recorded default)")->capture_default_str();
  cmd->add_option("--steps", o->steps, "CSP sampler steps (0: auto's)")->capture_default_str();
  cmd->add_option("--chunk", o->chunk, "formulas per resumable CSP chunk")->capture_default_str();
  cmd->add_option("--predictor", o->predictor, "property model of the formation energy, to rank by predicted E_hull");
  cmd->add_option("--hull", o->hull, "labelled entries of the convex hull (default: the predictor's training data)");
  cmd->add_option("--hull-column", o->hull_column, "formation energy column (eV/atom) of --hull")->capture_default_str();
  cmd->add_option("--stable-threshold", o->stable_threshold, "predicted E_hull (eV/atom) counted as stable")
      ->capture_default_str();
  cmd->add_option("--seed", o->seed, "random seed")->capture_default_str();
  cmd->add_option("--device", o->device, "cpu or cuda")->capture_default_str();
  cmd->add_option("--threads", *threads, "CPU threads (0: all cores)")->capture_default_str();
  cmd->add_option("--out", o->out, "output folder (a killed run continues when started again with the same options)")
      ->required();
  cmd->add_flag("-q,--quiet", o->quiet, "no progress output");
  cmd->callback([o, threads] {
    configure_threads(*threads);
    const auto manifest = run_discovery(*o, invoked_command_line());
    if (!o->quiet)
      fmt::print(stderr, "wrote {} ranked candidates to {}/candidates.csv (funnel: {}; {:.1f} s)\n",
                 manifest["funnel"]["unique_structures"].get<std::size_t>(), o->out, manifest["funnel"].dump(),
                 manifest["seconds"]["total"].get<double>());
  });
}

}  // namespace xtaldiff::cli
