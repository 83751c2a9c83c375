/// @file
/// Chemical compositions: parsing formulas the way chemists write them
/// (`BaTiO3`, `Ba2Ti2O6`, `Ba Ti O3`, `Ca3(PO4)2`, `Li-P-S-Cl`) and the derived
/// names pymatgen prints (reduced formula, Hill formula, chemical system).
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace xtaldiff {

class Composition {
 public:
  Composition() = default;
  /// From atomic number → amount; zero amounts are dropped.
  explicit Composition(const std::map<int, double>& amounts);
  /// From a list of atomic numbers (one per site).
  static Composition from_species(const std::vector<int>& species);
  /// Parses a formula. A chemical system (`Li-P-S-Cl`) gives amount 1 each.
  /// Throws Error on unknown symbols or malformed text.
  static Composition parse(std::string_view formula);
  /// True when the text is a dash-separated chemical system.
  static bool is_chemical_system(std::string_view text);

  const std::map<int, double>& amounts() const { return amounts_; }
  double amount(int z) const;
  double num_atoms() const;
  int num_elements() const { return static_cast<int>(amounts_.size()); }
  bool empty() const { return amounts_.empty(); }
  bool is_integer(double tol = 1e-8) const;
  /// Elements ordered by pymatgen's electronegativity (formula order).
  std::vector<int> elements_by_electronegativity() const;
  /// Atom fraction of each element.
  std::map<int, double> fractions() const;
  /// Integer amounts divided by their gcd (non-integer amounts: unchanged).
  Composition reduced() const;
  /// Number of formula units: num_atoms / reduced num_atoms.
  double formula_units() const;
  /// `Ba1 Ti1 O3` (pymatgen `formula`).
  std::string formula() const;
  /// `BaTiO3` (pymatgen `reduced_formula`, including its special names O2, H2O2...).
  std::string reduced_formula() const;
  /// Hill order: C, H, then alphabetical; other elements alphabetical when no C.
  std::string hill_formula() const;
  /// `Ba-O-Ti` (alphabetical, pymatgen `chemical_system`).
  std::string chemical_system() const;

  bool operator==(const Composition& o) const { return amounts_ == o.amounts_; }
  bool almost_equal(const Composition& o, double tol = 1e-6) const;

 private:
  std::map<int, double> amounts_;
};

/// "Li6P2S8Cl": the formula in pymatgen's element order without spaces or
/// ones (amounts as written, not reduced).
std::string compact_formula(const Composition& composition);

/// Formats an amount as pymatgen's formula_double_format does ("2", "1.5"),
/// omitting a 1 when `ignore_ones`.
std::string format_amount(double amount, bool ignore_ones);

}  // namespace xtaldiff
