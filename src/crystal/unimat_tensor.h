/// @file
/// UniMat's periodic-table representation of a crystal (Yang et al.,
/// "Scalable Diffusion for Materials Generation", ICLR 2024): a tensor of
/// shape (L slots × 9 rows × 18 groups × 3) in which the cell of each
/// element holds, slot by slot, the fractional coordinates of that
/// element's atoms, and every empty slot holds the null value −1 (outside
/// the coordinate range [0, 1)). The lattice travels beside it.
///
/// The table: rows 1-7 are the periods, groups 1-18 the columns; the
/// lanthanides La-Lu fill row 8 and the actinides Ac-Lr row 9, groups
/// 3-17 (so period 6 and 7 have no element in group 3). Every element
/// xtaldiff knows (Z 1..103) has exactly one cell.
///
/// Atoms of one element fill its slots in the order they appear in the
/// structure; decoding lists atoms in order of Z, then slot, so a round
/// trip returns the structure with its atoms stably sorted by Z and its
/// coordinates wrapped into [0, 1).
#pragma once

#include <string>
#include <vector>

#include "crystal/structure.h"

namespace xtaldiff {

constexpr int kTableRows = 9;
constexpr int kTableGroups = 18;
/// The value of an empty slot's coordinates.
constexpr double kUniMatNull = -1.0;

struct TableCell {
  int row = 0;    ///< 0-based: 0..6 periods 1-7, 7 lanthanides, 8 actinides
  int group = 0;  ///< 0-based: group 1..18 minus one
};

/// The cell of element Z; throws Error for Z outside 1..kMaxZ.
TableCell table_cell(int z);
/// The element in a cell, 0 for an empty cell.
int element_in_cell(int row, int group);

/// For each atom, its slot in its element's cell: how many atoms of the
/// same element come before it.
std::vector<int> unimat_slots_of(const std::vector<int>& species);
/// The slots a structure needs: the largest count of one element in it.
int unimat_slots_needed(const Structure& s);

struct UniMatTensor {
  int slots = 0;
  std::vector<double> values;  ///< [slots][kTableRows][kTableGroups][3], row-major
  Lattice lattice;
  std::size_t index(int slot, int row, int group, int axis) const {
    return ((static_cast<std::size_t>(slot) * kTableRows + row) * kTableGroups + group) * 3 + axis;
  }
};

/// The tensor of `s` with `slots` slots per element; throws Error naming
/// `what` (a file and record) and the element when an element has more
/// atoms than slots.
UniMatTensor to_unimat_tensor(const Structure& s, int slots, const std::string& what = "structure");
/// The crystal a tensor describes. A slot is an atom when none of its
/// coordinates lies below −0.5 (halfway to the null value: sampled tensors
/// snap near-null slots to empty); its coordinates are wrapped into [0, 1).
Structure from_unimat_tensor(const UniMatTensor& t);

}  // namespace xtaldiff
