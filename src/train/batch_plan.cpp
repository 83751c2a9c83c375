#include "train/batch_plan.h"

#include <algorithm>
#include <map>
#include <numeric>
#include <random>

#include "util/error.h"

namespace xtaldiff {

Batching parse_batching(const std::string& name, const std::string& what) {
  if (name == "random") return Batching::kRandom;
  if (name == "size") return Batching::kBySize;
  throw Error(what + " '" + name + "': expected 'size' or 'random'", ErrorKind::kUsage);
}

const char* batching_name(Batching b) { return b == Batching::kBySize ? "size" : "random"; }

std::vector<std::vector<std::size_t>> plan_batches(const std::vector<int64_t>& atom_counts, int batch,
                                                   Batching batching, uint64_t seed) {
  if (batch < 1) throw Error("batch size must be positive", ErrorKind::kUsage);
  const std::size_t b = static_cast<std::size_t>(batch);
  std::vector<std::size_t> order(atom_counts.size());
  std::iota(order.begin(), order.end(), 0);
  std::mt19937_64 rng(seed);
  std::shuffle(order.begin(), order.end(), rng);
  std::vector<std::vector<std::size_t>> out;
  auto cut = [&](const std::vector<std::size_t>& v, bool keep_tail, std::vector<std::size_t>* tail) {
    std::size_t i = 0;
    for (; i + b <= v.size(); i += b) out.emplace_back(v.begin() + i, v.begin() + i + b);
    if (i < v.size()) {
      if (keep_tail) out.emplace_back(v.begin() + i, v.end());
      else tail->insert(tail->end(), v.begin() + i, v.end());
    }
  };
  if (batching == Batching::kRandom) {
    cut(order, true, nullptr);
    return out;
  }
  // Shuffled order within each size, so that which crystals share a batch
  // changes every epoch.
  std::map<int64_t, std::vector<std::size_t>> by_size;
  for (std::size_t i : order) by_size[atom_counts[i]].push_back(i);
  std::vector<std::size_t> leftovers;
  for (const auto& [n, members] : by_size) cut(members, false, &leftovers);
  // Leftovers stay sorted by size, so even the mixed batches are nearly
  // uniform (fewer wasted pairs in the gathered layout).
  cut(leftovers, true, nullptr);
  std::shuffle(out.begin(), out.end(), rng);
  return out;
}

}  // namespace xtaldiff
