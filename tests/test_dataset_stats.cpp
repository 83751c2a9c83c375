// The typed model card of a training set (model/dataset_stats.h): computed
// from structures, written to and read from the model file's JSON, and read
// from the shipped models as `sample` and `model` read it.
#include <gtest/gtest.h>

#include <cmath>

#include "model/dataset_stats.h"
#include "model/model_file.h"
#include "util/error.h"

using namespace xtaldiff;

namespace {

Structure cubic(double a, std::vector<int> species) {
  Structure s;
  s.lattice = Lattice::from_parameters(a, a, a, 90, 90, 90);
  for (std::size_t i = 0; i < species.size(); ++i) {
    s.species.push_back(species[i]);
    s.frac.push_back({0.1 * i, 0.2 * i, 0.3 * i});
  }
  return s;
}

std::string shipped(const std::string& name) { return std::string(XTALDIFF_DATA_DIR) + "/../models/" + name; }

}  // namespace

TEST(DatasetStats, CountsCrystalsAtomsElementsAndTheLongestVector) {
  const DatasetStats s = DatasetStats::of({cubic(4.0, {38, 22, 8, 8, 8}), cubic(6.5, {11, 17}), cubic(5.0, {11, 8})});
  EXPECT_EQ(s.crystals, 3);
  EXPECT_EQ(s.num_atoms, (std::map<int, long>{{2, 2}, {5, 1}}));
  EXPECT_EQ(s.elements, (std::map<int, long>{{8, 2}, {11, 2}, {17, 1}, {22, 1}, {38, 1}}));  // crystals, not atoms
  EXPECT_DOUBLE_EQ(s.lattice_max_length, 6.5);
  EXPECT_EQ(s.element_list(), (std::vector<int>{8, 11, 17, 22, 38}));
  EXPECT_TRUE(s.saw(17));
  EXPECT_FALSE(s.saw(94));
  EXPECT_EQ(s.min_atoms(), 2);
  EXPECT_EQ(s.max_atoms(), 5);
}

TEST(DatasetStats, LabelsGiveMeanStddevAndPercentiles) {
  std::vector<double> v;
  for (int i = 100; i >= 0; --i) v.push_back(i);
  v.push_back(NAN);  // unlabelled rows are left out
  const LabelStats l = LabelStats::of(v, "x.csv: column 'band_gap'");
  EXPECT_EQ(l.labelled, 101);
  EXPECT_DOUBLE_EQ(l.mean, 50.0);
  EXPECT_NEAR(l.stddev, std::sqrt(850.0), 1e-9);  // population stddev of 0..100
  ASSERT_EQ(l.quantiles.size(), 101u);
  for (int i = 0; i <= 100; ++i) EXPECT_DOUBLE_EQ(l.quantiles[i], i);
  EXPECT_THROW(LabelStats::of({1.0, NAN}, "x.csv: column 'band_gap'"), Error);
}

TEST(DatasetStats, RoundTripsThroughTheModelFileJson) {
  DatasetStats s = DatasetStats::of({cubic(4.0, {38, 22, 8, 8, 8}), cubic(6.5, {11, 17})});
  s.spacegroups = {{221, 1}, {225, 1}};
  s.properties["band_gap"] = LabelStats::of({0.0, 1.0, 3.0}, "band_gap");
  const nlohmann::json j = s.to_json();
  EXPECT_EQ(j["num_atoms"]["5"], 1);
  EXPECT_EQ(j["elements"]["8"], 1);
  EXPECT_EQ(j["spacegroups"]["221"], 1);
  const DatasetStats back = DatasetStats::from_json(j);
  EXPECT_EQ(back.crystals, s.crystals);
  EXPECT_EQ(back.num_atoms, s.num_atoms);
  EXPECT_EQ(back.elements, s.elements);
  EXPECT_EQ(back.spacegroups, s.spacegroups);
  EXPECT_DOUBLE_EQ(back.lattice_max_length, 6.5);
  EXPECT_EQ(back.properties.at("band_gap").quantiles, s.properties.at("band_gap").quantiles);
  EXPECT_EQ(back.to_json(), j);
  // Older files lack keys: they read as empty, not as an error.
  EXPECT_TRUE(DatasetStats::from_metadata(nlohmann::json::object()).empty());
  EXPECT_THROW(DatasetStats::from_json({{"num_atoms", {{"five", 3}}}}), Error);
  EXPECT_THROW(DatasetStats::from_json({{"elements", {{"8", "many"}}}}), Error);
}

TEST(DatasetStats, ReadsTheShippedModels) {
  // perov5-csp: the 11 356 crystals of Perov-5's train split, all of 5 atoms.
  const DatasetStats perov = DatasetStats::from_metadata(load_model_file(shipped("perov5-csp.xtd")).state.metadata);
  EXPECT_EQ(perov.crystals, 11356);
  EXPECT_EQ(perov.num_atoms, (std::map<int, long>{{5, 11356}}));
  EXPECT_EQ(perov.elements.size(), 56u);
  // mp20-gen: 20 232 MP-20 rows (74.6 % of the canonical split), space groups
  // and two conditioning columns with 101 quantiles each.
  const DatasetStats mp = DatasetStats::from_metadata(load_model_file(shipped("mp20-gen.xtd")).state.metadata);
  EXPECT_EQ(mp.crystals, 20232);
  EXPECT_EQ(mp.elements.size(), 88u);
  EXPECT_EQ(mp.spacegroups.size(), 166u);
  EXPECT_EQ(mp.max_atoms(), 20);
  for (const char* column : {"formation_energy_per_atom", "band_gap"}) {
    ASSERT_TRUE(mp.properties.count(column)) << column;
    EXPECT_EQ(mp.properties.at(column).labelled, 17381) << column;
    EXPECT_EQ(mp.properties.at(column).quantiles.size(), 101u) << column;
  }
}
