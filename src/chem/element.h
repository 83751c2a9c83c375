/// @file
/// The periodic table, Z = 1..103. Data come from files shipped in
/// data/reference and embedded at build time:
///  - elements.tsv (written by tools/make_element_table.py from pymatgen):
///    symbol, name, atomic mass, pymatgen's electronegativity X (used to order
///    formulas as pymatgen does), metal flag;
///  - smact-2.2.1/element_data.txt: Pauling electronegativity as SMACT 2.2.1
///    has it (used by compositional validity), Cordero covalent radius;
///  - smact-2.2.1/oxidation_states.txt: the SMACT14 oxidation states;
///  - smact-2.2.1/metals.txt: SMACT's metals list.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace xtaldiff {

constexpr int kMaxZ = 103;  ///< heaviest element in the table (Lr)

struct Element {
  int z = 0;
  std::string symbol;
  std::string name;
  double mass = 0;                  ///< atomic mass (u), pymatgen's value
  std::optional<double> x;          ///< pymatgen electronegativity (formula ordering)
  std::optional<double> pauling;    ///< SMACT 2.2.1 Pauling electronegativity
  std::optional<double> covalent_radius;  ///< Å (Cordero 2008, via SMACT)
  bool is_metal = false;            ///< pymatgen's Element.is_metal
  bool smact_metal = false;         ///< member of SMACT 2.2.1's `metals` list
  std::vector<int> oxidation_states;  ///< SMACT14 table
};

/// Element by atomic number; throws Error for Z outside 1..kMaxZ.
const Element& element(int z);
/// Atomic number of a symbol ("Fe"); nullopt when unknown. Case-sensitive.
std::optional<int> find_element(std::string_view symbol);
/// Atomic number of a symbol or throws Error naming it.
int element_z(std::string_view symbol);

}  // namespace xtaldiff
