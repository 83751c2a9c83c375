#include "crystal/unimat_tensor.h"

#include <algorithm>
#include <map>
#include <numeric>

#include "chem/element.h"
#include "util/error.h"

namespace xtaldiff {

TableCell table_cell(int z) {
  if (z < 1 || z > kMaxZ)
    throw Error("element Z=" + std::to_string(z) + " has no cell in the periodic-table grid (Z 1.." +
                std::to_string(kMaxZ) + ")");
  // Groups are 1-based below and stored 0-based.
  auto cell = [](int period, int group) { return TableCell{period - 1, group - 1}; };
  if (z == 1) return cell(1, 1);
  if (z == 2) return cell(1, 18);
  if (z <= 10) return z <= 4 ? cell(2, z - 2) : cell(2, z + 8);
  if (z <= 18) return z <= 12 ? cell(3, z - 10) : cell(3, z);
  if (z <= 36) return cell(4, z - 18);
  if (z <= 54) return cell(5, z - 36);
  if (z <= 56) return cell(6, z - 54);
  if (z <= 71) return cell(8, z - 57 + 3);  // La-Lu: row 8, groups 3-17
  if (z <= 86) return cell(6, z - 68);
  if (z <= 88) return cell(7, z - 86);
  return cell(9, z - 89 + 3);  // Ac-Lr: row 9, groups 3-17
}

int element_in_cell(int row, int group) {
  static const std::vector<int> grid = [] {
    std::vector<int> g(kTableRows * kTableGroups, 0);
    for (int z = 1; z <= kMaxZ; ++z) {
      const TableCell c = table_cell(z);
      g[c.row * kTableGroups + c.group] = z;
    }
    return g;
  }();
  if (row < 0 || row >= kTableRows || group < 0 || group >= kTableGroups) return 0;
  return grid[row * kTableGroups + group];
}

std::vector<int> unimat_slots_of(const std::vector<int>& species) {
  std::map<int, int> seen;
  std::vector<int> slots(species.size());
  for (std::size_t i = 0; i < species.size(); ++i) slots[i] = seen[species[i]]++;
  return slots;
}

int unimat_slots_needed(const Structure& s) {
  std::map<int, int> count;
  int most = 0;
  for (int z : s.species) most = std::max(most, ++count[z]);
  return most;
}

UniMatTensor to_unimat_tensor(const Structure& s, int slots, const std::string& what) {
  if (slots < 1) throw Error("a UniMat tensor needs at least one slot per element");
  UniMatTensor t;
  t.slots = slots;
  t.lattice = s.lattice;
  t.values.assign(static_cast<std::size_t>(slots) * kTableRows * kTableGroups * 3, kUniMatNull);
  const std::vector<int> slot = unimat_slots_of(s.species);
  for (std::size_t i = 0; i < s.size(); ++i) {
    const TableCell c = table_cell(s.species[i]);
    if (slot[i] >= slots)
      throw Error(what + ": " + std::to_string(unimat_slots_needed(s)) + " atoms of " + element(s.species[i]).symbol +
                  ", more than the " + std::to_string(slots) + " slots per element of this UniMat layout");
    for (int a = 0; a < 3; ++a) t.values[t.index(slot[i], c.row, c.group, a)] = wrap01(s.frac[i][a]);
  }
  return t;
}

Structure from_unimat_tensor(const UniMatTensor& t) {
  if (t.values.size() != static_cast<std::size_t>(t.slots) * kTableRows * kTableGroups * 3)
    throw Error("UniMat tensor: " + std::to_string(t.values.size()) + " values for " + std::to_string(t.slots) +
                " slots");
  Structure s;
  s.lattice = t.lattice;
  for (int z = 1; z <= kMaxZ; ++z) {
    const TableCell c = table_cell(z);
    for (int slot = 0; slot < t.slots; ++slot) {
      Vec3 x;
      bool atom = true;
      for (int a = 0; a < 3; ++a) {
        x[a] = t.values[t.index(slot, c.row, c.group, a)];
        atom = atom && x[a] >= -0.5;
      }
      if (!atom) continue;
      for (int a = 0; a < 3; ++a) x[a] = wrap01(x[a]);
      s.species.push_back(z);
      s.frac.push_back(x);
    }
  }
  return s;
}

}  // namespace xtaldiff
