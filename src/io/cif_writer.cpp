// CIF writers in the layout of pymatgen's CifWriter (CifFile/CifBlock
// formatting included), so files written here diff cleanly against files
// pymatgen writes and every CIF reader that reads pymatgen's reads ours.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <map>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "chem/element.h"
#include "crystal/symmetry.h"
#include "io/cif.h"
#include "util/error.h"

namespace xtaldiff {
namespace {

constexpr std::size_t kMaxLine = 70;  // pymatgen CifBlock.maxlen
constexpr const char* kHeader = "# generated using xtaldiff";

// pymatgen writes every float as "{:.8f}".
std::string fixed8(double x) {
  char buf[400];  // %.8f of 1e308 needs ~320 characters
  std::snprintf(buf, sizeof buf, "%.8f", x);
  return buf;
}

// Greedy word wrap (Python's textwrap.fill) for values longer than a line.
std::string wrap_words(const std::string& v, std::size_t width) {
  std::string out, line;
  std::size_t i = 0;
  while (i < v.size()) {
    while (i < v.size() && v[i] == ' ') ++i;
    std::size_t j = i;
    while (j < v.size() && v[j] != ' ') ++j;
    if (j == i) break;
    const std::string word = v.substr(i, j - i);
    if (!line.empty() && line.size() + 1 + word.size() > width) {
      out += line + "\n";
      line.clear();
    }
    line += (line.empty() ? "" : " ") + word;
    i = j;
  }
  return out + line;
}

// pymatgen CifBlock._format_field: quote values with spaces (or a leading
// '_'), text fields for values longer than a line.
std::string format_field(std::string v) {
  const auto b = v.find_first_not_of(" \t\n");
  const auto e = v.find_last_not_of(" \t\n");
  v = b == std::string::npos ? std::string() : v.substr(b, e - b + 1);
  if (v.size() > kMaxLine) return ";\n" + wrap_words(v, kMaxLine) + "\n;";
  if (v.empty()) return "\"\"";
  const bool quoted = (v.front() == '\'' && v.back() == '\'') || (v.front() == '"' && v.back() == '"');
  if ((v.find(' ') != std::string::npos || v[0] == '_') && !quoted) {
    const char q = v.find('\'') != std::string::npos ? '"' : '\'';
    v = q + v + q;
  }
  return v;
}

// One CIF data block: ordered items, then loops (pymatgen CifBlock.__str__).
class CifBlockText {
 public:
  explicit CifBlockText(const std::string& name) : out_("data_" + name) {}

  void item(const std::string& key, const std::string& value) {
    const std::string v = format_field(value);
    if (key.size() + v.size() + 3 < kMaxLine)
      out_ += "\n" + key + "   " + v;
    else
      out_ += "\n" + key + "\n" + v;
  }

  void loop(const std::vector<std::string>& tags, const std::vector<std::vector<std::string>>& rows) {
    out_ += "\nloop_";
    for (const auto& t : tags) out_ += "\n " + t;
    for (const auto& row : rows) {
      std::string line = "\n";
      for (const auto& raw : row) {
        const std::string val = format_field(raw);
        if (val[0] == ';') {
          out_ += line + "\n" + val;
          line = "\n";
        } else if (line.size() + val.size() + 2 < kMaxLine) {
          line += "  " + val;
        } else {
          out_ += line;
          line = "\n  " + val;
        }
      }
      out_ += line;
    }
  }

  std::string file_text() const { return std::string(kHeader) + "\n" + out_ + "\n"; }

