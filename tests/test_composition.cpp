#include <gtest/gtest.h>

#include "chem/composition.h"
#include "chem/element.h"
#include "util/error.h"

using namespace xtaldiff;

TEST(Composition, ParsesPlainFormula) {
  const Composition c = Composition::parse("BaTiO3");
  EXPECT_DOUBLE_EQ(c.amount(56), 1);
  EXPECT_DOUBLE_EQ(c.amount(22), 1);
  EXPECT_DOUBLE_EQ(c.amount(8), 3);
  EXPECT_DOUBLE_EQ(c.num_atoms(), 5);
  EXPECT_EQ(c.reduced_formula(), "BaTiO3");
}

TEST(Composition, FormulaUnitsAndReduction) {
  const Composition c = Composition::parse("Ba2Ti2O6");
  EXPECT_DOUBLE_EQ(c.formula_units(), 2);
  EXPECT_EQ(c.reduced_formula(), "BaTiO3");
  EXPECT_EQ(c.formula(), "Ba2 Ti2 O6");
  EXPECT_EQ(c.reduced(), Composition::parse("BaTiO3"));
}

TEST(Composition, SpacesBetweenElements) {
  EXPECT_EQ(Composition::parse("Ba Ti O3"), Composition::parse("BaTiO3"));
  EXPECT_EQ(Composition::parse("Ba1 Ti1 O3"), Composition::parse("BaTiO3"));
}

TEST(Composition, Parentheses) {
  const Composition c = Composition::parse("Ca3(PO4)2");
  EXPECT_DOUBLE_EQ(c.amount(20), 3);
  EXPECT_DOUBLE_EQ(c.amount(15), 2);
  EXPECT_DOUBLE_EQ(c.amount(8), 8);
  // pymatgen writes the phosphate as a bracketed polyanion.
  EXPECT_EQ(c.reduced_formula(), "Ca3(PO4)2");
  EXPECT_EQ(Composition::parse("Mg(OH)2").amount(1), 2);
}

TEST(Composition, ChemicalSystem) {
  EXPECT_TRUE(Composition::is_chemical_system("Li-P-S-Cl"));
  const Composition c = Composition::parse("Li-P-S-Cl");
  EXPECT_EQ(c.num_elements(), 4);
  EXPECT_EQ(c.chemical_system(), "Cl-Li-P-S");
  EXPECT_EQ(Composition::parse("BaTiO3").chemical_system(), "Ba-O-Ti");
  EXPECT_THROW(Composition::parse("Li--P"), Error);
  EXPECT_THROW(Composition::parse("Li-Xx"), Error);
}

TEST(Composition, PymatgenSpecialNames) {
  EXPECT_EQ(Composition::parse("O4").reduced_formula(), "O2");
  EXPECT_EQ(Composition::parse("H2O2").reduced_formula(), "H2O2");
  EXPECT_EQ(Composition::parse("C24").reduced_formula(), "C");
  EXPECT_EQ(Composition::parse("Li2O2").reduced_formula(), "Li2O2");  // peroxide
  EXPECT_EQ(Composition::parse("KO2").reduced_formula(), "KO2");
}

TEST(Composition, ElectronegativityOrder) {
  // pymatgen orders by X: Na 0.93 < Cl 3.16.
  EXPECT_EQ(Composition::parse("ClNa").reduced_formula(), "NaCl");
  EXPECT_EQ(Composition::parse("O3TiSr").formula(), "Sr1 Ti1 O3");
}

TEST(Composition, HillFormula) {
  EXPECT_EQ(Composition::parse("C2H6O").hill_formula(), "C2 H6 O");
  EXPECT_EQ(Composition::parse("BaTiO3").hill_formula(), "Ba O3 Ti");
}

TEST(Composition, Fractions) {
  const auto f = Composition::parse("SrTiO3").fractions();
  EXPECT_DOUBLE_EQ(f.at(8), 0.6);
  EXPECT_DOUBLE_EQ(f.at(38), 0.2);
}

TEST(Composition, NonIntegerAmounts) {
  const Composition c = Composition::parse("Li0.5CoO2");
  EXPECT_DOUBLE_EQ(c.amount(3), 0.5);
  EXPECT_FALSE(c.is_integer());
  EXPECT_EQ(c.reduced_formula(), "Li0.5Co1O2");  // pymatgen keeps the 1s when amounts are not integers
}

TEST(Composition, MalformedFormulasAreErrors) {
  for (const char* bad : {"", "   ", "Xx2", "ba", "Ba(", "Ba)", "Ba2Ti(O3", "()", "Ba$", "3Ba", "Ba0", "Ba-"}) {
    EXPECT_THROW(Composition::parse(bad), Error) << bad;
  }
  try {
    Composition::parse("BaTiQ3");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("unknown element 'Q'"), std::string::npos) << e.what();
  }
}
