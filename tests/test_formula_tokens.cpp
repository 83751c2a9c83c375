// Formula tokens of the composition model (chem/formula_tokens.h): the
// sequence of a known formula by hand, the decoding rules, and the round
// trip of every cell composition in the shipped datasets.
#include <gtest/gtest.h>

#include <set>
#include <string>

#include "chem/formula_tokens.h"
#include "io/formats.h"
#include "util/error.h"

using namespace xtaldiff;

TEST(FormulaTokens, KnownSequenceByHand) {
  const FormulaVocabulary v(5, 20);
  EXPECT_EQ(v.size(), 1 + kMaxZ + 20);
  EXPECT_EQ(v.length(), 10);
  // Li6 P2 S8 Cl: Li (3), P (15), S (16), Cl (17) in order of Z, each with its count.
  const std::vector<int> expected = {3, kMaxZ + 6, 15, kMaxZ + 2, 16, kMaxZ + 8, 17, kMaxZ + 1, 0, 0};
  EXPECT_EQ(v.encode(Composition::parse("Cl Li6 P2 S8")), expected);
  std::string text;
  for (int t : expected) text += v.token_text(t) + " ";
  EXPECT_EQ(text, "Li 6 P 2 S 8 Cl 1 PAD PAD ");
}

TEST(FormulaTokens, DecodingRules) {
  const FormulaVocabulary v(3, 10);
  const int o = 8, li = 3, c2 = kMaxZ + 2, c1 = kMaxZ + 1;
  EXPECT_EQ(v.decode({li, c2, o, c1, 0, 0})->reduced_formula(), "Li2O");
  // The same pairs in another order or with a PAD pair between them name the same formula.
  EXPECT_EQ(v.decode({o, c1, li, c2, 0, 0})->reduced_formula(), "Li2O");
  EXPECT_EQ(v.decode({li, c2, 0, 0, o, c1})->reduced_formula(), "Li2O");
  EXPECT_FALSE(v.decode({li, c2, li, c1, 0, 0}));  // an element twice
  EXPECT_FALSE(v.decode({li, 0, o, c1, 0, 0}));    // a pair cut in half
  EXPECT_FALSE(v.decode({0, c2, o, c1, 0, 0}));
  EXPECT_FALSE(v.decode({c2, li, o, c1, 0, 0}));   // a count in an element slot
  EXPECT_FALSE(v.decode({0, 0, 0, 0, 0, 0}));      // nothing
  EXPECT_FALSE(v.decode({li, c2}));                // wrong length
  EXPECT_THROW(v.encode(Composition::parse("Li11O")), Error);        // count above 10
  EXPECT_THROW(v.encode(Composition::parse("LiNaKO")), Error);       // 4 elements
  EXPECT_THROW(v.encode(Composition::parse("Li0.5O")), Error);       // not integer
}

// Every cell composition of every shipped dataset encodes (in a vocabulary
// as large as the data needs) and decodes back to itself, and distinct
// compositions get distinct sequences.
TEST(FormulaTokens, RoundTripOfEveryShippedDatasetFormula) {
  const std::string root = std::string(XTALDIFF_DATA_DIR) + "/datasets/";
  std::size_t formulas = 0;
  for (const char* set : {"perov_5", "carbon_24", "mp_20", "mpts_52"})
    for (const char* split : {"train", "val", "test"}) {
      const Dataset d = read_structures(root + set + "/" + split + ".csv.gz");
      ASSERT_GT(d.size(), 0u) << set << " " << split;
      std::vector<Composition> comps;
      int max_elements = 1, max_count = 1;
      for (const auto& r : d.records) {
        comps.push_back(r.structure.composition());
        max_elements = std::max(max_elements, comps.back().num_elements());
        for (const auto& [z, n] : comps.back().amounts()) max_count = std::max(max_count, static_cast<int>(n));
      }
      const FormulaVocabulary v(max_elements, max_count);
      std::set<std::vector<int>> sequences;
      std::set<std::string> names;
      for (const auto& c : comps) {
        const auto tokens = v.encode(c);
        const auto back = v.decode(tokens);
        ASSERT_TRUE(back) << c.formula();
        ASSERT_EQ(*back, c) << c.formula();
        sequences.insert(tokens);
        names.insert(c.formula());
        ++formulas;
      }
      EXPECT_EQ(sequences.size(), names.size()) << set << " " << split;
    }
  EXPECT_EQ(formulas, 93253u);  // every row of the twelve split files
}
