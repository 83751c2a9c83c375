#include "crystal/symmetry.h"

#include <spglib.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <numeric>

#include "chem/element.h"
#include "util/error.h"

namespace xtaldiff {
namespace {

// spglib's cell: lattice vectors as columns, positions as rows.
struct SpglibCell {
  double lattice[3][3];
  std::vector<std::array<double, 3>> positions;
  std::vector<int> types;

  explicit SpglibCell(const Structure& s, std::size_t capacity_factor = 1) {
    const Mat3& m = s.lattice.matrix();
    for (int i = 0; i < 3; ++i)
      for (int j = 0; j < 3; ++j) lattice[i][j] = m[j][i];
    positions.resize(s.size() * capacity_factor);
    types.resize(s.size() * capacity_factor);
    for (std::size_t i = 0; i < s.size(); ++i) {
      positions[i] = s.frac[i];
      types[i] = s.species[i];
    }
  }
  double (*pos())[3] { return reinterpret_cast<double(*)[3]>(positions.data()); }
};

Structure from_columns(const double lat[3][3], const double (*pos)[3], const int* types, int n) {
  Structure s;
  Mat3 m{};
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) m[i][j] = lat[j][i];
  s.lattice = Lattice(m);
  for (int i = 0; i < n; ++i) {
    s.species.push_back(types[i]);
    s.frac.push_back({pos[i][0], pos[i][1], pos[i][2]});
  }
  s.wrap();
  return s;
}

[[noreturn]] void spglib_failed(const char* what) {
  throw Error(std::string("spglib ") + what + " failed: " + spg_get_error_message(spg_get_error_code()));
}

struct DatasetDeleter {
  void operator()(SpglibDataset* d) const { spg_free_dataset(d); }
};
using DatasetPtr = std::unique_ptr<SpglibDataset, DatasetDeleter>;

// spglib's answer for a structure near a tolerance boundary depends on the
// order of the atoms. pymatgen hands spglib the sites of a parsed structure
// sorted by electronegativity (stable, CifParser's get_sorted_structure), so
// we do the same: results then agree with pymatgen on the same file.
std::vector<std::size_t> pymatgen_site_order(const Structure& s) {
  std::vector<std::size_t> order(s.size());
  std::iota(order.begin(), order.end(), 0);
  auto key = [&](std::size_t i) {
    const auto& x = element(s.species[i]).x;
    return x ? *x : 1e9;
  };
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    const double ka = key(a), kb = key(b);
    if (ka != kb) return ka < kb;
    return element(s.species[a]).symbol < element(s.species[b]).symbol;
  });
  return order;
}

// The shortest lattice translation, over the LLL basis and its sums and
// differences (within a few per cent of the true shortest for any cell).
double shortest_period(const Lattice& lattice) {
  const Mat3 m = lattice.lll_reduced().matrix();
  double shortest = std::numeric_limits<double>::infinity();
  for (int i = -1; i <= 1; ++i)
    for (int j = -1; j <= 1; ++j)
      for (int k = -1; k <= 1; ++k) {
        if (i == 0 && j == 0 && k == 0) continue;
        Vec3 v{};
        for (int x = 0; x < 3; ++x) v[x] = i * m[0][x] + j * m[1][x] + k * m[2][x];
        shortest = std::min(shortest, std::sqrt(v[0] * v[0] + v[1] * v[1] + v[2] * v[2]));
      }
  return shortest;
}

// spglib 2.0.2 does not fail but crashes (in its space-group search) on some
// cells with a lattice period shorter than its tolerance, where every atom
// overlaps its own images: the collapsed cells an untrained or unlucky
// generative model can produce. Such a cell has no meaningful space group,
// so spglib is not asked.
bool collapsed_cell(const Structure& s, double symprec) { return shortest_period(s.lattice) < symprec; }

[[noreturn]] void collapsed_cell_error(const char* what, double symprec) {
  throw Error(std::string(what) + ": the cell has a lattice period shorter than the tolerance " +
              std::to_string(symprec) + " Å (atoms overlap their own images)");
}

DatasetPtr get_dataset(const Structure& s, double symprec, double angle_tol) {
  s.validate();
  if (collapsed_cell(s, symprec)) return nullptr;
  SpglibCell cell(s);
  DatasetPtr d(spgat_get_dataset(cell.lattice, cell.pos(), cell.types.data(), static_cast<int>(s.size()), symprec,
                                 angle_tol));
  return d;
}

}  // namespace

