#include "chem/element.h"

#include <array>
#include <cmath>
#include <mutex>
#include <unordered_map>

#include "util/embedded.h"
#include "util/error.h"
#include "util/strings.h"

namespace xtaldiff {
namespace {

struct Table {
  std::array<Element, kMaxZ + 1> by_z;  // index 0 unused
  std::unordered_map<std::string, int> by_symbol;
};

std::optional<double> optional_number(std::string_view token) {
  auto v = parse_double(token);
  if (!v || !std::isfinite(*v)) return std::nullopt;
  return v;
}

// elements.tsv: z symbol name mass x is_metal (tab-separated, '#' header).
void load_pymatgen_table(Table& t) {
  const std::string source = "data/reference/elements.tsv";
  long line_no = 0;
  for (auto line : split_char(embedded_file("elements.tsv"), '\n')) {
    ++line_no;
    if (trim(line).empty() || line[0] == '#') continue;
    auto f = split_char(trim(line), '\t');
    auto z = f.size() == 6 ? parse_long(f[0]) : std::nullopt;
    if (!z || *z < 1 || *z > kMaxZ) throw Error(located(source, line_no, "malformed row"), ErrorKind::kInternal);
    Element& e = t.by_z[*z];
    e.z = static_cast<int>(*z);
    e.symbol = std::string(f[1]);
    e.name = std::string(f[2]);
    e.mass = parse_double(f[3]).value_or(0.0);
    e.x = optional_number(f[4]);
    e.is_metal = f[5] == "1";
    t.by_symbol[e.symbol] = e.z;
  }
}

// element_data.txt columns: Symbol Name Z Mass r_cov e_affinity p_eig s_eig
// Abundance el_neg ionpot dipol; "None" where SMACT has no value.
void load_smact_elements(Table& t) {
  for (auto line : split_char(embedded_file("smact-2.2.1/element_data.txt"), '\n')) {
    if (trim(line).empty() || line[0] == '#') continue;
    auto f = split_ws(line);
    if (f.size() < 10) continue;
    auto it = t.by_symbol.find(std::string(f[0]));
    if (it == t.by_symbol.end()) continue;
    Element& e = t.by_z[it->second];
    e.covalent_radius = optional_number(f[4]);
    e.pauling = optional_number(f[9]);
  }
}

void load_smact_oxidation_states(Table& t) {
  for (auto line : split_char(embedded_file("smact-2.2.1/oxidation_states.txt"), '\n')) {
    if (trim(line).empty() || line[0] == '#') continue;
    auto f = split_ws(line);
    auto it = t.by_symbol.find(std::string(f[0]));
    if (it == t.by_symbol.end()) continue;
    for (std::size_t i = 1; i < f.size(); ++i)
      if (auto v = parse_long(f[i])) t.by_z[it->second].oxidation_states.push_back(static_cast<int>(*v));
  }
}

void load_smact_metals(Table& t) {
  for (auto line : split_char(embedded_file("smact-2.2.1/metals.txt"), '\n')) {
    auto sym = trim(line);
    auto it = t.by_symbol.find(std::string(sym));
    if (it != t.by_symbol.end()) t.by_z[it->second].smact_metal = true;
  }
}

const Table& table() {
  static const Table t = [] {
    Table t;
    load_pymatgen_table(t);
    for (int z = 1; z <= kMaxZ; ++z)
      if (t.by_z[z].z != z) throw Error("element table misses Z=" + std::to_string(z), ErrorKind::kInternal);
    load_smact_elements(t);
    load_smact_oxidation_states(t);
    load_smact_metals(t);
    return t;
  }();
  return t;
}

}  // namespace

const Element& element(int z) {
  if (z < 1 || z > kMaxZ) throw Error("atomic number " + std::to_string(z) + " is outside 1.." + std::to_string(kMaxZ));
  return table().by_z[z];
}

std::optional<int> find_element(std::string_view symbol) {
  const auto& t = table();
  auto it = t.by_symbol.find(std::string(symbol));
  if (it == t.by_symbol.end()) return std::nullopt;
  return it->second;
}

int element_z(std::string_view symbol) {
  if (auto z = find_element(symbol)) return *z;
  throw Error("unknown element '" + excerpt(symbol) + "'");
}

}  // namespace xtaldiff
