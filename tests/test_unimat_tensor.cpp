// UniMat's periodic-table tensor (crystal/unimat_tensor.h): the table's
// layout by hand, the exact round trip of every structure in the shipped
// datasets, and the refusals (too many atoms of one element, an element
// outside the table).
#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>
#include <cstdio>
#include <set>

#include "chem/element.h"
#include "crystal/unimat_tensor.h"
#include "io/formats.h"
#include "util/error.h"

using namespace xtaldiff;

TEST(UniMatTensor, TableLayoutByHand) {
  auto expect_cell = [](const char* symbol, int row, int group) {
    const TableCell c = table_cell(element_z(symbol));
    EXPECT_EQ(c.row, row) << symbol;
    EXPECT_EQ(c.group, group) << symbol;
  };
  expect_cell("H", 0, 0);
  expect_cell("He", 0, 17);
  expect_cell("B", 1, 12);
  expect_cell("Cl", 2, 16);
  expect_cell("Fe", 3, 7);
  expect_cell("Ba", 5, 1);
  expect_cell("La", 7, 2);
  expect_cell("Lu", 7, 16);
  expect_cell("Hf", 5, 3);
  expect_cell("Rn", 5, 17);
  expect_cell("Ra", 6, 1);
  expect_cell("U", 8, 5);
  expect_cell("Lr", 8, 16);
  // Every element has its own cell, and the cell names it back.
  std::set<std::pair<int, int>> cells;
  for (int z = 1; z <= kMaxZ; ++z) {
    const TableCell c = table_cell(z);
    ASSERT_GE(c.row, 0);
    ASSERT_LT(c.row, kTableRows);
    ASSERT_GE(c.group, 0);
    ASSERT_LT(c.group, kTableGroups);
    EXPECT_TRUE(cells.insert({c.row, c.group}).second) << element(z).symbol;
    EXPECT_EQ(element_in_cell(c.row, c.group), z);
  }
  EXPECT_EQ(element_in_cell(5, 2), 0);  // period 6, group 3: the lanthanides are in row 8
  EXPECT_EQ(element_in_cell(0, 1), 0);
}

TEST(UniMatTensor, KnownCrystalSlotsAndNulls) {
  // SrTiO3 (Pm-3m): three O atoms in O's cell, one slot left null.
  const Structure s(Lattice::from_parameters(3.905, 3.905, 3.905, 90, 90, 90), {element_z("Sr"), element_z("O"), element_z("Ti"), element_z("O"),
                                            element_z("O")},
                    {{0, 0, 0}, {0.5, 0.5, 0}, {0.5, 0.5, 0.5}, {0.5, 0, 0.5}, {1.0, 0.5, 0.5}});
  EXPECT_EQ(unimat_slots_needed(s), 3);
  EXPECT_EQ(unimat_slots_of(s.species), (std::vector<int>{0, 0, 0, 1, 2}));
  const UniMatTensor t = to_unimat_tensor(s, 4);
  ASSERT_EQ(t.values.size(), 4u * 9 * 18 * 3);
  const TableCell o = table_cell(8), ti = table_cell(22);
  EXPECT_EQ(t.values[t.index(1, o.row, o.group, 0)], 0.5);
  EXPECT_EQ(t.values[t.index(2, o.row, o.group, 0)], 0.0);  // 1.0 wrapped
  EXPECT_EQ(t.values[t.index(3, o.row, o.group, 0)], kUniMatNull);
  EXPECT_EQ(t.values[t.index(0, ti.row, ti.group, 2)], 0.5);
  EXPECT_EQ(t.values[t.index(1, ti.row, ti.group, 2)], kUniMatNull);
  const std::size_t atoms = std::count_if(t.values.begin(), t.values.end(), [](double v) { return v >= 0; });
  EXPECT_EQ(atoms, 15u);
  // Decoding: O (Z 8), Ti (22), Sr (38), each element's atoms in slot order.
  const Structure back = from_unimat_tensor(t);
  EXPECT_EQ(back.species, (std::vector<int>{8, 8, 8, 22, 38}));
  EXPECT_EQ(back.frac[2], (Vec3{0.0, 0.5, 0.5}));
  // A slot with one coordinate near the null value is empty.
  UniMatTensor noisy = t;
  noisy.values[t.index(0, ti.row, ti.group, 1)] = -0.7;
  EXPECT_EQ(from_unimat_tensor(noisy).size(), 4u);
}

TEST(UniMatTensor, Refusals) {
  const Structure s(Lattice::from_parameters(3.905, 3.905, 3.905, 90, 90, 90), {8, 8, 8}, {{0, 0, 0}, {0.5, 0, 0}, {0, 0.5, 0}});
  try {
    to_unimat_tensor(s, 2, "data.csv record 7");
    FAIL() << "three O atoms in two slots";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("data.csv record 7: 3 atoms of O, more than the 2 slots"), std::string::npos)
        << e.what();
  }
  EXPECT_THROW(table_cell(0), Error);
  EXPECT_THROW(table_cell(kMaxZ + 1), Error);
  Structure heavy = s;
  heavy.species[0] = 104;
  EXPECT_THROW(to_unimat_tensor(heavy, 3), Error);
}

// Crystal → tensor → crystal returns every shipped structure exactly (atoms
// stably sorted by Z, coordinates wrapped), with L = the dataset's largest
// count of one element.
TEST(UniMatTensor, ExactRoundTripOfEveryShippedStructure) {
  const std::string root = std::string(XTALDIFF_DATA_DIR) + "/datasets/";
  std::size_t structures = 0;
  for (const char* set : {"perov_5", "carbon_24", "mp_20", "mpts_52"})
    for (const char* split : {"train", "val", "test"}) {
      const Dataset d = read_structures(root + set + "/" + split + ".csv.gz");
      ASSERT_GT(d.size(), 0u);
      int slots = 1;
      for (const auto& r : d.records) slots = std::max(slots, unimat_slots_needed(r.structure));
      std::printf("%s %s: L = %d\n", set, split, slots);
      for (const auto& r : d.records) {
        const Structure& s = r.structure;
        const Structure back = from_unimat_tensor(to_unimat_tensor(s, slots, r.id));
        std::vector<std::size_t> order(s.size());
        std::iota(order.begin(), order.end(), 0);
        std::stable_sort(order.begin(), order.end(), [&](auto a, auto b) { return s.species[a] < s.species[b]; });
        ASSERT_EQ(back.size(), s.size()) << set << " " << r.id;
        for (std::size_t k = 0; k < order.size(); ++k) {
          ASSERT_EQ(back.species[k], s.species[order[k]]) << set << " " << r.id;
          for (int a = 0; a < 3; ++a) ASSERT_EQ(back.frac[k][a], wrap01(s.frac[order[k]][a])) << set << " " << r.id;
        }
        ASSERT_EQ(back.lattice.matrix(), s.lattice.matrix());
        ++structures;
      }
    }
  EXPECT_EQ(structures, 93253u);  // every row of the four benchmarks
}
