// `xtaldiff enumerate Li-P-S-Cl --max-coeff 6 [--json] [--all]`: the
// reduced compositions of a chemical system that pass the compositional
// validity of `eval` (see src/eval/enumerate.h), one per line.
#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "chem/composition.h"
#include "cli/commands.h"
#include "eval/enumerate.h"
#include "eval/validity.h"
#include "util/error.h"

namespace xtaldiff::cli {
namespace {

struct EnumerateCli {
  std::string system;
  int max_coeff = 6;
  bool json = false, all = false;
};

void run_enumerate(const EnumerateCli& c) {
  EnumerateOptions o;
  o.max_coeff = c.max_coeff;
  o.valid_only = !c.all;
  const auto comps = enumerate_system(c.system, o);
  for (const auto& comp : comps) {
    if (c.json) {
      nlohmann::ordered_json j;
      j["formula"] = comp.reduced_formula();
      j["elements"] = comp.num_elements();
      j["atoms_per_formula_unit"] = static_cast<int>(comp.num_atoms());
      j["chemical_system"] = comp.chemical_system();
      j["comp_valid"] = composition_valid(comp);
      fmt::print("{}\n", j.dump());
    } else {
      fmt::print("{}\n", comp.reduced_formula());
    }
  }
  if (!c.json)
    fmt::print(stderr, "{} {}compositions in {} with coefficients 0..{}\n", comps.size(),
               c.all ? "" : "compositionally valid ", Composition::parse(c.system).chemical_system(), c.max_coeff);
}

}  // namespace

void add_enumerate_command(CLI::App& app) {
  auto c = std::make_shared<EnumerateCli>();
  CLI::App* cmd = app.add_subcommand("enumerate", "List the valid reduced compositions of a chemical system");
  cmd->add_option("system", c->system, "chemical system, e.g. Li-P-S-Cl")->required();
  cmd->add_option("--max-coeff", c->max_coeff, "largest coefficient of an element")->capture_default_str();
  cmd->add_flag("--json", c->json, "one JSON object per composition");
  cmd->add_flag("--all", c->all, "list invalid compositions too (with --json, comp_valid tells which)");
  cmd->callback([c] { run_enumerate(*c); });
}

}  // namespace xtaldiff::cli
