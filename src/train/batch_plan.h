/// @file
/// The order in which one training epoch visits its crystals, cut into
/// batches. `kRandom` is a plain shuffle. `kBySize` puts crystals with the
/// same atom count into the same batch, so that the network runs its dense
/// edge layout ([B, n, n, H], no gathers or scatters, see model/cspnet.h)
/// on nearly every batch of a mixed-size dataset such as MP-20; the
/// leftovers of each size (fewer than a batch) are pooled into mixed
/// batches, and the batch order is shuffled. Both are seeded, so a resumed
/// run sees the same batches as one that never stopped.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace xtaldiff {

enum class Batching { kRandom, kBySize };

/// "random" or "size"; throws a usage error naming `what` otherwise.
Batching parse_batching(const std::string& name, const std::string& what = "--batching");
const char* batching_name(Batching b);

/// Batches of indices into `atom_counts` (each index exactly once), at most
/// `batch` per batch.
std::vector<std::vector<std::size_t>> plan_batches(const std::vector<int64_t>& atom_counts, int batch,
                                                   Batching batching, uint64_t seed);

}  // namespace xtaldiff
