// Chemical-space enumeration against hand-checked systems.
#include <gtest/gtest.h>

#include <set>

#include "chem/composition.h"
#include "eval/enumerate.h"
#include "eval/validity.h"
#include "util/error.h"

using namespace xtaldiff;

namespace {

std::vector<std::string> formulas(const std::vector<Composition>& comps) {
  std::vector<std::string> out;
  for (const auto& c : comps) out.push_back(c.reduced_formula());
  return out;
}

}  // namespace

TEST(Enumerate, SodiumChlorideUpToTwo) {
  // Coefficients 0..2 over Na, Cl: Na, Cl, NaCl, Na2Cl, NaCl2 after removing
  // Na2 → Na, Cl2 → Cl, Na2Cl2 → NaCl. Na2Cl and NaCl2 are not charge
  // neutral with Na+ and Cl−; single elements are valid (SMACT rule).
  EXPECT_EQ(formulas(enumerate_compositions({11, 17}, {2, true})), (std::vector<std::string>{"Cl2", "Na", "NaCl"}));
  EXPECT_EQ(enumerate_compositions({11, 17}, {2, false}).size(), 5u);
}

TEST(Enumerate, LithiumOxygenUpToThree) {
  // SMACT 2.2.1 gives Li +1 and O −2, −1, +1, +2 (the table's O line). Over
  // coefficients 0..3: Li, O, LiO (Li+ O−; pymatgen names it Li2O2) and
  // Li2O (2 Li+, O2−) are neutral with Li as cation and O as anion; LiO2,
  // Li3O, LiO3, Li2O3 and Li3O2 have no neutral assignment that passes the
  // Pauling test.
  EXPECT_EQ(formulas(enumerate_compositions({3, 8}, {3, true})),
            (std::vector<std::string>{"Li", "O2", "Li2O2", "Li2O"}));
  EXPECT_EQ(enumerate_compositions({3, 8}, {3, false}).size(), 9u);
}

TEST(Enumerate, EveryResultIsValidReducedAndUnique) {
  const auto comps = enumerate_compositions({3, 15, 16, 17}, {4, true});
  std::set<std::string> seen;
  for (const auto& c : comps) {
    EXPECT_TRUE(composition_valid(c)) << c.reduced_formula();
    EXPECT_EQ(c.reduced(), c) << c.formula();
    EXPECT_TRUE(seen.insert(c.formula()).second) << "duplicate " << c.formula();
  }
  // Every valid composition of the brute-force search is listed.
  const auto all = enumerate_compositions({3, 15, 16, 17}, {4, false});
  std::size_t valid = 0;
  for (const auto& c : all) valid += composition_valid(c);
  EXPECT_EQ(valid, comps.size());
  // Ordered by number of elements, then atoms per formula unit.
  for (std::size_t i = 1; i < comps.size(); ++i)
    EXPECT_LE(comps[i - 1].num_elements(), comps[i].num_elements());
}

TEST(Enumerate, BadRequests) {
  EXPECT_THROW(enumerate_compositions({}, {}), Error);
  EXPECT_THROW(enumerate_compositions({3, 3}, {}), Error);
  EXPECT_THROW(enumerate_compositions({3, 8}, {0, true}), Error);
  EXPECT_THROW(enumerate_compositions({1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, {6, true}), Error);
}
