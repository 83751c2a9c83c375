// Batches of one training epoch: every crystal exactly once, at most a batch
// each, and with --batching size every full batch holds one atom count.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <vector>

#include "train/batch_plan.h"
#include "util/error.h"

using namespace xtaldiff;

namespace {

// MP-20-like: sizes 1..20 with uneven counts.
std::vector<int64_t> mixed_counts() {
  std::vector<int64_t> n;
  for (int64_t size = 1; size <= 20; ++size)
    for (int64_t k = 0; k < 13 * size + 7; ++k) n.push_back(size);
  std::reverse(n.begin(), n.end());
  return n;
}

void expect_partition(const std::vector<std::vector<std::size_t>>& plan, std::size_t n, int batch) {
  std::vector<int> seen(n, 0);
  for (const auto& b : plan) {
    EXPECT_FALSE(b.empty());
    EXPECT_LE(b.size(), static_cast<std::size_t>(batch));
    for (auto i : b) ++seen.at(i);
  }
  for (std::size_t i = 0; i < n; ++i) EXPECT_EQ(seen[i], 1) << "crystal " << i;
}

}  // namespace

TEST(BatchPlan, RandomIsAShuffleCutIntoBatches) {
  const auto counts = mixed_counts();
  const auto plan = plan_batches(counts, 64, Batching::kRandom, 7);
  expect_partition(plan, counts.size(), 64);
  EXPECT_EQ(plan.size(), (counts.size() + 63) / 64);
  for (std::size_t i = 0; i + 1 < plan.size(); ++i) EXPECT_EQ(plan[i].size(), 64u);
}

TEST(BatchPlan, BySizeFillsBatchesWithOneAtomCount) {
  const auto counts = mixed_counts();
  const int batch = 64;
  const auto plan = plan_batches(counts, batch, Batching::kBySize, 7);
  expect_partition(plan, counts.size(), batch);
  // Size n has 13n + 7 crystals: floor((13n + 7) / 64) uniform full batches.
  std::size_t uniform = 0, expected_uniform = 0;
  for (int64_t n = 1; n <= 20; ++n) expected_uniform += (13 * n + 7) / batch;
  for (const auto& b : plan) {
    std::set<int64_t> sizes;
    for (auto i : b) sizes.insert(counts[i]);
    if (sizes.size() == 1 && b.size() == static_cast<std::size_t>(batch)) ++uniform;
  }
  EXPECT_GE(uniform, expected_uniform);
  // Leftovers (< batch of each of 20 sizes) make at most 20 more batches.
  EXPECT_LE(plan.size(), expected_uniform + 20);
}

TEST(BatchPlan, SeededAndDifferentEachEpoch) {
  const auto counts = mixed_counts();
  EXPECT_EQ(plan_batches(counts, 32, Batching::kBySize, 3), plan_batches(counts, 32, Batching::kBySize, 3));
  EXPECT_NE(plan_batches(counts, 32, Batching::kBySize, 3), plan_batches(counts, 32, Batching::kBySize, 4));
}

TEST(BatchPlan, OneSizeDatasetIsCutLikeAShuffle) {
  const std::vector<int64_t> counts(1000, 5);  // Perov-5
  const auto plan = plan_batches(counts, 256, Batching::kBySize, 1);
  expect_partition(plan, counts.size(), 256);
  EXPECT_EQ(plan.size(), 4u);
}

TEST(BatchPlan, NamesParseAndBadOnesAreUsageErrors) {
  EXPECT_EQ(parse_batching("size"), Batching::kBySize);
  EXPECT_EQ(parse_batching("random"), Batching::kRandom);
  EXPECT_STREQ(batching_name(Batching::kBySize), "size");
  try {
    parse_batching("sorted");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kUsage);
    EXPECT_NE(std::string(e.what()).find("'sorted'"), std::string::npos);
  }
  EXPECT_THROW(plan_batches({1, 2}, 0, Batching::kRandom, 0), Error);
}
