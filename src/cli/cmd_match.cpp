// `xtaldiff match A B`: are two structures the same crystal (pymatgen's
// StructureMatcher semantics)? Prints the rms and largest displacement.
#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "eval/structure_matcher.h"
#include "io/formats.h"
#include "util/error.h"

namespace xtaldiff::cli {
namespace {

struct MatchCli {
  std::string a, b;
  MatcherOptions m{0.3, 0.5, 10.0, true, true, false};
  bool json = false, no_primitive = false, no_scale = false;
};

Structure one_structure(const std::string& path) {
  ReadOptions ro;
  ro.overlap_tolerance = 0;
  const Dataset d = read_structures(path, ro);
  if (d.size() != 1)
    throw Error(path + ": holds " + std::to_string(d.size()) + " structures; match compares one with one",
                ErrorKind::kUsage);
  return d.records[0].structure;
}

void run_match(MatchCli& c) {
  c.m.primitive_cell = !c.no_primitive;
  c.m.scale = !c.no_scale;
  const Structure a = one_structure(c.a), b = one_structure(c.b);
  const MatchResult r = StructureMatcher(c.m).get_rms_dist(a, b);
  if (c.json) {
    nlohmann::json j = {{"match", r.match},
                        {"rms", r.rms ? nlohmann::json(*r.rms) : nlohmann::json(nullptr)},
                        {"max_dist", r.max_dist ? nlohmann::json(*r.max_dist) : nlohmann::json(nullptr)}};
    fmt::print("{}\n", j.dump());
    return;
  }
  if (r.match) fmt::print("match: rms {:.6f}, max_dist {:.6f} (in units of (V/N)^(1/3))\n", *r.rms, *r.max_dist);
  else fmt::print("no match (stol {}, ltol {}, angle_tol {})\n", c.m.stol, c.m.ltol, c.m.angle_tol);
}

}  // namespace

void add_match_command(CLI::App& app) {
  auto c = std::make_shared<MatchCli>();
  CLI::App* cmd = app.add_subcommand("match", "Compare two structures (pymatgen StructureMatcher semantics)");
  cmd->add_option("a", c->a, "first structure file")->required();
  cmd->add_option("b", c->b, "second structure file")->required();
  cmd->add_option("--stol", c->m.stol, "site tolerance, units of (V/N)^(1/3)")->capture_default_str();
  cmd->add_option("--ltol", c->m.ltol, "fractional length tolerance")->capture_default_str();
  cmd->add_option("--angle-tol", c->m.angle_tol, "angle tolerance, degrees")->capture_default_str();
  cmd->add_flag("--no-primitive", c->no_primitive, "compare the cells as given, not their primitive cells");
  cmd->add_flag("--no-scale", c->no_scale, "do not bring the volumes together");
  cmd->add_flag("--supercell", c->m.attempt_supercell, "also try supercells of the smaller cell");
  cmd->add_flag("--json", c->json, R"(print {"match", "rms", "max_dist"})");
  cmd->callback([c] { run_match(*c); });
}

}  // namespace xtaldiff::cli
