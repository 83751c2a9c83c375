// `xtaldiff validate FILE`: the field's validity check (CDVAE/DiffCSP
// structure_validity and SMACT 2.2.1 smact_validity) for every structure.
#include <fmt/format.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "eval/validity.h"
#include "io/formats.h"
#include "report/sample_report.h"
#include "util/file_io.h"

namespace xtaldiff::cli {
namespace {

struct ValidateOptions : StructureFileOptions {
  std::string report;  // HTML page of the structures, when given
};

std::string share(std::size_t n, std::size_t total) {
  return fmt::format("{:.2f} % ({}/{})", total ? 100.0 * n / total : 0.0, n, total);
}

void run_validate(const ValidateOptions& o) {
  ReadOptions ro;
  ro.use_cache = !o.no_cache;
  // Atoms that overlap are what this command reports (as invalid), not an
  // error. CIF sites are merged only when they coincide to 1e-6 fractional
  // (duplicates from applying symmetry operations), not at the reader's
  // default 1e-3, which would silently fuse close atoms of a generated P1 cell.
  ro.overlap_tolerance = 0;
  ro.cif.merge_tolerance = 1e-6;
  ro.cif.merge_distinct_sites = false;
  const Dataset d = read_structures(o.path, ro);

  std::vector<Validity> v(d.size());
  std::size_t n_struct = 0, n_comp = 0, n_valid = 0;
  for (std::size_t i = 0; i < d.size(); ++i) {
    v[i] = check_validity(d.records[i].structure);
    n_struct += v[i].structural;
    n_comp += v[i].compositional;
    n_valid += v[i].valid();
  }

  if (!o.report.empty()) {
    SampleReportInput page;
    page.title = "xtaldiff validate: " + d.source;
    page.manifest = {{"command", "xtaldiff validate " + o.path}, {"structures", o.path}};
    page.structures = &d;
    page.validity = &v;
    page.cif_folder.clear();  // the input may have no CIF files to link to
    write_file_atomic(o.report, sample_report_html(page));
  }

  if (o.json) {
    for (std::size_t i = 0; i < d.size(); ++i) {
      nlohmann::ordered_json j;
      j["id"] = d.records[i].id;
      j["struct_valid"] = v[i].structural;
      j["comp_valid"] = v[i].compositional;
      j["valid"] = v[i].valid();
      fmt::print("{}\n", j.dump());
    }
    return;
  }

  std::size_t id_width = 2, formula_width = 7;
  std::vector<std::string> formulas(d.size());
  for (std::size_t i = 0; i < d.size(); ++i) {
    const Structure& s = d.records[i].structure;
    formulas[i] = s.species.empty() ? "-" : s.composition().reduced_formula();
    id_width = std::max(id_width, std::min<std::size_t>(40, d.records[i].id.size()));
    formula_width = std::max(formula_width, std::min<std::size_t>(30, formulas[i].size()));
  }
  auto yes_no = [](bool b) { return b ? "yes" : "no"; };
  fmt::print("{:<{}}  {:<{}}  {:<6}  {:<5}  {}\n", "id", id_width, "formula", formula_width, "struct", "comp", "valid");
  for (std::size_t i = 0; i < d.size(); ++i)
    fmt::print("{:<{}}  {:<{}}  {:<6}  {:<5}  {}\n", d.records[i].id, id_width, formulas[i], formula_width,
               yes_no(v[i].structural), yes_no(v[i].compositional), yes_no(v[i].valid()));
  fmt::print("\n{}: {} structure{}\n", d.source, d.size(), d.size() == 1 ? "" : "s");
  fmt::print("  structurally valid (volume >= 0.1 Å³, distances >= 0.5 Å)  {}\n", share(n_struct, d.size()));
  fmt::print("  compositionally valid (SMACT 2.2.1)                       {}\n", share(n_comp, d.size()));
  fmt::print("  valid (both)                                              {}\n", share(n_valid, d.size()));
}

}  // namespace

void add_validate_command(CLI::App& app) {
  auto o = std::make_shared<ValidateOptions>();
  CLI::App* cmd = app.add_subcommand(
      "validate", "Structural and compositional (SMACT) validity of every structure, as CDVAE/DiffCSP score it");
  add_structure_file_options(cmd, *o, "one JSON object per structure, one per line: id, struct_valid, comp_valid, valid");
  cmd->add_option("--report", o->report, "also write an HTML page of the structures (validity, space groups, cells)");
  cmd->callback([o] { run_validate(*o); });
}

}  // namespace xtaldiff::cli
