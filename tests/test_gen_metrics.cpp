// Generation metrics: the Wasserstein distance against scipy's values, and
// the metric suite on sets whose answers are known.
#include <gtest/gtest.h>

#include "eval/gen_metrics.h"
#include "io/dataset.h"

using namespace xtaldiff;

TEST(Wasserstein, MatchesScipy) {
  // scipy.stats.wasserstein_distance values.
  EXPECT_NEAR(wasserstein_1d({0, 1, 3}, {5, 6, 8}), 5.0, 1e-12);
  EXPECT_NEAR(wasserstein_1d({0, 1}, {0, 1}), 0.0, 1e-12);
  EXPECT_NEAR(wasserstein_1d({3.4, 3.9, 7.5, 7.8}, {4.5, 1.4}), 2.7, 1e-12);
}

TEST(GenMetrics, TestSplitAgainstItself) {
  const Dataset d = read_cdvae_csv(std::string(XTALDIFF_DATA_DIR) + "/datasets/perov_5/test.csv.gz");
  std::vector<Structure> s;
  for (std::size_t i = 0; i < 300; ++i) s.push_back(d.records[i].structure);
  std::vector<Structure> gen = s;
  gen.push_back(s[0]);          // a duplicate: not unique
  gen.push_back(Structure());   // an unreadable sample: invalid, no fingerprint
  GenEvalOptions o;
  o.cutoffs = CoverageCutoffs::for_dataset("perov_5");
  o.n_property = 10000;  // all valid samples
  const GenResult r = evaluate_generation(gen, s, &s, o);
  EXPECT_EQ(r.n, 302u);
  EXPECT_DOUBLE_EQ(r.cov_recall, 1.0);
  EXPECT_NEAR(r.cov_precision, 301.0 / 302.0, 1e-12);
  EXPECT_NEAR(r.uniqueness, 300.0 / 302.0, 1e-12);
  EXPECT_NEAR(*r.novelty, 0.0, 1e-12);  // every sample is in "training"
  EXPECT_LT(r.struct_validity, 1.0);    // the empty one
  EXPECT_LT(r.wdist_density, 0.02);     // same distribution up to one duplicate
  EXPECT_FALSE(r.stability.has_value());
}

TEST(GenMetrics, StabilityAndSun) {
  const Dataset d = read_cdvae_csv(std::string(XTALDIFF_DATA_DIR) + "/datasets/perov_5/test.csv.gz");
  std::vector<Structure> gen{d.records[0].structure, d.records[1].structure, d.records[1].structure,
                             d.records[2].structure};
  const std::vector<Structure> train{d.records[2].structure};
  GenEvalOptions o;
  o.e_above_hull = {0.05, 0.0, 0.0, 0.02};
  o.e_above_hull[0] = 0.5;  // unstable
  const GenResult r = evaluate_generation(gen, gen, &train, o);
  EXPECT_DOUBLE_EQ(*r.stability, 0.75);
  // stable ∧ unique ∧ novel: only sample 1 (sample 2 repeats it, 3 is in training, 0 unstable).
  EXPECT_DOUBLE_EQ(*r.sun, 0.25);
}

// Validity, uniqueness and novelty were once kept in std::vector<bool>
// written by parallel workers: neighbouring flags share a word, so
// concurrent writes lost updates and the counts changed from run to run
// (seen once as a W(density) of 0.046 instead of 0.001 on the set above).
// Many threads, several runs: every count equals the one-thread answer.
TEST(GenMetrics, ParallelCountsEqualTheSerialOnes) {
  const Dataset d = read_cdvae_csv(std::string(XTALDIFF_DATA_DIR) + "/datasets/perov_5/test.csv.gz");
  std::vector<Structure> s;
  for (std::size_t i = 0; i < 200; ++i) s.push_back(d.records[i].structure);
  GenEvalOptions o;
  o.cutoffs = CoverageCutoffs::for_dataset("perov_5");
  o.threads = 1;
  const GenResult serial = evaluate_generation(s, s, &s, o);
  o.threads = 8;
  for (int run = 0; run < 4; ++run) {
    const GenResult r = evaluate_generation(s, s, &s, o);
    EXPECT_EQ(r.validity, serial.validity);
    EXPECT_EQ(r.struct_validity, serial.struct_validity);
    EXPECT_EQ(r.comp_validity, serial.comp_validity);
    EXPECT_EQ(r.uniqueness, serial.uniqueness);
    EXPECT_EQ(*r.novelty, *serial.novelty);
    EXPECT_EQ(r.wdist_density, serial.wdist_density);
  }
}
