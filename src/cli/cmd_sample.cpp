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
// The option table and the terminal: the request is planned, checked, run
// and written by sample/request.h and sample/sample_run.h.
#include <fmt/format.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>

#include "cli/commands.h"
#include "cli/ranks.h"
#include "ml/runtime.h"
#include "model/model_file.h"
#include "model/cdvae_model.h"
#include "model/composition_model.h"
#include "sample/cdvae_run.h"
#include "sample/composition_run.h"
#include "sample/request.h"
#include "sample/sample_run.h"
#include "util/clock.h"
#include "util/error.h"

namespace xtaldiff::cli {
namespace {

struct SampleCli {
  SampleRequest request;
  SampleOutputOptions outputs;
  std::string out;
  int threads = 0;
  bool quiet = false;
  RankOptions ranks;
};

// Called after every time step: a terminal line is redrawn at most once a
// second, a log gets a line every 30 s (and the last one).
SampleProgress progress_printer(bool quiet, bool tty) {
  struct State {
    std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now();
    double last_print = -1e9, last_done = -1;
  };
  auto state = std::make_shared<State>();
  return [state, quiet, tty](double done, std::size_t total) {
    if (quiet || done == state->last_done) return;
    const double el = std::chrono::duration<double>(std::chrono::steady_clock::now() - state->start).count();
    if (done < total && el - state->last_print < (tty ? 1.0 : 30.0)) return;
    state->last_print = el;
    state->last_done = done;
    const double rate = done / std::max(el, 1e-9);
    fmt::print(stderr, "{}sampled {:.0f}/{} crystals ({:.1f} %), {:.2f} crystals/s, ETA {}{}", tty ? "\r" : "", done,
               total, 100.0 * done / std::max<std::size_t>(total, 1), rate,
               rate > 0 ? format_duration((total - done) / rate) : std::string("?"), tty ? "   " : "\n");
  };
}

void print_extrapolations(const nlohmann::json& extrapolations, const std::string& model) {
  const std::size_t shown = std::min<std::size_t>(extrapolations.size(), 5);
  for (std::size_t i = 0; i < shown; ++i)
    fmt::print(stderr, "warning: {}: {}; its structures are an extrapolation of {}\n",
               extrapolations[i]["id"].get<std::string>(), extrapolations[i]["reason"].get<std::string>(), model);
  if (extrapolations.size() > shown)
    fmt::print(stderr, "warning: {} more compositions lie outside the model's training set (manifest.json, "
               "\"extrapolations\")\n", extrapolations.size() - shown);
}

// A composition model: formulas to DIR/compositions.csv (sample/composition_run.h).
void run_composition_sample(const SampleCli& c, const SampleRequest& r, LoadedArchive& archive) {
  auto& model = dynamic_cast<CompositionModel&>(archive.ema ? *archive.ema : *archive.model);
  CompositionRun run = plan_composition_run(r, model, archive.state.metadata);
  if (!c.quiet)
    for (const auto& w : run.warnings) fmt::print(stderr, "warning: {}\n", w);
  run_composition_sampling(run, r, model);
  const nlohmann::json m = write_composition_run(c.out, r, run, archive.state.metadata, invoked_command_line());
  if (!c.quiet)
    fmt::print(stderr,
               "wrote {} formulas to {}/compositions.csv ({:.1f} s, {} draws: {} malformed, {} rejected by the "
               "constraints; {} network evaluations each): SMACT-valid {:.1f} %, unique {:.1f} %, novel {:.1f} %\n",
               run.sampled.compositions.size(), c.out, run.seconds, run.sampled.draws, run.sampled.malformed,
               run.sampled.rejected, run.sampled.network_evaluations, 100 * m["smact_valid"].get<double>(),
               100 * m["unique"].get<double>(), 100 * m["novel"].get<double>());
  if (run.sampled.exhausted)
    throw Error(fmt::format("only {} of {} formulas met the constraints after {} draws (written)",
                            run.sampled.compositions.size(), r.n, run.sampled.draws),
                ErrorKind::kInput);
}

// A CDVAE: de novo crystals or reconstructions (sample/cdvae_run.h).
void run_cdvae(const SampleCli& c, const SampleRequest& r, LoadedArchive& archive) {
  auto& model = dynamic_cast<CdvaeModel&>(archive.ema ? *archive.ema : *archive.model);
  const bool tty = isatty(fileno(stderr)) && !c.quiet;
  const CdvaeRun run = run_cdvae_sample(r, model, archive.state.metadata, progress_printer(c.quiet, tty));
  if (tty) fmt::print(stderr, "\n");
  if (!c.quiet) {
    for (const auto& w : run.warnings) fmt::print(stderr, "warning: {}\n", w);
    for (const auto& m : run.messages) fmt::print(stderr, "{}\n", m);
  }
  write_cdvae_run(c.out, r, run, archive.state.metadata, c.outputs, invoked_command_line());
  if (!c.quiet)
    fmt::print(stderr, "wrote {} structures to {} ({:.1f} s, {} network evaluations each: annealed Langevin, {} "
               "steps per noise level, step_lr {:g})\n",
               run.out.size(), c.out, run.report.seconds, run.report.network_evaluations,
               run.options.steps_per_level, run.options.step_lr);
  if (run.report.failed)
    throw Error(fmt::format("{} crystals ended with non-finite values and were not written", run.report.failed),
                ErrorKind::kInput);
}

void run_sample(const SampleCli& c) {
  if (launched_as_ranks(c.ranks)) return;
  // Several ranks: each samples its share of the batches, rank 0 writes them all.
  const std::unique_ptr<Distributed> dist = join_ranks(c.ranks);
  const bool root = !dist || dist->is_root();
  const bool quiet = c.quiet || !root;
  SampleRequest r = c.request;
  r.device = device_of_rank(r.device, dist.get());
  configure_threads(c.threads == 0 && dist ? dist->threads_per_rank() : c.threads);
  LoadedArchive archive = read_model_file(r.model_path);
  if (archive.task == "composition") {
    if (dist) throw Error("--nproc: a composition model samples on one process", ErrorKind::kUsage);
    run_composition_sample(c, r, archive);
    return;
  }
  if (archive.arch == "cdvae") {
    if (dist) throw Error("--nproc: a CDVAE samples on one process", ErrorKind::kUsage);
    run_cdvae(c, r, archive);
    return;
  }
  if (!r.reconstruct.empty() || r.langevin_steps || r.min_sigma > 0 || r.type_update != "composition" || r.final_denoise >= 0 ||
      r.latent_steps != SampleRequest{}.latent_steps || r.latent_lr != SampleRequest{}.latent_lr)
    throw Error("--reconstruct / --langevin-steps / --min-sigma / --type-update / --latent-*: for CDVAE models (" + r.model_path + " is a " +
                    archive.arch + " model)",
                ErrorKind::kUsage);
  LoadedModel loaded = as_loaded_model(std::move(archive), r.model_path);
  SamplePlan plan = plan_sample(r, loaded);
  plan.options.dist = dist.get();
  if (!quiet) {
    for (const auto& note : plan.notes) fmt::print(stderr, "{}\n", note);
    print_extrapolations(plan.extrapolations, r.model_path);
    for (const auto& w : plan.warnings) fmt::print(stderr, "warning: {}\n", w);
  }
  const bool tty = isatty(fileno(stderr)) && !quiet;
  const SampleRun run = run_sample_plan(r, plan, loaded.for_sampling(), progress_printer(quiet, tty));
  if (!root) return;
  if (tty) fmt::print(stderr, "\n");
  if (!quiet)
    for (const auto& m : run.messages) fmt::print(stderr, "{}\n", m);
  write_sample_run(c.out, r, plan, run, loaded, c.outputs, invoked_command_line());
  const SampleReport& rep = run.report;
  if (!c.quiet)
    fmt::print(stderr, "wrote {} structures to {} ({:.1f} s, {} network evaluations each{})\n", run.out.size(), c.out,
               rep.seconds, rep.network_evaluations,
               rep.retried ? fmt::format(", {} re-sampled after {}", rep.retried, rep.retry_reason) : "");
  if (rep.failed)
    throw Error(fmt::format("{} crystals still had {} after {} retries and were not written", rep.failed,
                            rep.retry_reason, plan.options.max_retries),
                ErrorKind::kInput);
}

}  // namespace

void add_sample_command(CLI::App& app) {
  auto c = std::make_shared<SampleCli>();
  CLI::App* cmd = app.add_subcommand("sample", "Sample crystal structures: for compositions (CSP) or de novo under constraints");
  cmd->add_option("--model", c->request.model_path, "model file")->required();
  cmd->add_option("--formula", c->request.formula, "composition, e.g. SrTiO3 or Ba2Ti2O6");
  cmd->add_option("--z", c->request.z, "formula units per cell");
  cmd->add_option("--atoms", c->request.atoms,
                  "atoms per cell: with --formula a multiple of the reduced formula; de novo a count or a range (4-12)");
  cmd->add_option("-n", c->request.n, "samples for --formula, or de novo crystals")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--elements", c->request.elements, "de novo: only these elements (Li,P,S,Cl)");
  cmd->add_option("--require", c->request.require, "de novo: each of these elements appears (Li)");
  cmd->add_option("--max-elements", c->request.max_elements, "de novo: at most this many distinct elements")->check(CLI::PositiveNumber);
  cmd->add_option("--prompt", c->request.prompt, "de novo: exactly these elements, counts free (\"Ba Ti O\")");
  cmd->add_option("--guide", c->request.guide, "property model steering sampling towards --target values");
  cmd->add_option("--predictor", c->request.predictor,
                  "property model that predicts the outputs' values for the report (no steering; default: --guide)");
  cmd->add_option("--target", c->request.targets, "property target: COLUMN=VALUE, COLUMN<VALUE or COLUMN>VALUE (repeatable)");
  cmd->add_option("--guidance-scale", c->request.guidance_scale, "strength of the property guidance")->capture_default_str();
  cmd->add_option("--target-tolerance", c->request.target_tolerance,
                  "a COLUMN=VALUE target is met within this (default: the predictor's held-out MAE)");
  cmd->add_option("--spacegroup", c->request.spacegroup,
                  "space group 1..230 to condition on (models trained with --condition spacegroup)")
      ->check(CLI::Range(1, 230));
  cmd->add_option("--guidance", c->request.cfg_weight,
                  "classifier-free guidance weight of --spacegroup and of --target on conditioned columns (0 unconditional, 1 "
                  "conditional, >1 sharper)")
      ->capture_default_str();
  cmd->add_option("--refine-symmetry", c->outputs.refine_symmetry,
                  "also write samples_refined.csv: each output symmetrised to the space group spglib finds at this "
                  "tolerance (Å), same cell and atoms (samples.csv stays the raw sampler's)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--anneal", c->request.anneal,
                  "flow models: velocity anti-annealing S, v·(1 + S·(1 − τ)) (default: the model's measured best; 0 = "
                  "plain ODE)");
  cmd->add_option("--precision", c->request.precision, "network arithmetic: fp32 or bf16")->capture_default_str();
  cmd->add_option("--lattice-clip", c->request.lattice_clip,
                  "clamp (Å) of the lattice's clean estimate in strided and ODE steps (default: 1.5 times the longest "
                  "training cell vector; 0: none)")
      ->check(CLI::Range(0.0, 1000.0));
  cmd->add_option("--lattice-clip-per-atom", c->request.lattice_clip_per_atom,
                  "a clamp that grows with the cell: N^(1/3) times this (Å) for a crystal of N atoms, besides "
                  "--lattice-clip (default 0: none)")
      ->check(CLI::Range(0.0, 1000.0));
  cmd->add_option("--first-lattice-step", c->request.first_lattice_step,
                  "the lattice's clean estimate in the first ode / heun step from t = T: zero (the default: the "
                  "network's is its error times ~7e4 there) or network (the estimate, clamped by --lattice-clip; the "
                  "behaviour before)")
      ->check(CLI::IsMember({"zero", "network"}))
      ->capture_default_str();
  cmd->add_option("--system", c->request.system, "CSP for every valid composition of a chemical system (Li-P-S-Cl); with a composition model: formulas of exactly these elements");
  cmd->add_option("--max-coeff", c->request.max_coeff, "--system: largest coefficient")->capture_default_str();
  cmd->add_option("--per-composition", c->request.per_composition, "--system: samples per composition")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--from", c->request.from, "dataset: one task per row (same composition and atom count)");
  cmd->add_option("--reconstruct", c->request.reconstruct,
                  "CDVAE: decode each row of this dataset from its latent mean (ids kept: `eval csp` scores it)");
  cmd->add_option("--langevin-steps", c->request.langevin_steps,
                  "CDVAE: annealed Langevin steps per noise level (default: the model's)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--min-sigma", c->request.min_sigma, "CDVAE: skip noise levels with sigma below this (Å)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--type-update", c->request.type_update,
                  "CDVAE: composition (keep the heads' composition, move atoms between sites by the decoder), decoder "
                  "(CDVAE's argmax per atom) or fixed")
      ->capture_default_str();
  cmd->add_option("--final-denoise", c->request.final_denoise,
                  "CDVAE: 1 = one more decoder evaluation moves every atom to its clean estimate at the end, 0 = none "
                  "(default: the built-in choice)")
      ->check(CLI::Range(0, 1));
  cmd->add_option("--latent-steps", c->request.latent_steps,
                  "CDVAE with --target: Adam steps on the latents towards the target (property optimisation; default "
                  "1000, or 0 when a conditioned prior draws the latents)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--latent-lr", c->request.latent_lr, "CDVAE with --target: the rate of those steps")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--k", c->request.k, "samples per row of --from")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--limit", c->request.limit, "only the first N rows of --from (after --skip)")->check(CLI::NonNegativeNumber);
  cmd->add_option("--skip", c->request.skip, "leave out the first N rows of --from (split a long run in parts)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--out", c->out, "output folder")->required();
  cmd->add_option("--steps", c->request.steps, "time steps (default: auto's, or the model's T with an explicit --sampler)");
  cmd->add_option("--sampler", c->request.sampler,
                  "auto (the model's recorded default, `xtaldiff model` shows it; else CSP: ode, 20 steps; de novo: "
                  "ancestral, 200 steps), pc, ancestral, ode or heun")
      ->capture_default_str();
  cmd->add_option("--step-lr", c->request.step_lr, "Langevin corrector step (default: the model's)");
  cmd->add_option("--seed", c->request.seed, "random seed")->capture_default_str();
  cmd->add_option("--device", c->request.device, "cpu or cuda")->capture_default_str();
  cmd->add_option("--threads", c->threads, "CPU threads (0: all cores)")->capture_default_str();
  cmd->add_option("--batch-atoms", c->request.batch_atoms, "atoms per network batch")->capture_default_str();
  cmd->add_option("--anneal-onset", c->request.anneal_onset,
                  "flow models: τ in (0, 1] where --anneal starts (the plain ODE before it)");
  cmd->add_option("--polish", c->request.polish,
                  "flow models: network evaluations after the last step, each taking the clean estimate at "
                  "--polish-time (pulls atoms onto their sites)");
  cmd->add_option("--start-time", c->request.start_time,
                  "start from the --from structures noised to this time step (of the model's T) instead of from "
                  "noise, e.g. to refine another model's outputs (SDEdit); 0: from noise")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--polish-time", c->request.polish_time, "time step (of the model's T) of --polish")
      ->capture_default_str();
  cmd->add_flag("--symmetrized-cifs", c->outputs.symmetrized_cifs,
                "also write DIR/cifs_symmetrized/: each structure in its space group at symprec 0.1 (asymmetric unit)");
  cmd->add_flag("-q,--quiet", c->quiet, "no progress output");
  add_rank_options(cmd, c->ranks);
  cmd->callback([c] { run_sample(*c); });
}

}  // namespace xtaldiff::cli
