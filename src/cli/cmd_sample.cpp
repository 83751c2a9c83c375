// `xtaldiff sample`: structures for compositions from a trained model.
//   --formula SrTiO3 [--z 2 | --atoms 10] [-n 8]   one composition, n samples
//   --from DATASET [--k 20]                        one CSP task per row (its composition
//                                                  and atom count), k samples each
// Writes DIR/cifs/*.cif, DIR/samples.extxyz, DIR/samples.csv (CDVAE layout,
// read by `xtaldiff eval csp`) and DIR/manifest.json.
#include <fmt/format.h>
#include <unistd.h>

#include <chrono>
#include <ctime>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "chem/composition.h"
#include "chem/element.h"
#include "cli/commands.h"
#include "xtaldiff_version.h"
#include "io/extxyz.h"
#include "io/formats.h"
#include "ml/runtime.h"
#include "model/model_file.h"
#include "sample/sampler.h"
#include "util/clock.h"
#include "util/error.h"
#include "util/file_io.h"

namespace xtaldiff::cli {
namespace {

struct SampleCli {
  std::string model, formula, from, out, sampler = "pc", device = "cpu";
  int z = 0, atoms = 0, n = 1, k = 1, steps = 0, threads = 0, limit = 0, batch_atoms = 8192;
  double step_lr = -1;
  uint64_t seed = 0;
  bool quiet = false;
};

struct Task {
  std::string id;
  int sample_index;
  std::vector<int> species;
};

std::vector<int> species_for_formula(const SampleCli& c) {
  const Composition comp = Composition::parse(c.formula);
  if (Composition::is_chemical_system(c.formula))
    throw Error("--formula " + c.formula + ": a chemical system has no fixed composition (CSP needs a formula)",
                ErrorKind::kUsage);
  if (!comp.is_integer()) throw Error("--formula " + c.formula + ": amounts must be integers", ErrorKind::kUsage);
  const Composition reduced = comp.reduced();
  const int unit = static_cast<int>(std::lround(reduced.num_atoms()));
  int z = 0;
  if (c.z > 0 && c.atoms > 0) throw Error("give --z or --atoms, not both", ErrorKind::kUsage);
  if (c.z > 0) z = c.z;
  else if (c.atoms > 0) {
    if (c.atoms % unit != 0)
      throw Error(fmt::format("--atoms {}: not a multiple of {} atoms per formula unit of {}", c.atoms, unit,
                              reduced.reduced_formula()),
                  ErrorKind::kUsage);
    z = c.atoms / unit;
  } else {
    z = static_cast<int>(std::lround(comp.formula_units()));  // as written: Ba2Ti2O6 → 2
  }
  std::vector<int> species;
  for (int zz : reduced.elements_by_electronegativity())
    species.insert(species.end(), static_cast<std::size_t>(std::lround(reduced.amount(zz))) * z, zz);
  return species;
}

void run_sample(const SampleCli& c, const std::string& command_line) {
  if (c.formula.empty() == c.from.empty()) throw Error("give exactly one of --formula or --from", ErrorKind::kUsage);
  configure_threads(c.threads);
  std::vector<Task> tasks;
  if (!c.formula.empty()) {
    const auto species = species_for_formula(c);
    const std::string id = Composition::from_species(species).reduced_formula();
    for (int i = 0; i < c.n; ++i) tasks.push_back({id, i, species});
  } else {
    ReadOptions ro;
    ro.overlap_tolerance = 0;
    const Dataset d = read_structures(c.from, ro);
    std::size_t rows = d.size();
    if (c.limit > 0) rows = std::min<std::size_t>(rows, static_cast<std::size_t>(c.limit));
    for (std::size_t r = 0; r < rows; ++r)
      for (int i = 0; i < c.k; ++i) tasks.push_back({d.records[r].id, i, d.records[r].structure.species});
  }
  LoadedModel loaded = load_model_file(c.model);
  SampleOptions so;
  so.kind = parse_sampler(c.sampler);
  so.steps = c.steps;
  so.step_lr = c.step_lr;
  so.seed = c.seed;
  so.device = c.device;
  so.batch_atoms = c.batch_atoms;
  std::vector<std::vector<int>> species;
  for (const auto& t : tasks) species.push_back(t.species);
  const bool tty = isatty(fileno(stderr)) && !c.quiet;
  const auto start = std::chrono::steady_clock::now();
  auto progress = [&](std::size_t done, std::size_t total) {
    if (c.quiet) return;
    const double el = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const double rate = done / std::max(el, 1e-9);
    fmt::print(stderr, "{}sampled {}/{} crystals, {:.2f} crystals/s, ETA {:.0f} s{}", tty ? "\r" : "", done, total,
               rate, rate > 0 ? (total - done) / rate : 0.0, tty ? "   " : "\n");
  };
  SampleReport report;
  const auto structures = sample_csp(loaded.for_sampling(), species, so, &report, progress);
  if (tty) fmt::print(stderr, "\n");

  Dataset out;
  out.columns = {"sample"};
  for (std::size_t i = 0; i < tasks.size(); ++i) {
    if (structures[i].species.empty()) continue;  // failed after retries: reported below
    out.records.push_back({tasks[i].id, structures[i], {std::to_string(tasks[i].sample_index)}});
  }
  make_directories(c.out);
  Dataset named = out;  // CIF file names: id_sample
  for (auto& r : named.records) r.id = r.id + "_" + r.values[0];
  write_structures(named, c.out + "/cifs/");
  write_file_atomic(c.out + "/samples.extxyz", write_extxyz(out));
  write_cdvae_csv(out, c.out + "/samples.csv");
  const nlohmann::json manifest = {
      {"command", command_line},
      {"model", c.model},
      {"model_metadata", loaded.state.metadata},
      {"sampler", sampler_name(so.kind)},
      {"steps", so.steps > 0 ? so.steps : loaded.for_sampling().diffusion_options().steps},
      {"network_evaluations_per_crystal", report.network_evaluations},
      {"step_lr", so.step_lr >= 0 ? so.step_lr : loaded.for_sampling().diffusion_options().step_lr},
      {"seed", so.seed},
      {"crystals", report.crystals},
      {"written", out.size()},
      {"retried_non_finite", report.retried},
      {"failed_non_finite", report.failed},
      {"seconds", report.seconds},
      {"threads", torch::get_num_threads()},
      {"device", c.device},
      {"finished", now_iso8601()},
      {"xtaldiff_version", XTALDIFF_VERSION}};
  write_file_atomic(c.out + "/manifest.json", manifest.dump(2) + "\n");
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
  CLI::App* cmd = app.add_subcommand("sample", "Sample crystal structures for compositions (CSP) from a model");
  cmd->add_option("--model", c->model, "model file")->required();
  cmd->add_option("--formula", c->formula, "composition, e.g. SrTiO3 or Ba2Ti2O6");
  cmd->add_option("--z", c->z, "formula units per cell");
  cmd->add_option("--atoms", c->atoms, "atoms per cell (a multiple of the reduced formula)");
  cmd->add_option("-n", c->n, "samples for --formula")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--from", c->from, "dataset: one task per row (same composition and atom count)");
  cmd->add_option("--k", c->k, "samples per row of --from")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--limit", c->limit, "only the first N rows of --from");
  cmd->add_option("--out", c->out, "output folder")->required();
  cmd->add_option("--steps", c->steps, "time steps (default: the model's T)");
  cmd->add_option("--sampler", c->sampler, "pc, ancestral, ode or heun")->capture_default_str();
  cmd->add_option("--step-lr", c->step_lr, "Langevin corrector step (default: the model's)");
  cmd->add_option("--seed", c->seed, "random seed")->capture_default_str();
  cmd->add_option("--device", c->device, "cpu or cuda")->capture_default_str();
  cmd->add_option("--threads", c->threads, "CPU threads (0: all cores)")->capture_default_str();
  cmd->add_option("--batch-atoms", c->batch_atoms, "atoms per network batch")->capture_default_str();
  cmd->add_flag("-q,--quiet", c->quiet, "no progress output");
  cmd->callback([c] {
    std::string line = "xtaldiff sample --model " + c->model;
    if (!c->formula.empty()) line += " --formula " + c->formula + " -n " + std::to_string(c->n);
    if (c->z) line += " --z " + std::to_string(c->z);
    if (c->atoms) line += " --atoms " + std::to_string(c->atoms);
    if (!c->from.empty()) line += " --from " + c->from + " --k " + std::to_string(c->k);
    if (c->limit) line += " --limit " + std::to_string(c->limit);
    line += " --sampler " + c->sampler + " --seed " + std::to_string(c->seed) + " --out " + c->out;
    if (c->steps) line += " --steps " + std::to_string(c->steps);
    run_sample(*c, line);
  });
}

}  // namespace xtaldiff::cli
