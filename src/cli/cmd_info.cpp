// `xtaldiff info FILE`: what a structure file or dataset holds.
#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>

#include "chem/element.h"
#include "cli/commands.h"
#include "crystal/symmetry.h"
#include "io/formats.h"
#include "util/parallel.h"

namespace xtaldiff::cli {
namespace {

struct InfoOptions : StructureFileOptions {
  double symprec = kDefaultSymprec;
};

struct StructureInfo {
  SpaceGroupInfo sg;
};

// Space groups of every record, spread over the cores (spglib dominates).
std::vector<SpaceGroupInfo> space_groups(const Dataset& d, double symprec) {
  std::vector<SpaceGroupInfo> out(d.size());
  parallel_for(d.size(), 0, [&](std::size_t i) { out[i] = analyze_symmetry(d.records[i].structure, symprec); }, 16);
  return out;
}

nlohmann::ordered_json structure_json(const Record& r, const SpaceGroupInfo& sg) {
  const Structure& s = r.structure;
  const Composition c = s.composition();
  const Vec3 l = s.lattice.lengths(), a = s.lattice.angles();
  nlohmann::ordered_json j;
  j["id"] = r.id;
  j["formula"] = c.formula();
  j["reduced_formula"] = c.reduced_formula();
  j["natoms"] = s.size();
  j["a"] = l[0];
  j["b"] = l[1];
  j["c"] = l[2];
  j["alpha"] = a[0];
  j["beta"] = a[1];
  j["gamma"] = a[2];
  j["volume"] = s.volume();
  j["density"] = s.density();
  j["spacegroup_number"] = sg.number;
  j["spacegroup_symbol"] = sg.international;
  return j;
}

void print_structure(const Record& r, const SpaceGroupInfo& sg, double symprec) {
  const Structure& s = r.structure;
  const Composition c = s.composition();
  const Vec3 l = s.lattice.lengths(), a = s.lattice.angles();
  fmt::print("{}\n", r.id);
  fmt::print("  formula          {}\n", c.formula());
  fmt::print("  reduced formula  {}\n", c.reduced_formula());
  fmt::print("  atoms            {}\n", s.size());
  fmt::print("  a, b, c (Å)      {:.6f} {:.6f} {:.6f}\n", l[0], l[1], l[2]);
  fmt::print("  α, β, γ (°)      {:.4f} {:.4f} {:.4f}\n", a[0], a[1], a[2]);
  fmt::print("  volume (Å³)      {:.4f}\n", s.volume());
  fmt::print("  density (g/cm³)  {:.4f}\n", s.density());
  fmt::print("  space group      {} ({}) at symprec {}\n", sg.international, sg.number, symprec);
}

template <class Map>
std::string histogram_line(const Map& m) {
  std::string out;
  for (const auto& [k, v] : m) out += fmt::format("{}{}: {}", out.empty() ? "" : ", ", k, v);
  return out;
}

void print_dataset(const Dataset& d, const std::vector<SpaceGroupInfo>& sgs, double symprec, const std::string& fmt_name) {
  fmt::print("{}: {}, {} structures\n", d.source, fmt_name, d.size());
  if (!d.columns.empty()) {
    std::string cols;
    for (const auto& c : d.columns) cols += (cols.empty() ? "" : ", ") + c;
    fmt::print("property columns: {}\n", cols);
  }
  std::map<std::size_t, std::size_t> natoms;
  std::map<int, std::size_t> elements;
  std::map<int, std::size_t> nelements;
  std::map<std::pair<int, std::string>, std::size_t> groups;
  for (std::size_t i = 0; i < d.size(); ++i) {
    const Structure& s = d.records[i].structure;
    ++natoms[s.size()];
    const Composition c = s.composition();
    ++nelements[c.num_elements()];
    for (const auto& kv : c.amounts()) ++elements[kv.first];
    ++groups[{sgs[i].number, sgs[i].international}];
  }
  fmt::print("atoms per cell: {}\n", histogram_line(natoms));
  fmt::print("elements per structure: {}\n", histogram_line(nelements));
  std::vector<std::pair<std::size_t, int>> by_count;
  for (const auto& [z, n] : elements) by_count.emplace_back(n, z);
  std::sort(by_count.rbegin(), by_count.rend());
  std::string el;
  for (const auto& [n, z] : by_count) el += fmt::format("{}{} {}", el.empty() ? "" : ", ", element(z).symbol, n);
  fmt::print("elements ({}), structures containing each: {}\n", elements.size(), el);
  std::vector<std::pair<std::size_t, std::pair<int, std::string>>> sg_sorted;
  for (const auto& [g, n] : groups) sg_sorted.emplace_back(n, g);
  std::sort(sg_sorted.begin(), sg_sorted.end(), [](const auto& a, const auto& b) {
    return a.first != b.first ? a.first > b.first : a.second.first < b.second.first;
  });
  fmt::print("space groups at symprec {} ({} distinct):\n", symprec, groups.size());
  for (const auto& [n, g] : sg_sorted) fmt::print("  {:>3} {:<12} {:>7}  {:5.1f} %\n", g.first, g.second, n, 100.0 * n / d.size());
}

void run_info(const InfoOptions& o) {
  ReadOptions ro;
  ro.use_cache = !o.no_cache;
  const Dataset d = read_structures(o.path, ro);
  const auto sgs = space_groups(d, o.symprec);
  if (o.json) {
    for (std::size_t i = 0; i < d.size(); ++i) fmt::print("{}\n", structure_json(d.records[i], sgs[i]).dump());
    return;
  }
  const Format f = format_from_path(o.path);
  if (d.size() == 1 && f != Format::kCsv && f != Format::kCifFolder) {
    print_structure(d.records[0], sgs[0], o.symprec);
    return;
  }
  print_dataset(d, sgs, o.symprec, format_name(f));
}

}  // namespace

void add_info_command(CLI::App& app) {
  auto o = std::make_shared<InfoOptions>();
  CLI::App* cmd = app.add_subcommand("info", "Describe a structure file or a dataset (formula, cell, space group...)");
  add_structure_file_options(cmd, *o, "one JSON object per structure, one per line");
  cmd->add_option("--symprec", o->symprec, "spglib distance tolerance in Å")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->callback([o] { run_info(*o); });
}

void add_structure_file_options(CLI::App* cmd, StructureFileOptions& o, const std::string& json_help) {
  cmd->add_option("file", o.path, "structure file, dataset (.csv/.csv.gz) or folder of CIFs")->required();
  cmd->add_flag("--json", o.json, json_help);
  cmd->add_flag("--no-cache", o.no_cache, "do not read or write the binary cache of a CSV dataset");
}

}  // namespace xtaldiff::cli