SpaceGroupInfo analyze_symmetry(const Structure& input, double symprec, double angle_tol) {
  SpaceGroupInfo info;
  const auto order = pymatgen_site_order(input);
  const Structure s = permuted(input, order);
  DatasetPtr d = get_dataset(s, symprec, angle_tol);
  if (!d) {
    // spglib finds no group for badly overlapping atoms; P1 is the honest answer.
    info.number = 1;
    info.found = false;
    info.international = "P1";
    info.hall = "P 1";
    info.operations.push_back({{{{1, 0, 0}, {0, 1, 0}, {0, 0, 1}}}, {0, 0, 0}});
    for (std::size_t i = 0; i < s.size(); ++i) {
      info.equivalent_atoms.push_back(static_cast<int>(i));
      info.wyckoffs.push_back("a");
      info.site_symmetries.push_back("1");
    }
    return info;
  }
  info.number = d->spacegroup_number;
  info.international = d->international_symbol;
  info.hall = d->hall_symbol;
  for (int k = 0; k < d->n_operations; ++k) {
    SymmetryOp op;
    for (int i = 0; i < 3; ++i)
      for (int j = 0; j < 3; ++j) op.rotation[i][j] = d->rotations[k][i][j];
    op.translation = {d->translations[k][0], d->translations[k][1], d->translations[k][2]};
    info.operations.push_back(op);
  }
  // Back to the caller's site order.
  info.equivalent_atoms.resize(d->n_atoms);
  info.wyckoffs.resize(d->n_atoms);
  info.site_symmetries.resize(d->n_atoms);
  for (int k = 0; k < d->n_atoms; ++k) {
    const std::size_t i = order[k];
    info.equivalent_atoms[i] = static_cast<int>(order[d->equivalent_atoms[k]]);
    info.wyckoffs[i] = std::string(1, static_cast<char>('a' + d->wyckoffs[k]));
    info.site_symmetries[i] = d->site_symmetry_symbols[k];
  }
  // Representatives: the lowest original index of each orbit.
  std::vector<int> lowest(d->n_atoms, -1);
  for (int i = 0; i < d->n_atoms; ++i) {
    int& l = lowest[info.equivalent_atoms[i]];
    if (l < 0 || i < l) l = i;
  }
  for (int i = 0; i < d->n_atoms; ++i) info.equivalent_atoms[i] = lowest[info.equivalent_atoms[i]];
  return info;
}

Structure standard_conventional(const Structure& input, double symprec) {
  const Structure s = permuted(input, pymatgen_site_order(input));
  if (collapsed_cell(s, symprec)) collapsed_cell_error("symmetry search", symprec);
  DatasetPtr d = get_dataset(s, symprec, kDefaultAngleTolerance);
  if (!d) spglib_failed("symmetry search");
  return from_columns(d->std_lattice, d->std_positions, d->std_types, d->n_std_atoms);
}

Structure standard_primitive(const Structure& input, double symprec) {
  const Structure s = permuted(input, pymatgen_site_order(input));
  s.validate();
  if (collapsed_cell(s, symprec)) collapsed_cell_error("primitive cell search", symprec);
  SpglibCell cell(s);
  const int n = spgat_standardize_cell(cell.lattice, cell.pos(), cell.types.data(), static_cast<int>(s.size()),
                                       /*to_primitive=*/1, /*no_idealize=*/0, symprec, kDefaultAngleTolerance);
  if (n <= 0) spglib_failed("primitive cell search");
  return from_columns(cell.lattice, cell.pos(), cell.types.data(), n);
}

std::string spacegroup_symbol(int number) {
  // spglib numbers its 530 Hall settings in space-group order; the first
  // setting of each group carries its standard short symbol.
  static const std::vector<std::string> table = [] {
    std::vector<std::string> t(231);
    for (int hall = 530; hall >= 1; --hall) {
      const SpglibSpacegroupType type = spg_get_spacegroup_type(hall);
      if (type.number >= 1 && type.number <= 230) t[type.number] = type.international_short;
    }
    return t;
  }();
  if (number < 1 || number > 230) return "";
  return table[number];
}

int crystal_system_number(int n) {
  // The last space group of each crystal system, triclinic .. cubic.
  constexpr int kLast[] = {2, 15, 74, 142, 167, 194, 230};
  if (n < 1 || n > 230) return 0;
  int system = 1;
  while (n > kLast[system - 1]) ++system;
  return system;
}

std::string crystal_system(int n) {
  static const char* const kNames[] = {"unknown",    "triclinic", "monoclinic", "orthorhombic",
                                       "tetragonal", "trigonal",  "hexagonal",  "cubic"};
  return kNames[crystal_system_number(n)];
}

}  // namespace xtaldiff