 private:
  std::string out_;
};

// A block name is one CIF token: whitespace would end it early.
std::string block_name_or(const std::string& name, const std::string& fallback) {
  std::string n = name.empty() ? fallback : name;
  for (char& c : n)
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') c = '_';
  return n.empty() ? "structure" : n;
}

// The header items every pymatgen CIF carries, in its order.
void write_cell_items(CifBlockText& block, const Structure& s, const std::string& hm_symbol, int number) {
  const Composition comp = s.composition();
  const Vec3 lengths = s.lattice.lengths();
  const Vec3 angles = s.lattice.angles();
  block.item("_symmetry_space_group_name_H-M", hm_symbol);
  block.item("_cell_length_a", fixed8(lengths[0]));
  block.item("_cell_length_b", fixed8(lengths[1]));
  block.item("_cell_length_c", fixed8(lengths[2]));
  block.item("_cell_angle_alpha", fixed8(angles[0]));
  block.item("_cell_angle_beta", fixed8(angles[1]));
  block.item("_cell_angle_gamma", fixed8(angles[2]));
  block.item("_symmetry_Int_Tables_number", std::to_string(number));
  block.item("_chemical_formula_structural", comp.reduced_formula());
  block.item("_chemical_formula_sum", comp.formula());
  block.item("_cell_volume", fixed8(s.lattice.volume()));
  const double z = comp.empty() ? 0.0 : comp.formula_units();
  block.item("_cell_formula_units_Z", std::to_string(std::isfinite(z) ? std::lround(z) : 0L));
}

// "1/2", "2/3", ... for the translations of space-group operations; any
// other value as a short decimal.
std::string format_fraction(double t) {
  for (int den : {2, 3, 4, 6, 8, 12}) {
    const double num = t * den;
    const long n = std::lround(num);
    if (std::fabs(num - n) < 1e-6 * den) {
      long a = n, b = den;
      while (b != 0) std::tie(a, b) = std::make_pair(b, a % b);  // gcd
      const long g = std::labs(a);
      return std::to_string(n / g) + (den / g == 1 ? "" : "/" + std::to_string(den / g));
    }
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.8f", t);
  std::string s = buf;
  s.erase(s.find_last_not_of('0') + 1);
  if (!s.empty() && s.back() == '.') s.pop_back();
  return s;
}

// pymatgen SymmOp.as_xyz_string: "-x+y, z, -x+1/2" (translations in [0,1)).
std::string format_symop(const SymmetryOp& op) {
  static const char kAxes[3] = {'x', 'y', 'z'};
  std::string out;
  for (int i = 0; i < 3; ++i) {
    std::string part;
    for (int j = 0; j < 3; ++j) {
      const int r = op.rotation[i][j];
      if (r == 0) continue;
      if (!part.empty() && r > 0) part += "+";
      if (r != 1 && r != -1)
        part += std::to_string(r);
      else if (r < 0)
        part += "-";
      part += kAxes[j];
    }
    double t = op.translation[i] - std::floor(op.translation[i]);
    if (t < 1e-8 || t > 1 - 1e-8) t = 0;
    if (t != 0) part += (part.empty() ? "" : "+") + format_fraction(t);
    if (part.empty()) part = "0";
    out += (i ? ", " : "") + part;
  }
  return out;
}

Vec3 apply(const SymmetryOp& op, const Vec3& x) {
  Vec3 r{};
  for (int i = 0; i < 3; ++i)
    r[i] = op.rotation[i][0] * x[0] + op.rotation[i][1] * x[1] + op.rotation[i][2] * x[2] + op.translation[i];
  return r;
}

// Moves a representative exactly onto its special position: the mean of its
// images under the operations that leave it in place (within symprec Å).
// spglib's standardised cell is already idealised, so this normally changes
// nothing; it guards against a reader producing near-duplicate images from a
// site printed slightly off its mirror or axis.
Vec3 on_special_position(const Vec3& x, const std::vector<SymmetryOp>& ops, const Lattice& lattice, double symprec) {
  Vec3 sum{0, 0, 0};
  int n = 0;
  for (const SymmetryOp& op : ops) {
    const Vec3 y = apply(op, x);
    Vec3 shift{};
    for (int k = 0; k < 3; ++k) shift[k] = std::round(y[k] - x[k]);
    const Vec3 image = y - shift;
    if (norm(lattice.to_cartesian(image - x)) <= symprec) {
      sum = sum + image;
      ++n;
    }
  }
  if (n == 0) return x;
  Vec3 mean = (1.0 / n) * sum;
  for (double& c : mean) c = wrap01(c);
  return mean;
}

struct Orbit {
  std::size_t representative;  // site index in the conventional cell
  int multiplicity;
};

}  // namespace

std::string write_cif_p1(const Structure& s, const std::string& block_name) {
  const Composition comp = s.composition();
  CifBlockText block(block_name_or(block_name, comp.reduced_formula()));
  write_cell_items(block, s, "P 1", 1);
  block.loop({"_symmetry_equiv_pos_site_id", "_symmetry_equiv_pos_as_xyz"}, {{"1", "x, y, z"}});
  std::vector<std::vector<std::string>> rows;
  rows.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    const std::string& symbol = element(s.species[i]).symbol;
    rows.push_back({symbol, symbol + std::to_string(i), "1", fixed8(s.frac[i][0]), fixed8(s.frac[i][1]),
                    fixed8(s.frac[i][2]), "1"});
  }
  block.loop({"_atom_site_type_symbol", "_atom_site_label", "_atom_site_symmetry_multiplicity", "_atom_site_fract_x",
              "_atom_site_fract_y", "_atom_site_fract_z", "_atom_site_occupancy"},
             rows);
  return block.file_text();
}

std::string write_cif_symmetrized(const Structure& s, const std::string& block_name, double symprec) {
  const Structure conv = standard_conventional(s, symprec);
  // spglib's conventional cell is idealised (lattice and positions made
  // exactly symmetric), so analyse it tightly: at `symprec` the idealised
  // cell can look more symmetric than it is (P4/nmm for a Pmn2_1 cell with
  // a ≈ c), and the written operations would then not hold. A tight analysis
  // writes the group the written crystal really has.
  const SpaceGroupInfo info = analyze_symmetry(conv, std::min(symprec, 1e-3));
  std::vector<SymmetryOp> ops = info.operations;
  if (ops.empty()) ops.push_back({{{{1, 0, 0}, {0, 1, 0}, {0, 0, 1}}}, {0, 0, 0}});
  if (info.equivalent_atoms.size() != conv.size() || info.wyckoffs.size() != conv.size())
    throw Error("symmetry analysis returned " + std::to_string(info.equivalent_atoms.size()) + " sites for a cell of " +
                    std::to_string(conv.size()),
                ErrorKind::kInternal);

  // One orbit per class of equivalent atoms; like pymatgen, its written site
  // is the member closest to the origin coordinate by coordinate. Unlike
  // pymatgen, coordinates equal to 1e-8 count as equal, so rounding noise in
  // x does not decide between members that differ in y.
  std::map<int, Orbit> by_class;
  auto closer_to_origin = [&](std::size_t i, std::size_t j) {
    for (int k = 0; k < 3; ++k) {
      const double a = std::fabs(conv.frac[i][k]), b = std::fabs(conv.frac[j][k]);
      if (std::fabs(a - b) > 1e-8) return a < b;
    }
    return false;
  };
  for (std::size_t i = 0; i < conv.size(); ++i) {
    auto [it, fresh] = by_class.try_emplace(info.equivalent_atoms[i], Orbit{i, 0});
    Orbit& o = it->second;
    ++o.multiplicity;
    if (!fresh && closer_to_origin(i, o.representative)) o.representative = i;
  }
  // pymatgen's order: electronegativity, then larger orbits, then position.
  std::vector<Orbit> orbits;
  for (const auto& kv : by_class) orbits.push_back(kv.second);
  auto electronegativity = [&](const Orbit& o) {
    return element(conv.species[o.representative]).x.value_or(std::numeric_limits<double>::infinity());
  };
  std::stable_sort(orbits.begin(), orbits.end(), [&](const Orbit& a, const Orbit& b) {
    const Vec3& fa = conv.frac[a.representative];
    const Vec3& fb = conv.frac[b.representative];
    return std::make_tuple(electronegativity(a), -a.multiplicity, fa[0], fa[1], fa[2]) <
           std::make_tuple(electronegativity(b), -b.multiplicity, fb[0], fb[1], fb[2]);
  });

  const std::string hm = info.number > 0 && !info.international.empty() ? info.international : "P1";
  CifBlockText block(block_name_or(block_name, conv.composition().reduced_formula()));
  write_cell_items(block, conv, hm, info.number > 0 ? info.number : 1);
  std::vector<std::vector<std::string>> op_rows;
  for (std::size_t k = 0; k < ops.size(); ++k) op_rows.push_back({std::to_string(k + 1), format_symop(ops[k])});
  block.loop({"_symmetry_equiv_pos_site_id", "_symmetry_equiv_pos_as_xyz"}, op_rows);

  std::vector<std::vector<std::string>> rows;
  for (std::size_t k = 0; k < orbits.size(); ++k) {
    const std::size_t i = orbits[k].representative;
    const std::string& symbol = element(conv.species[i]).symbol;
    const Vec3 x = on_special_position(conv.frac[i], ops, conv.lattice, symprec);
    rows.push_back({symbol, symbol + std::to_string(k), std::to_string(orbits[k].multiplicity), info.wyckoffs[i],
                    fixed8(x[0]), fixed8(x[1]), fixed8(x[2]), "1.0"});
  }
  block.loop(
      {"_atom_site_type_symbol", "_atom_site_label", "_atom_site_symmetry_multiplicity", "_atom_site_Wyckoff_symbol",
       "_atom_site_fract_x", "_atom_site_fract_y", "_atom_site_fract_z", "_atom_site_occupancy"},
      rows);
  return block.file_text();
}

}  // namespace xtaldiff
