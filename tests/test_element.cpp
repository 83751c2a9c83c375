#include <gtest/gtest.h>

#include <algorithm>

#include "chem/element.h"
#include "util/error.h"

using namespace xtaldiff;

TEST(Element, CoversHydrogenToLawrencium) {
  EXPECT_EQ(element(1).symbol, "H");
  EXPECT_EQ(element(26).symbol, "Fe");
  EXPECT_EQ(element(26).name, "Iron");
  EXPECT_EQ(element(103).symbol, "Lr");
  EXPECT_THROW(element(0), Error);
  EXPECT_THROW(element(104), Error);
}

TEST(Element, MassesArePymatgens) {
  EXPECT_DOUBLE_EQ(element(1).mass, 1.00794);
  EXPECT_NEAR(element(8).mass, 15.9994, 1e-9);
  EXPECT_NEAR(element(56).mass, 137.327, 1e-9);
}

TEST(Element, SymbolLookupIsCaseSensitive) {
  EXPECT_EQ(element_z("Co"), 27);
  EXPECT_FALSE(find_element("CO").has_value());
  EXPECT_FALSE(find_element("Xx").has_value());
  EXPECT_THROW(element_z("Xx"), Error);
}

TEST(Element, SmactElectronegativitiesAreVersion221) {
  // SMACT 2.2.1 ships Zr with el_neg 0.33 (a known quirk that published
  // validity numbers depend on); O is 3.44; noble gases He has none.
  EXPECT_DOUBLE_EQ(*element(40).pauling, 0.33);
  EXPECT_DOUBLE_EQ(*element(8).pauling, 3.44);
  EXPECT_FALSE(element(2).pauling.has_value());
}

TEST(Element, Smact14OxidationStates) {
  const auto& o = element(8).oxidation_states;
  EXPECT_EQ(o, std::vector<int>({-2, -1, 1, 2}));  // as SMACT 2.2.1 lists them
  const auto& ti = element(22).oxidation_states;
  EXPECT_NE(std::find(ti.begin(), ti.end(), 4), ti.end());
  EXPECT_TRUE(element(2).oxidation_states.empty());  // He
}

TEST(Element, MetalFlags) {
  EXPECT_TRUE(element(26).is_metal);
  EXPECT_FALSE(element(8).is_metal);
  EXPECT_TRUE(element(3).smact_metal);   // Li is in SMACT's metals list
  EXPECT_FALSE(element(6).smact_metal);  // C is not
}

TEST(Element, CovalentRadiusCordero) {
  EXPECT_DOUBLE_EQ(*element(6).covalent_radius, 0.76);
  EXPECT_DOUBLE_EQ(*element(1).covalent_radius, 0.31);
}
